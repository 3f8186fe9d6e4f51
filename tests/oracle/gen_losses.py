"""gen_losses.py: PyTorch's values and gradients for every loss, reduction and option.

Writes OUT/losses/manifest.txt, one case a line:

    NAME loss=KIND reduction=R [ignore_index=I] [label_smoothing=E] [log_target=1]
         inputs=a,b,... params=a,...

and for each case NAME.<tensor>.npy for every tensor in inputs (float32 or int32, classes on the
last axis as gradc has them), NAME.expected.npy (torch.nn.functional's result) and
NAME.grad_<param>.npy for every param. Gradients come from loss.backward(); for reduction "none"
the backward runs on (loss * cotangent).sum(), with the tensor `cotangent` among the inputs, so
the unreduced gradient is checked too. tests/unit/test_losses.c builds the same loss with
passes/losses.h, runs it on the interpreter and compares.

Usage: gen_losses.py OUT_DIR. Deterministic: every case draws from its own seeded generator.
"""
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(sys.argv[1], "losses")
os.makedirs(OUT, exist_ok=True)
torch.set_default_dtype(torch.float32)
# kl_div warns that "mean" will change meaning; torch 1.13's meaning is the one matched here.
warnings.filterwarnings("ignore", message="reduction: .mean. divides")

lines = []


def randn(gen, *shape, scale=1.0):
    return torch.randn(*shape, generator=gen) * scale


def save(name, key, t):
    a = t.detach().numpy()
    a = a.astype(np.int32) if a.dtype.kind in "iu" else a.astype(np.float32)
    np.save(os.path.join(OUT, f"{name}.{key}.npy"), a)


def class_first(x):
    """[N, C] stays; [B, T, C] becomes torch's [B, C, T]."""
    return x if x.dim() <= 2 else x.movedim(-1, 1)


def emit(name, loss, reduction, tensors, params, fn, **opts):
    """tensors: name -> tensor (leaves); params: names that require grad; fn(**leaves) -> loss."""
    leaves = {}
    for k, v in tensors.items():
        leaf = v.detach().clone()
        if k in params:
            leaf.requires_grad_(True)
        leaves[k] = leaf
    out = fn(**leaves)
    if reduction == "none" and params:
        gen = torch.Generator().manual_seed(len(lines) + 1000)
        cot = torch.randn(tuple(out.shape), generator=gen)
        tensors = dict(tensors, cotangent=cot)
        (out * cot).sum().backward()
    elif params:
        out.backward()
    for k, v in tensors.items():
        save(name, k, v)
    save(name, "expected", out)
    for p in params:
        g = leaves[p].grad
        assert g is not None and torch.isfinite(g).all(), f"{name}: torch gives no finite grad for {p}"
        save(name, f"grad_{p}", g)
    fields = [name, f"loss={loss}", f"reduction={reduction}"]
    fields += [f"{k}={v}" for k, v in opts.items()]
    fields.append("inputs=" + ",".join(tensors))
    fields.append("params=" + ",".join(params))
    lines.append(" ".join(fields))


REDUCTIONS = ("none", "mean", "sum")


def case_gen(name):
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(name))
    return torch.Generator().manual_seed(seed)


def mse_l1():
    for loss, fn in (("mse_loss", F.mse_loss), ("l1_loss", F.l1_loss)):
        for tag, shape in (("2d", (4, 5)), ("3d", (2, 3, 4))):
            for r in REDUCTIONS:
                g = case_gen(f"{loss}{tag}")
                x, t = randn(g, *shape), randn(g, *shape)
                emit(f"{loss}_{tag}_{r}", loss, r, {"input": x, "target": t}, ["input", "target"],
                     lambda input, target, r=r, fn=fn: fn(input, target, reduction=r))


def bce():
    for tag in ("soft", "hard", "weight_row", "weight_col"):
        for r in REDUCTIONS:
            g = case_gen(f"bce{tag}")
            x = torch.sigmoid(randn(g, 4, 5, scale=2.0)).clamp(0.02, 0.98)
            if tag == "hard":
                t = (torch.rand(4, 5, generator=g) > 0.5).float()
            else:
                t = torch.rand(4, 5, generator=g)
            tensors = {"input": x, "target": t}
            if tag == "weight_row":
                tensors["weight"] = torch.rand(5, generator=g) + 0.5
            elif tag == "weight_col":
                tensors["weight"] = torch.rand(4, 1, generator=g) + 0.5

            def fn(input, target, weight=None, r=r):
                return F.binary_cross_entropy(input, target, weight=weight, reduction=r)
            emit(f"bce_{tag}_{r}", "binary_cross_entropy", r, tensors, ["input"], fn)


def bce_logits():
    for tag in ("plain", "large", "pos_weight", "both"):
        for r in REDUCTIONS:
            g = case_gen(f"bcel{tag}")
            x = randn(g, 4, 5, scale=30.0 if tag == "large" else 2.0)
            t = torch.rand(4, 5, generator=g)
            tensors = {"input": x, "target": t}
            if tag in ("pos_weight", "both"):
                tensors["pos_weight"] = torch.rand(5, generator=g) * 3 + 0.25
            if tag == "both":
                tensors["weight"] = torch.rand(4, 1, generator=g) + 0.5

            def fn(input, target, weight=None, pos_weight=None, r=r):
                return F.binary_cross_entropy_with_logits(input, target, weight=weight,
                                                          pos_weight=pos_weight, reduction=r)
            emit(f"bcel_{tag}_{r}", "binary_cross_entropy_with_logits", r, tensors,
                 ["input", "target"], fn)


def index_target(g, shape, classes, ignore=None, count=0):
    t = torch.randint(0, classes, shape, generator=g, dtype=torch.int64)
    flat = t.view(-1)
    if ignore is not None:
        for i in range(count):
            flat[(3 * i + 1) % flat.numel()] = ignore
    return t


def cross_entropy():
    # (tag, logits shape, ignore_index option, how many targets ignored, label_smoothing)
    index_cases = (
        ("idx", (6, 5), None, 0, 0.0),
        ("idx_ignore", (6, 5), None, 2, 0.0),
        ("idx_ignore2", (6, 5), 2, 2, 0.0),
        ("idx_smooth", (6, 5), None, 0, 0.1),
        ("idx_smooth_ignore", (6, 5), 1, 2, 0.2),
        ("idx3d", (2, 3, 5), None, 2, 0.0),
        ("idx3d_smooth", (2, 3, 5), 4, 1, 0.1),
        ("idx1d", (5,), None, 0, 0.05),
    )
    for tag, shape, ii, nign, ls in index_cases:
        for r in REDUCTIONS:
            g = case_gen(f"ce{tag}")
            x = randn(g, *shape, scale=2.0)
            ignore = -100 if ii is None else ii
            t = index_target(g, shape[:-1], shape[-1], ignore, nign)
            opts = {}
            if ii is not None:
                opts["ignore_index"] = ii
            if ls:
                opts["label_smoothing"] = ls

            def fn(input, target, r=r, ignore=ignore, ls=ls):
                return F.cross_entropy(class_first(input), target.long(), ignore_index=ignore,
                                       label_smoothing=ls, reduction=r)
            emit(f"ce_{tag}_{r}", "cross_entropy", r, {"input": x, "target": t.int()}, ["input"],
                 fn, **opts)
    for tag, shape, ls in (("prob", (6, 5), 0.0), ("prob_smooth", (6, 5), 0.15), ("prob3d", (2, 3, 5), 0.0)):
        for r in REDUCTIONS:
            g = case_gen(f"ce{tag}")
            x = randn(g, *shape, scale=2.0)
            t = torch.softmax(randn(g, *shape), dim=-1)
            opts = {"label_smoothing": ls} if ls else {}

            def fn(input, target, r=r, ls=ls):
                return F.cross_entropy(class_first(input), class_first(target), label_smoothing=ls,
                                       reduction=r)
            emit(f"ce_{tag}_{r}", "cross_entropy", r, {"input": x, "target": t}, ["input", "target"],
                 fn, **opts)


def nll():
    for tag, shape, ii, nign in (("plain", (6, 5), None, 0), ("ignore", (6, 5), None, 2),
                                 ("ignore1", (6, 5), 1, 2), ("3d", (2, 3, 5), None, 1)):
        for r in REDUCTIONS:
            g = case_gen(f"nll{tag}")
            x = torch.log_softmax(randn(g, *shape, scale=2.0), dim=-1)
            ignore = -100 if ii is None else ii
            t = index_target(g, shape[:-1], shape[-1], ignore, nign)
            opts = {"ignore_index": ii} if ii is not None else {}

            def fn(input, target, r=r, ignore=ignore):
                return F.nll_loss(class_first(input), target.long(), ignore_index=ignore, reduction=r)
            emit(f"nll_{tag}_{r}", "nll_loss", r, {"input": x, "target": t.int()}, ["input"], fn, **opts)


def kl_div():
    for tag in ("zeros", "dense", "log_target", "3d"):
        for r in REDUCTIONS + ("batchmean",):
            g = case_gen(f"kl{tag}")
            shape = (2, 3, 4) if tag == "3d" else (4, 5)
            x = torch.log_softmax(randn(g, *shape), dim=-1)
            t = torch.softmax(randn(g, *shape), dim=-1)
            params = ["input", "target"]
            if tag == "zeros":
                # Zero target probabilities: those terms are 0 (torch's xlogy); the target's own
                # gradient is left out since torch's differs there by convention.
                t = t * (torch.rand(*shape, generator=g) > 0.3).float()
                params = ["input"]
            log_target = tag == "log_target"
            if log_target:
                t = torch.log(t)
            opts = {"log_target": 1} if log_target else {}

            def fn(input, target, r=r, lt=log_target):
                return F.kl_div(input, target, reduction=r, log_target=lt)
            emit(f"kl_{tag}_{r}", "kl_div", r, {"input": x, "target": t}, params, fn, **opts)


def accuracy():
    for tag, shape in (("2d", (8, 5)), ("3d", (2, 4, 3))):
        g = case_gen(f"acc{tag}")
        x = randn(g, *shape)
        labels = torch.randint(0, shape[-1], shape[:-1], generator=g)
        # Make about half the rows right so the value is not trivially 0 or 1.
        pred = x.argmax(-1)
        flat_l, flat_p = labels.view(-1), pred.view(-1)
        for i in range(0, flat_l.numel(), 2):
            flat_l[i] = flat_p[i]

        def fn(input, target):
            return (input.argmax(-1) == target.long()).float().mean()
        emit(f"acc_{tag}", "accuracy", "mean", {"input": x, "target": labels.int()}, [], fn)


mse_l1()
bce()
bce_logits()
cross_entropy()
nll()
kl_div()
accuracy()

with open(os.path.join(OUT, "manifest.txt.tmp"), "w") as f:
    f.write("\n".join(lines) + "\n")
os.replace(os.path.join(OUT, "manifest.txt.tmp"), os.path.join(OUT, "manifest.txt"))
print(f"gen_losses: {len(lines)} cases in {OUT}")
