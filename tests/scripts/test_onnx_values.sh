#!/bin/sh
# test_onnx_values.sh: values the ONNX importer computes, against numpy (tests/onnx/onnx_values.py):
# Dropout's mask output in training and when dropout is off, Gather with negative indices (constant,
# a graph input, computed, folded at import), and float attributes read as the exporter wrote them
# (BatchNormalization's eps and momentum in float64). Skips without ONNX support or python's onnx.
# usage: test_onnx_values.sh GRADC SOURCE_DIR PYTHON
gradc=$1
src=$2
py=$3
if [ $# -ne 3 ] || [ ! -x "$gradc" ]; then
    echo "usage: $0 GRADC SOURCE_DIR PYTHON" >&2
    exit 2
fi
if "$gradc" import /dev/null 2>&1 | grep -q "built without protobuf-c"; then
    echo "skip: gradc was built without ONNX support"
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gc_onnx_values.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
"$py" -B "$src/tests/onnx/onnx_values.py" "$gradc" "$tmp"
