"""gen_layers.py OUTDIR: PyTorch's answers for gradc's layers (tests/unit/test_layers.c).

For each case, OUTDIR/layers/<case>/ gets the values of every source of the gradc graph as
src.<name>.npy (parameters under their state_dict names, the input x, extra inputs), the output as
y.npy, and the gradient of sum(y * w) for every parameter and for x as grad.<name>.npy. The module
weights are redrawn from a fixed seed (not torch's default init) so zero biases and unit
LayerNorm weights cannot hide mistakes.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

torch.manual_seed(0)
OUT = os.path.join(sys.argv[1], "layers")


def save(case, tensors):
    d = os.path.join(OUT, case)
    os.makedirs(d, exist_ok=True)
    for name, t in tensors.items():
        a = t.detach().numpy() if isinstance(t, torch.Tensor) else t
        if a.dtype == np.int64:
            a = a.astype(np.int32)
        np.save(os.path.join(d, name + ".npy"), np.ascontiguousarray(a))


def randomize(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.3)


def run(case, module, x, call, extra=None, x_is_float=True):
    """call(module, x) -> y; x gets a gradient when it is float."""
    randomize(module)
    if x_is_float:
        x = x.clone().requires_grad_(True)
    y = call(module, x)
    w = torch.randn_like(y)
    (y * w).sum().backward()
    t = {"src.x": x, "src.w": w, "y": y}
    for name, p in module.named_parameters():
        t["src." + name] = p
        t["grad." + name] = p.grad
    if x_is_float:
        t["grad.x"] = x.grad
    for name, v in (extra or {}).items():
        t["src." + name] = v
    save(case, t)


def causal(t):
    return torch.triu(torch.full((t, t), float("-inf")), diagonal=1)


run("linear3d", nn.Linear(5, 4), torch.randn(2, 3, 5), lambda m, x: m(x))
run("linear_nobias", nn.Linear(6, 3, bias=False), torch.randn(4, 6), lambda m, x: m(x))
run("embedding", nn.Embedding(7, 4), torch.tensor([[0, 3, 6], [3, 3, 1]]), lambda m, x: m(x), x_is_float=False)
run("layernorm", nn.LayerNorm(6), torch.randn(2, 3, 6) * 2 + 1, lambda m, x: m(x))

mha = nn.MultiheadAttention(8, 2, batch_first=True)
run("mha_causal", mha, torch.randn(2, 5, 8),
    lambda m, x: m(x, x, x, attn_mask=causal(5), need_weights=False)[0])

kv = torch.randn(2, 6, 8)
kpm = torch.tensor([[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 1]], dtype=torch.float32)
run("mha_cross_padding", nn.MultiheadAttention(8, 4, batch_first=True), torch.randn(2, 4, 8),
    lambda m, x: m(x, kv, kv, key_padding_mask=kpm.bool(), need_weights=False)[0],
    extra={"kv": kv, "kpm": kpm})

run("encoder_post_relu", nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
    torch.randn(2, 5, 8), lambda m, x: m(x))
run("encoder_pre_gelu_causal",
    nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", norm_first=True, batch_first=True),
    torch.randn(2, 5, 8), lambda m, x: m(x, src_mask=causal(5)))

mem = torch.randn(2, 6, 8)
run("decoder_post", nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
    torch.randn(2, 4, 8), lambda m, x: m(x, mem, tgt_mask=causal(4)), extra={"memory": mem})
run("decoder_pre_gelu",
    nn.TransformerDecoderLayer(8, 4, 12, dropout=0.0, activation="gelu", norm_first=True, batch_first=True),
    torch.randn(2, 4, 8), lambda m, x: m(x, mem), extra={"memory": mem})

# ---- names and layer arguments (embedding padding_idx, weight tying, attention's kdim/vdim,
# add_bias_kv, add_zero_attn, key padding masks of the transformer layers) ----

idx = torch.tensor([[0, 3, 6], [3, 5, 1]])
run("embedding_padding", nn.Embedding(7, 4, padding_idx=3), idx, lambda m, x: m(x), x_is_float=False)
run("embedding_padding_negative", nn.Embedding(7, 4, padding_idx=-2), idx, lambda m, x: m(x), x_is_float=False)


class TiedHead(nn.Module):
    """An embedding and a bias-free head sharing one table, as GPT-2's `head.weight = wte.weight`."""

    def __init__(self, num, dim):
        super().__init__()
        self.emb = nn.Embedding(num, dim)
        self.head = nn.Linear(dim, num, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, x):
        return self.head(torch.tanh(self.emb(x)))


run("tied_embedding_head", TiedHead(7, 4), idx, lambda m, x: m(x), x_is_float=False)

kv5 = torch.randn(2, 6, 5)
vv3 = torch.randn(2, 6, 3)
run("mha_kdim_vdim", nn.MultiheadAttention(8, 2, kdim=5, vdim=3, batch_first=True), torch.randn(2, 4, 8),
    lambda m, x: m(x, kv5, vv3, key_padding_mask=kpm.bool(), need_weights=False)[0],
    extra={"k": kv5, "v": vv3, "kpm": kpm})
run("mha_bias_kv_zero_attn", nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True, batch_first=True),
    torch.randn(2, 5, 8), lambda m, x: m(x, x, x, attn_mask=causal(5), need_weights=False)[0])
run("mha_bias_kv_cross_padding",
    nn.MultiheadAttention(8, 4, add_bias_kv=True, bias=False, kdim=5, vdim=5, batch_first=True),
    torch.randn(2, 4, 8), lambda m, x: m(x, kv5, kv5, key_padding_mask=kpm.bool(), need_weights=False)[0],
    extra={"k": kv5, "kpm": kpm})
run("mha_zero_attn_cross_padding", nn.MultiheadAttention(8, 2, add_zero_attn=True, batch_first=True),
    torch.randn(2, 4, 8), lambda m, x: m(x, kv, kv, key_padding_mask=kpm.bool(), need_weights=False)[0],
    extra={"kv": kv, "kpm": kpm})

spm = torch.tensor([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], dtype=torch.float32)
run("encoder_key_padding", nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
    torch.randn(2, 5, 8), lambda m, x: m(x, src_key_padding_mask=spm.bool()), extra={"kpm": spm})
tpm = torch.tensor([[0, 0, 0, 1], [0, 0, 0, 0]], dtype=torch.float32)
run("decoder_key_padding",
    nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, norm_first=True, batch_first=True),
    torch.randn(2, 4, 8),
    lambda m, x: m(x, mem, tgt_mask=causal(4), tgt_key_padding_mask=tpm.bool(),
                   memory_key_padding_mask=kpm.bool()),
    extra={"memory": mem, "tpm": tpm, "kpm": kpm})
