"""transformer_classifier.py: the PyTorch twin of examples/transformer_classifier/model.gm (see twin.py).

gradc's transformer_encoder_layer is nn.TransformerEncoderLayer(batch_first=True) (post-norm,
relu, dropout 0 here); `as encoder[i]` names it like an nn.ModuleList called encoder. 25 steps at
batch 32 over 1440 images; --set warmup=5 total_steps=25 runs the linear schedule's warmup and
decay within the test.
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
        self.rows, self.cols = c["rows"], c["cols"]
        self.pos = nn.Parameter(torch.randn(c["rows"], c["dim"]) * 0.02)
        self.embed = nn.Linear(c["cols"], c["dim"])
        self.encoder = nn.ModuleList(
            nn.TransformerEncoderLayer(c["dim"], c["heads"], c["ff"], dropout=0.0, batch_first=True)
            for _ in range(c["layers"]))
        self.norm = nn.LayerNorm(c["dim"])
        self.head = nn.Linear(c["dim"], c["classes"])

    def forward(self, x):
        h = self.embed(x.reshape(-1, self.rows, self.cols)) + self.pos
        for layer in self.encoder:
            h = layer(h)
        return self.head(self.norm(h.mean(dim=1)))


def main():
    t = twin.Twin("transformer_classifier", steps=25, sets={"warmup": 5, "total_steps": 25})
    c = t.consts
    torch.manual_seed(0)
    model = Net(c)
    t.run(model, {"x": "../digits_cce/data/train_x.npy", "y": "../digits_cce/data/train_y.npy"},
          lambda m, b: F.cross_entropy(m(b["x"]), b["y"]),
          dict(optimizer="adamw", lr=3e-3, weight_decay=0.01, schedule="linear", warmup=c["warmup"],
               total=c["total_steps"], clip=1.0, no_decay=["*bias", "*norm*", "pos"]))


if __name__ == "__main__":
    main()
