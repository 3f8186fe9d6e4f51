"""seq2seq.py: the PyTorch twin of examples/seq2seq/model.gm (see twin.py).

nn.TransformerEncoderLayer and nn.TransformerDecoderLayer (batch_first, GELU, dropout 0) with the
decoder's causal tgt_mask (0 on and below the diagonal, -inf above, as causal_mask makes), and one
nn.Embedding called for both source and target, as the model's two `as emb` calls share a table.
25 steps at batch 32 over 2048 sequences; --set warmup=5 total_steps=25.
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
        n, d = c["length"], c["dim"]
        self.src_pos = nn.Parameter(torch.randn(n, d) * 0.02)
        self.tgt_pos = nn.Parameter(torch.randn(n, d) * 0.02)
        self.emb = nn.Embedding(c["vocab"], d)
        self.encoder = nn.TransformerEncoderLayer(d, c["heads"], c["ff"], dropout=0.0, activation="gelu",
                                                  batch_first=True)
        self.decoder = nn.TransformerDecoderLayer(d, c["heads"], c["ff"], dropout=0.0, activation="gelu",
                                                  batch_first=True)
        self.head = nn.Linear(d, c["vocab"])
        self.register_buffer("mask", torch.triu(torch.full((n, n), float("-inf")), diagonal=1),
                             persistent=False)

    def forward(self, src, tgt_in):
        memory = self.encoder(self.emb(src) + self.src_pos)
        y = self.decoder(self.emb(tgt_in) + self.tgt_pos, memory, tgt_mask=self.mask)
        return self.head(y)


def main():
    t = twin.Twin("seq2seq", steps=25, sets={"warmup": 5, "total_steps": 25})
    c = t.consts
    torch.manual_seed(0)
    model = Net(c)

    def loss_fn(m, b):
        logits = m(b["src"], b["tgt_in"])
        return F.cross_entropy(logits.reshape(-1, c["vocab"]), b["tgt_out"].reshape(-1))

    t.run(model, {"src": "data/train_src.npy", "tgt_in": "data/train_tgt_in.npy",
                  "tgt_out": "data/train_tgt_out.npy"}, loss_fn,
          dict(optimizer="adam", lr=6e-3, schedule="cosine", warmup=c["warmup"], total=c["total_steps"],
               clip=1.0))


if __name__ == "__main__":
    main()
