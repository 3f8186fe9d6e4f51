#!/bin/sh
# test_twin_breast_cancer_bce.sh: examples/breast_cancer_bce trains like its PyTorch twin (tests/twins/run_twin.sh).
# usage: test_twin_breast_cancer_bce.sh GRADC SOURCE_DIR PYTHON
exec sh "$2/tests/twins/run_twin.sh" breast_cancer_bce "$1" "$2" "$3"
