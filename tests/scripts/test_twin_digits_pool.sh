#!/bin/sh
# test_twin_digits_pool.sh: examples/digits_pool trains like its PyTorch twin (tests/twins/run_twin.sh).
# usage: test_twin_digits_pool.sh GRADC SOURCE_DIR PYTHON
exec sh "$2/tests/twins/run_twin.sh" digits_pool "$1" "$2" "$3"
