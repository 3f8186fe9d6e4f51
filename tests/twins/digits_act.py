"""digits_act.py: the PyTorch twin of examples/digits_act/model.gm (see twin.py).

30 steps at batch 64 over 1440 images (22 steps an epoch): the wave-2 activations, nn.PReLU,
nn.Bilinear, a class-weighted label-smoothed cross_entropy and multi_margin_loss, with Adam.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import twin  # noqa: E402

CLASS_WEIGHT = torch.tensor([1.0, 2.0, 1.0, 0.5, 1.0, 1.5, 1.0, 1.0, 0.75, 1.25])


class Net(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden"]
        self.fc1 = nn.Linear(c["pixels"], h)
        self.act1 = nn.PReLU(h)
        self.fc2 = nn.Linear(h, h)
        self.bl = nn.Bilinear(h, h, h)
        self.fc3 = nn.Linear(h, 2 * h)
        self.out = nn.Linear(h, c["classes"])

    def forward(self, x):
        h1 = self.act1(self.fc1(x))
        h2 = F.hardswish(self.fc2(h1))
        b = self.bl(h1, h2)
        z = F.elu(b) + 0.5 * F.selu(h2) + F.celu(h1, alpha=2.0) + 0.5 * F.mish(b) + F.softsign(h1) + F.tanhshrink(h2)
        z = z + F.softplus(b, beta=2.0) + F.hardtanh(h1, -2.0, 2.0) + F.relu6(h2) + F.hardsigmoid(b) + F.leaky_relu(h1, 0.1)
        return self.out(F.glu(self.fc3(z)))


def loss_fn(m, b):
    logits = m(b["x"])
    return (F.cross_entropy(logits, b["y"], weight=CLASS_WEIGHT, label_smoothing=0.1)
            + 0.5 * F.multi_margin_loss(logits, b["y"], margin=0.5))


def main():
    t = twin.Twin("digits_act", steps=30)
    torch.manual_seed(0)
    model = Net(t.consts)
    t.run(model, {"x": "../digits_cce/data/train_x.npy", "y": "../digits_cce/data/train_y.npy"}, loss_fn,
          dict(optimizer="adam", lr=0.005))


if __name__ == "__main__":
    main()
