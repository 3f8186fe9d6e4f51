"""lstm_digits.py: the PyTorch twin of examples/lstm_digits/model.gm (see twin.py).

25 steps at batch 64 of digits read row by row (8 steps of 8 pixels) through nn.LSTM(8, 32,
num_layers=2, bidirectional=True, batch_first=True), the last layer's two final states into an
nn.Linear, cross-entropy, Adam with gradient clipping as in the model file.
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
        self.lstm = nn.LSTM(c["cols"], c["hidden"], num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * c["hidden"], c["classes"])

    def forward(self, x):
        c = self.c
        _, (h_n, _) = self.lstm(x.reshape(-1, c["rows"], c["cols"]))
        last = torch.cat([h_n[2], h_n[3]], dim=1)
        return self.head(last)


def main():
    t = twin.Twin("lstm_digits", steps=25)
    torch.manual_seed(0)
    model = Net(t.consts)
    t.run(model, {"x": "../digits_cce/data/train_x.npy", "y": "../digits_cce/data/train_y.npy"},
          lambda m, b: F.cross_entropy(m(b["x"]), b["y"]), dict(optimizer="adam", lr=0.01, clip=1.0))


if __name__ == "__main__":
    main()
