#!/bin/sh
# test_twin_onnx_vision.sh: torchvision's resnet18(num_classes=10) and mobilenet_v2(num_classes=10)
# at CIFAR size (8 x 3 x 32 x 32, training-mode batch norm), exported by torch.onnx.export, train in
# gradc like the modules (test_twin_onnx.sh does the work; skips without torchvision).
# usage: test_twin_onnx_vision.sh GRADC SOURCE_DIR PYTHON
exec sh "$(dirname "$0")/test_twin_onnx.sh" "$1" "$2" "$3" resnet18 mobilenet_v2
