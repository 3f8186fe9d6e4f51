"""digits_cce.py: the PyTorch twin of examples/digits_cce/model.gm (see twin.py).

30 steps at batch 64 over 1440 images (22 steps an epoch, 32 images dropped). --set warmup=5
total_steps=30 fits the whole cosine schedule (warmup, decay to min_lr) into the run; AdamW with
a no_decay group for the biases, label smoothing and gradient clipping as in the model file.
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
        self.fc1 = nn.Linear(c["pixels"], c["hidden"])
        self.fc2 = nn.Linear(c["hidden"], c["classes"])

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def main():
    t = twin.Twin("digits_cce", steps=30, sets={"warmup": 5, "total_steps": 30})
    c = t.consts
    torch.manual_seed(0)
    model = Net(c)
    t.run(model, {"x": "data/train_x.npy", "y": "data/train_y.npy"},
          lambda m, b: F.cross_entropy(m(b["x"]), b["y"], label_smoothing=0.05),
          dict(optimizer="adamw", lr=0.01, weight_decay=0.01, schedule="cosine", warmup=c["warmup"],
               total=c["total_steps"], min_lr=1e-4, clip=1.0, no_decay=["*bias"]))


if __name__ == "__main__":
    main()
