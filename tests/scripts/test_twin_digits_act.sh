#!/bin/sh
# test_twin_digits_act.sh: examples/digits_act trains like its PyTorch twin (tests/twins/run_twin.sh).
# usage: test_twin_digits_act.sh GRADC SOURCE_DIR PYTHON
exec sh "$2/tests/twins/run_twin.sh" digits_act "$1" "$2" "$3"
