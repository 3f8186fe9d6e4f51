#!/bin/sh
# test_twin_digits_cce.sh: examples/digits_cce trains like its PyTorch twin (tests/twins/run_twin.sh).
# usage: test_twin_digits_cce.sh GRADC SOURCE_DIR PYTHON
exec sh "$2/tests/twins/run_twin.sh" digits_cce "$1" "$2" "$3"
