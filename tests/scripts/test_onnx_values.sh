#!/bin/sh
# test_onnx_values.sh: values the ONNX importer computes, against numpy (tests/onnx/onnx_values.py):
# Dropout's mask output in training and when dropout is off, Gather with negative indices (constant,
# a graph input, computed, folded at import), and float attributes read as the exporter wrote them
# (BatchNormalization's eps and momentum in float64). Skips without ONNX support or python's onnx.
# usage: test_onnx_values.sh GRADC SOURCE_DIR PYTHON
. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
skip_without_onnx
make_tmp
"$py" -B "$src/tests/onnx/onnx_values.py" "$gradc" "$tmp"
