"""gpt.py: the GPT of bench/m2.gm and bench/m3.gm in torch, shared by their twins (m2.py, m3.py).

Pre-norm blocks as the .gm files write them: x + attn(ln_1(x)), then x + proj(gelu(fc(ln_2(x)))),
with gradc's causal_self_attention being nn.MultiheadAttention called with q = k = v and an
additive causal mask (need_weights=False: the averaged attention map is never used, and gradc does
not compute it). Learned positions, exact GELU, layernorm eps 1e-5, dropout 0 everywhere; the head
is untied (M2) or tied to the token embedding (M3, as GPT-2 and llm.c do).
"""
import common
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=0.0, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, 4 * dim)
        self.proj = nn.Linear(4 * dim, dim)

    def forward(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.proj(F.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, c, tied):
        super().__init__()
        self.wte = nn.Embedding(c["vocab"], c["dim"])
        self.wpe = nn.Parameter(torch.randn(c["ctx"], c["dim"]) * 0.02)
        self.h = nn.ModuleList(Block(c["dim"], c["heads"]) for _ in range(c["layers"]))
        self.ln_f = nn.LayerNorm(c["dim"])
        self.head = nn.Linear(c["dim"], c["vocab"], bias=False)
        if tied:
            nn.init.normal_(self.wte.weight, 0.0, 0.02)
            self.head.weight = self.wte.weight
        t = c["ctx"]
        self.register_buffer("mask", torch.full((t, t), float("-inf")).triu(1))

    def forward(self, tokens):
        x = self.wte(tokens) + self.wpe
        for block in self.h:
            x = block(x, self.mask)
        return self.head(self.ln_f(x))


def train(model, args, tied):
    c = args.consts
    torch.manual_seed(1)
    net = GPT(c, tied)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    batches = common.load_batches(args.data_dir, ["tokens", "targets"], c["batch"])
    common.run(model, args, net, opt, batches,
               lambda m, b: F.cross_entropy(m(b["tokens"]).flatten(0, 1), b["targets"].flatten()))
