"""diabetes_mse.py: the PyTorch twin of examples/diabetes_mse/model.gm (see twin.py).

30 steps at batch 32 over 360 rows (11 steps an epoch, 8 rows dropped) cross two epoch
boundaries; --set decay_every=10 makes the step schedule halve the rate twice within the run.
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
        self.fc2 = nn.Linear(c["hidden"], c["hidden"])
        self.out = nn.Linear(c["hidden"], 1)

    def forward(self, x):
        return self.out(F.relu(self.fc2(F.relu(self.fc1(x)))))


def main():
    t = twin.Twin("diabetes_mse", steps=30, sets={"decay_every": 10})
    torch.manual_seed(0)
    model = Net(t.consts)
    t.run(model, {"x": "data/train_x.npy", "y": "data/train_y.npy"},
          lambda m, b: F.mse_loss(m(b["x"]), b["y"]),
          dict(optimizer="sgd", lr=0.02, momentum=0.9, schedule="step", every=t.consts["decay_every"],
               gamma=0.5))


if __name__ == "__main__":
    main()
