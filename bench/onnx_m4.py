"""onnx_m4.py: bench/m4.gm's network exported to ONNX, to time the `onnx` layer against the same
model written in .gm (docs/onnx.md, "Speed").

usage: onnx_m4.py OUT_DIR    writes OUT_DIR/m4.onnx (torchvision's resnet18(num_classes=10) with the
                             CIFAR stem, training-mode export, batch 32) and OUT_DIR/m4_onnx.gm, whose
                             train block is m4.gm's. Then, e.g.:
    gradc train OUT_DIR/m4_onnx.gm --steps 10 --verbose     and     gradc train bench/m4.gm --steps 10
"""
import os
import sys

import torch
import torchvision
from torch import nn

out = sys.argv[1]
torch.manual_seed(0)
model = torchvision.models.resnet18(num_classes=10)
model.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
model.maxpool = nn.Identity()
torch.onnx.export(model, torch.randn(32, 3, 32, 32), os.path.join(out, "m4.onnx"),
                  training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False, opset_version=13)
with open(os.path.join(out, "m4_onnx.gm"), "w") as f:
    f.write("input x: f32[32, 3, 32, 32]\ninput y: i32[32]\nlogits = onnx(\"m4.onnx\", x)\n"
            "loss = cross_entropy(logits, y)\noutput accuracy = accuracy(logits, y)\n"
            "train {\n    optimizer = sgd(lr=0.1, momentum=0.9, weight_decay=5e-4)\n    seed = 0\n}\n")
