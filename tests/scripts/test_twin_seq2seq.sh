#!/bin/sh
# test_twin_seq2seq.sh: examples/seq2seq trains like its PyTorch twin (tests/twins/run_twin.sh).
# usage: test_twin_seq2seq.sh GRADC SOURCE_DIR PYTHON
exec sh "$2/tests/twins/run_twin.sh" seq2seq "$1" "$2" "$3"
