#!/bin/sh
# test_twin_digits_conv_layers.sh: examples/digits_conv_layers trains like its PyTorch twin (tests/twins/run_twin.sh).
# usage: test_twin_digits_conv_layers.sh GRADC SOURCE_DIR PYTHON
exec sh "$2/tests/twins/run_twin.sh" digits_conv_layers "$1" "$2" "$3"
