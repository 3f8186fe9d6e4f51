"""digits_distill_kl.py: the PyTorch twin of examples/digits_distill_kl/model.gm (see twin.py).

30 steps at batch 64 over 1440 images (22 steps an epoch): kl_div with reduction="batchmean"
between the student's log_softmax and the teacher's softmax at temperature T, plus cross_entropy.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import twin  # noqa: E402


class Student(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Linear(c["pixels"], c["hidden"])
        self.fc2 = nn.Linear(c["hidden"], c["classes"])

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def main():
    t = twin.Twin("digits_distill_kl", steps=30)
    c = t.consts
    temp, alpha = c["temperature"], c["alpha"]

    def loss_fn(m, b):
        logits = m(b["x"])
        soft = F.kl_div(F.log_softmax(logits / temp, dim=-1), F.softmax(b["teacher"] / temp, dim=-1),
                        reduction="batchmean")
        return alpha * temp * temp * soft + (1 - alpha) * F.cross_entropy(logits, b["y"])

    torch.manual_seed(0)
    model = Student(c)
    t.run(model, {"x": "../digits_cce/data/train_x.npy", "y": "../digits_cce/data/train_y.npy",
                  "teacher": "data/train_teacher.npy"}, loss_fn, dict(optimizer="adam", lr=0.01))


if __name__ == "__main__":
    main()
