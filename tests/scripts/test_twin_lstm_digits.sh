#!/bin/sh
# test_twin_lstm_digits.sh: examples/lstm_digits trains like its PyTorch twin (tests/twins/run_twin.sh).
# usage: test_twin_lstm_digits.sh GRADC SOURCE_DIR PYTHON
exec sh "$2/tests/twins/run_twin.sh" lstm_digits "$1" "$2" "$3"
