"""breast_cancer_bce.py: the PyTorch twin of examples/breast_cancer_bce/model.gm (see twin.py).

25 steps at batch 32 over 455 rows (14 steps an epoch, 7 rows dropped): one epoch boundary.
Adam with an L2 penalty (weight_decay through the gradient).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import twin  # noqa: E402


class Net(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Linear(c["features"], c["hidden"])
        self.out = nn.Linear(c["hidden"], 1)

    def forward(self, x):
        return torch.sigmoid(self.out(torch.tanh(self.fc1(x))))


def main():
    t = twin.Twin("breast_cancer_bce", steps=25)
    torch.manual_seed(0)
    model = Net(t.consts)
    t.run(model, {"x": "data/train_x.npy", "y": "data/train_y.npy"},
          lambda m, b: F.binary_cross_entropy(m(b["x"]), b["y"]),
          dict(optimizer="adam", lr=0.01, weight_decay=1e-4))


if __name__ == "__main__":
    main()
