#!/bin/sh
# test_twin_digits_distill_kl.sh: examples/digits_distill_kl trains like its PyTorch twin (tests/twins/run_twin.sh).
# usage: test_twin_digits_distill_kl.sh GRADC SOURCE_DIR PYTHON
exec sh "$2/tests/twins/run_twin.sh" digits_distill_kl "$1" "$2" "$3"
