#!/bin/sh
# test_twin_digits_cnn.sh: examples/digits_cnn trains like its PyTorch twin (tests/twins/run_twin.sh).
# usage: test_twin_digits_cnn.sh GRADC SOURCE_DIR PYTHON
exec sh "$2/tests/twins/run_twin.sh" digits_cnn "$1" "$2" "$3"
