#!/bin/sh
# test_twin_transformer_classifier.sh: examples/transformer_classifier trains like its PyTorch twin (tests/twins/run_twin.sh).
# usage: test_twin_transformer_classifier.sh GRADC SOURCE_DIR PYTHON
exec sh "$2/tests/twins/run_twin.sh" transformer_classifier "$1" "$2" "$3"
