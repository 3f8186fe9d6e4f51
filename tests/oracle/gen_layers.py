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
