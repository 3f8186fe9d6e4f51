"""char_gpt.py: the PyTorch twin of examples/char_gpt/model.gm (see twin.py).

causal_self_attention(x, heads) is nn.MultiheadAttention(batch_first=True) called with q = k = v
= x and the causal additive mask; gelu is the exact (erf) form. 20 steps at the model's own
sizes; --set warmup=4 total_steps=20 runs the cosine schedule through within the test.

The twin reads the byte windows of data/tokens.npy and data/targets.npy while gradc reads the
text itself (`--text data/genesis_1-20.txt`), so the test also shows that make_data.py's arrays
are the windows gradc makes of the text. The other examples cover --data.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import twin  # noqa: E402


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["dim"]
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, c["heads"], batch_first=True)
        self.ln_2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.proj = nn.Linear(4 * d, d)

    def forward(self, x, mask):
        a = self.ln_1(x)
        x = x + self.attn(a, a, a, attn_mask=mask, need_weights=False)[0]
        return x + self.proj(F.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wpe = nn.Parameter(torch.randn(c["ctx"], c["dim"]) * 0.02)
        self.wte = nn.Embedding(c["vocab"], c["dim"])
        self.h = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.ln_f = nn.LayerNorm(c["dim"])
        self.head = nn.Linear(c["dim"], c["vocab"], bias=False)
        n = c["ctx"]
        self.register_buffer("mask", torch.triu(torch.full((n, n), float("-inf")), diagonal=1),
                             persistent=False)

    def forward(self, tokens):
        x = self.wte(tokens) + self.wpe
        for block in self.h:
            x = block(x, self.mask)
        return self.head(self.ln_f(x))


def main():
    t = twin.Twin("char_gpt", steps=20, sets={"warmup": 4, "total_steps": 20})
    c = t.consts
    torch.manual_seed(1)
    model = GPT(c)

    def loss_fn(m, b):
        logits = m(b["tokens"])
        return F.cross_entropy(logits.reshape(-1, c["vocab"]), b["targets"].reshape(-1))

    t.run(model, {"tokens": "data/tokens.npy", "targets": "data/targets.npy"}, loss_fn,
          dict(optimizer="adamw", lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1, schedule="cosine",
               warmup=c["warmup"], total=c["total_steps"], clip=1.0,
               no_decay=["*bias", "*ln_*", "wpe", "wte.*"]),
          gradc_text="data/genesis_1-20.txt")


if __name__ == "__main__":
    main()
