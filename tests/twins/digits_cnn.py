"""digits_cnn.py: the PyTorch twin of examples/digits_cnn/model.gm (see twin.py).

30 steps at batch 64 over 1440 images (22 steps an epoch) with --set warmup=5 total_steps=30, so
the whole cosine schedule runs. Two 3x3 convolutions without bias, each followed by batch norm in
training mode (batch statistics; the checkpoint must hold the running statistics and counts after
30 steps, as torch's buffers), a ReLU and a 2x2 max-pool, then a linear head; AdamW with a
no_decay group for the biases and the batch norms. Net is also what
tests/scripts/test_export.sh loads gradc's exported weights into.
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
        ch = c["channels"]
        self.side = c["side"]
        self.conv1 = nn.Conv2d(1, ch, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, 2 * ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * ch)
        self.fc = nn.Linear(2 * ch * (self.side // 4) ** 2, c["classes"])

    def forward(self, x):
        h = x.reshape(x.shape[0], 1, self.side, self.side)
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(h))), 2)
        h = F.max_pool2d(F.relu(self.bn2(self.conv2(h))), 2)
        return self.fc(torch.flatten(h, 1))


def main():
    t = twin.Twin("digits_cnn", steps=30, sets={"warmup": 5, "total_steps": 30})
    c = t.consts
    torch.manual_seed(0)
    model = Net(c)
    t.run(model, {"x": "../digits_cce/data/train_x.npy", "y": "../digits_cce/data/train_y.npy"},
          lambda m, b: F.cross_entropy(m(b["x"]), b["y"]),
          dict(optimizer="adamw", lr=0.01, weight_decay=0.01, schedule="cosine", warmup=c["warmup"],
               total=c["total_steps"], min_lr=1e-4, no_decay=["*bias", "bn*"]))


if __name__ == "__main__":
    main()
