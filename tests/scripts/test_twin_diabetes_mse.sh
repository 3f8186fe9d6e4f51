#!/bin/sh
# test_twin_diabetes_mse.sh: examples/diabetes_mse trains like its PyTorch twin (tests/twins/run_twin.sh).
# usage: test_twin_diabetes_mse.sh GRADC SOURCE_DIR PYTHON
exec sh "$2/tests/twins/run_twin.sh" diabetes_mse "$1" "$2" "$3"
