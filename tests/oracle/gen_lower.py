"""gen_lower.py OUTDIR: PyTorch's answers for the lowered models of tests/unit/test_lower.c.

OUTDIR/lower/<model>/ gets, as .npy files: every input and param of the model under its .gm name
(params under the state_dict names gradc gives them), and the expected value of every output
(`loss` included) and, for the MLP, the gradient of the loss for each param as grad.<name>.

  mlp  tests/models/lower/mlp.gm: nn.Linear -> relu -> nn.Linear, F.cross_entropy, accuracy
  ops  tests/models/lower/ops.gm: every built-in operation, each output computed the torch way
  pool tests/models/lower/pool.gm: pooling, flatten and pad, each output and the gradient
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
OUT = os.path.join(sys.argv[1], "lower")


def save(model, tensors):
    d = os.path.join(OUT, model)
    os.makedirs(d, exist_ok=True)
    for name, t in tensors.items():
        a = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        if a.dtype == np.int64:
            a = a.astype(np.int32)
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        if a.dtype == np.bool_:
            a = a.astype(np.float32)
        np.save(os.path.join(d, name + ".npy"), np.ascontiguousarray(a))


def mlp():
    fc1, fc2 = nn.Linear(5, 8), nn.Linear(8, 3)
    x = torch.randn(4, 5)
    y = torch.tensor([0, 2, 1, 2])
    logits = fc2(torch.relu(fc1(x)))
    loss = F.cross_entropy(logits, y)
    loss.backward()
    acc = (logits.argmax(-1) == y).float().mean()
    t = {"x": x, "y": y, "loss": loss, "accuracy": acc}
    for prefix, m in (("fc1", fc1), ("fc2", fc2)):
        for name, p in m.named_parameters():
            t[prefix + "." + name] = p
            t["grad." + prefix + "." + name] = p.grad
    save("mlp", t)


def ops():
    a = torch.randn(2, 3, 4)
    a[0, 0, 0] = 0.5  # a tie for `a != 0.5`
    v = torch.randn(4)
    idx = torch.randint(0, 4, (2, 3))
    w = torch.randn(4, 6)
    t = torch.rand(2, 3, 4)
    p, q = torch.split(a, 2, dim=-1)
    ab = a.abs()
    o = {
        "s1": a.sum(dim=(0, 2), keepdim=True),
        "m1": a.mean(dim=1),
        "mx": a.amax(dim=-1),
        "mn": a.min(),
        "am": torch.argmax(a, dim=-1),
        "vr": a.var(dim=-1, unbiased=True),
        "vb": a.var(dim=(0, 2), unbiased=False, keepdim=True),
        "sm": torch.softmax(a, dim=1),
        "lsm": torch.log_softmax(a, dim=-1),
        "rs": a.reshape(4, -1),
        "tr": a.permute(2, 0, 1),
        "sw": a.transpose(0, 2),
        "cc": torch.cat([q, p, q], dim=-1),
        "sl": a[:, :, 1:-1],
        "mv": a @ v,
        "vm": v @ w,
        "mm": torch.matmul(a, w),
        "vv": v @ v,
        "oh": F.one_hot(idx, 5).float(),
        "tk": w[idx],
        "cs": idx.float() * 0.5,
        "hf": idx * 0.5,
        "ci": (a * 3).to(torch.int32),
        "cmp": (a > 0).float(),
        "cmp2": (a <= v).float() + (a == a).float() - (a != 0.5).float() + (a >= 0.1).float() + (a < v).float(),
        "wh": torch.where(a > 0, a, 0.1 * a),
        "cl": a.clamp(-0.5, 0.5),
        "pw": (ab + 1) ** 1.5,
        "gt": F.gelu(a, approximate="tanh"),
        "ge": F.gelu(a),
        "e1": a.exp() + (ab + 1).log() - ab.sqrt() + (ab + 1).rsqrt() + a.tanh(),
        "e2": torch.sigmoid(a) + F.silu(a) + a * a + F.softplus(a) + F.logsigmoid(a) + F.relu(a) + a,
        "mxm": torch.maximum(a, torch.tensor(0.2)) + torch.minimum(a, v),
        "ng": -a / 2 + 1 - a * 3 - 2 * v,
        "cm": torch.triu(torch.full((3, 3), float("-inf")), diagonal=1),
        "ln": F.layer_norm(a, (4,)),
        "l_mse": F.mse_loss(a, t),
        "l_l1": F.l1_loss(a, t, reduction="sum"),
        "l_bce": F.binary_cross_entropy(torch.sigmoid(a), t, weight=v),
        "l_bcel": F.binary_cross_entropy_with_logits(a, t, pos_weight=v, reduction="none"),
        "l_ce": F.cross_entropy(a.reshape(-1, 4), idx.reshape(-1), label_smoothing=0.1, ignore_index=1),
        "l_cep": F.cross_entropy(a.reshape(-1, 4), torch.softmax(t, -1).reshape(-1, 4), reduction="sum"),
        "l_nll": F.nll_loss(torch.log_softmax(a, -1).reshape(-1, 4), idx.reshape(-1), reduction="none").reshape(2, 3),
        "l_kl": F.kl_div(torch.log_softmax(a, -1), torch.softmax(t, -1), reduction="batchmean"),
        "l_klt": F.kl_div(torch.log_softmax(a, -1), torch.log_softmax(t, -1), reduction="mean", log_target=True),
        "loss": (a * a).mean(),
        "twice": (a * a).mean() * 2,
        "three": torch.tensor(3.0),
    }
    src = {"a": a, "v": v, "idx": idx, "w": w, "t": t}
    src.update(o)
    save("ops", src)


def pool():
    """tests/models/lower/pool.gm: pooling, flatten and pad, and the gradient through them."""
    a, b = torch.randn(2, 3, 7, 9), torch.randn(3, 10)
    w = torch.randn(9, requires_grad=True)
    x = a * w
    o = {
        "mp": F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
        "mpd": F.max_pool2d(x, [2, 3], stride=[1, 2], dilation=[2, 1]),
        "mp1": F.max_pool1d(b * w[0:1], 3, 2, 1),
        "ap": F.avg_pool2d(x, [3, 2], padding=[1, 1], ceil_mode=True, count_include_pad=False),
        "ap2": F.avg_pool2d(x, 2),
        "ap1": F.avg_pool1d(torch.flatten(x, 2), 4, 3, 2, True),
        "aa": F.adaptive_avg_pool2d(x, [3, 4]),
        "ae": F.adaptive_avg_pool2d(x, [7, 3]),
        "aa1": F.adaptive_avg_pool1d(b * w[1:2], 4),
        "fl": torch.flatten(x, 1),
        "fl2": torch.flatten(x, 0, 2),
        "pd": F.pad(x, [1, 2]),
        "pn": F.pad(x, [-1, 2, 0, 0, 1, 0], value=-1.5),
    }
    loss = (o["mp"].sum() + (o["mpd"] * o["mpd"]).mean() + (o["mp1"] ** 2).sum() + o["ap"].sum() + (o["ap2"] ** 2).sum()
            + o["ap1"].sum() + (o["aa"] ** 2).sum() + o["ae"].sum() + (o["aa1"] ** 2).sum() + (o["fl"] ** 2).sum()
            + o["fl2"].mean() + o["pd"].sum() + (o["pn"] ** 2).sum())
    loss.backward()
    t = {"a": a, "b": b, "w": w, "loss": loss, "grad.w": w.grad}
    t.update(o)
    save("pool", t)


mlp()
ops()
pool()
