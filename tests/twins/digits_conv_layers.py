"""digits_conv_layers.py: the PyTorch twin of examples/digits_conv_layers/model.gm (see twin.py).

20 steps at batch 32 with Adam (lr 0.01: the loss falls from 2.31 to 2.14): nn.Conv2d (padding="same", depthwise, strided), nn.ConvTranspose2d
and nn.Conv1d under gradc's parameter names.
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
        self.side = c["side"]
        self.conv1 = nn.Conv2d(1, 8, 3, padding="same")
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.conv2 = nn.Conv2d(8, 16, (3, 3), stride=2, padding=1)
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.seq = nn.Conv1d(8, 4, 5, stride=2, padding=2, bias=False)
        self.fc = nn.Linear(128, c["classes"])

    def forward(self, x):
        n = x.shape[0]
        h = F.relu(self.conv1(x.reshape(n, 1, self.side, self.side)))
        h = F.relu(self.depthwise(h))
        h = F.relu(self.conv2(h))
        h = F.relu(self.up(h))
        s = self.seq(h.reshape(n, 8, self.side * self.side))
        return self.fc(s.reshape(n, 128))


def main():
    t = twin.Twin("digits_conv_layers", steps=20)
    torch.manual_seed(0)
    model = Net(t.consts)
    t.run(model, {"x": "../digits_cce/data/train_x.npy", "y": "../digits_cce/data/train_y.npy"},
          lambda m, b: F.cross_entropy(m(b["x"]), b["y"]), dict(optimizer="adam", lr=0.01))


if __name__ == "__main__":
    main()
