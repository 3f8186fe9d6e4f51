"""digits_pool.py: the PyTorch twin of examples/digits_pool/model.gm (see twin.py).

30 steps at batch 32 over 1440 images with Adam: a linear layer to feature maps, then
F.max_pool2d (overlapping, ceil_mode), F.avg_pool2d (count_include_pad=False; and with ceil_mode
after F.pad with a value), F.adaptive_avg_pool2d with uneven windows and torch.flatten.
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
        self.c = c
        self.embed = nn.Linear(c["pixels"], c["maps"] * c["side"] * c["side"])
        self.head = nn.Linear(c["maps"] * (3 * 3 + 4 * 5), c["classes"])

    def forward(self, x):
        c = self.c
        h = F.relu(self.embed(x).reshape(x.shape[0], c["maps"], c["side"], c["side"]))
        m = F.max_pool2d(h, 3, stride=2, padding=1, ceil_mode=True)
        a = F.avg_pool2d(m, 3, stride=1, padding=1, count_include_pad=False)
        p = F.adaptive_avg_pool2d(m + a, 3)
        q = F.avg_pool2d(F.pad(h, [1, 0, 0, 1], value=0.5), [3, 2], padding=[1, 0], ceil_mode=True)
        return self.head(torch.cat([torch.flatten(p, 1), torch.flatten(q, 1)], 1))


def main():
    t = twin.Twin("digits_pool", steps=30)
    torch.manual_seed(0)
    model = Net(t.consts)
    t.run(model, {"x": "../digits_cce/data/train_x.npy", "y": "../digits_cce/data/train_y.npy"},
          lambda m, b: F.cross_entropy(m(b["x"]), b["y"]),
          dict(optimizer="adam", lr=0.01))


if __name__ == "__main__":
    main()
