"""tied_gpt.py: the PyTorch twin of examples/tied_gpt/model.gm (see twin.py).

The head is an nn.Linear whose weight is assigned the embedding's (`head.weight = wte.weight`, as
GPT-2 ties lm_head), so torch trains one tensor through both uses, as gradc does with the linear
named like the embedding. torch's state_dict lists that tensor under both module names; gradc's
checkpoint holds it once, under the embedding's, so state_dict here leaves out the alias
(load_state_dict(strict=False) into the tied module restores both, since they are one Parameter).

multihead_attention(..., add_bias_kv=true, add_zero_attn=true) is nn.MultiheadAttention with the
same arguments; embedding(..., padding_idx=0) is nn.Embedding(padding_idx=0). 20 steps on
char_gpt's text.
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
        self.attn = nn.MultiheadAttention(d, c["heads"], add_bias_kv=True, add_zero_attn=True, batch_first=True)
        self.ln_2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.proj = nn.Linear(4 * d, d)

    def forward(self, x, mask):
        a = self.ln_1(x)
        x = x + self.attn(a, a, a, attn_mask=mask, need_weights=False)[0]
        return x + self.proj(F.gelu(self.fc(self.ln_2(x))))


class TiedGPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wpe = nn.Parameter(torch.randn(c["ctx"], c["dim"]) * 0.02)
        self.wte = nn.Embedding(c["vocab"], c["dim"], padding_idx=0)
        self.h = nn.ModuleList([Block(c)])
        self.ln_f = nn.LayerNorm(c["dim"])
        self.head = nn.Linear(c["dim"], c["vocab"], bias=False)
        self.head.weight = self.wte.weight
        n = c["ctx"]
        self.register_buffer("mask", torch.triu(torch.full((n, n), float("-inf")), diagonal=1),
                             persistent=False)

    def forward(self, tokens):
        x = self.wte(tokens) + self.wpe
        for block in self.h:
            x = block(x, self.mask)
        return self.head(self.ln_f(x))

    def state_dict(self, *args, **kwargs):
        state = super().state_dict(*args, **kwargs)
        assert state["head.weight"].data_ptr() == state["wte.weight"].data_ptr()
        del state["head.weight"]
        return state


def main():
    t = twin.Twin("tied_gpt", steps=20)
    c = t.consts
    torch.manual_seed(1)
    model = TiedGPT(c)
    assert [n for n, _ in model.named_parameters()].count("head.weight") == 0  # one tensor, listed once

    def loss_fn(m, b):
        logits = m(b["tokens"])
        return F.cross_entropy(logits.reshape(-1, c["vocab"]), b["targets"].reshape(-1))

    t.run(model, {"tokens": "../char_gpt/data/tokens.npy", "targets": "../char_gpt/data/targets.npy"}, loss_fn,
          dict(optimizer="adamw", lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1, clip=1.0,
               no_decay=["*bias", "*ln_*", "wpe"]),
          gradc_text="../char_gpt/data/genesis_1-20.txt")


if __name__ == "__main__":
    main()
