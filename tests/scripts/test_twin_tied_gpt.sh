#!/bin/sh
# test_twin_tied_gpt.sh: examples/tied_gpt (a head tied to the embedding) trains like its PyTorch
# twin with head.weight = wte.weight (tests/twins/run_twin.sh).
# usage: test_twin_tied_gpt.sh GRADC SOURCE_DIR PYTHON
exec sh "$2/tests/twins/run_twin.sh" tied_gpt "$1" "$2" "$3"
