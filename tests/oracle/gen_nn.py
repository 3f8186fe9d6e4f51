"""gen_nn.py: PyTorch's values and gradients for the wave-2 activations, losses and layers, as
model-language expressions (tests/unit/test_nn_oracle.c).

Writes OUT/nn/manifest.txt, one case a line, four fields separated by tabs:

    NAME    FD    TENSORS    EXPR

TENSORS lists name:kind pairs (torch's argument names, but `inp` for `input`, a reserved word) (kind p: a `param` of the model, i: an `input`, l: a parameter the
layer in EXPR creates under that name); FD is 1 when the f64 finite-difference check applies (0
for cases that sit on a kink on purpose). EXPR is the gradc expression; the test compiles

    param/input declarations, h = EXPR, output value = h, loss = sum(h * cot)

and compares `value` and the gradient of every p and l tensor with torch's, for NAME.<tensor>.npy,
NAME.cot.npy, NAME.expected.npy and NAME.grad_<tensor>.npy written here: the backward of
(torch's result * cot).sum(), so unreduced results are checked through a random cotangent.

Usage: gen_nn.py OUT_DIR. Deterministic: every case draws from its own seeded generator.
"""
import os
import re
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(sys.argv[1], "nn")
os.makedirs(OUT, exist_ok=True)
torch.set_default_dtype(torch.float32)
warnings.filterwarnings("ignore")
lines = []
# `input` is a reserved word of the model language: that tensor is `inp` in the model.
GM_NAME = {"input": "inp"}
REDUCTIONS = ("none", "mean", "sum")


def gen(name):
    return torch.Generator().manual_seed(sum(ord(c) * (i + 1) for i, c in enumerate(name)))


def save(name, key, t):
    a = t.detach().numpy()
    a = a.astype(np.int32) if a.dtype.kind in "iu" else a.astype(np.float32)
    np.save(os.path.join(OUT, f"{name}.{key}.npy"), np.ascontiguousarray(a))


def emit(name, expr, tensors, fn, fd=True, layer=None):
    """tensors: name -> (tensor, kind); fn(**leaves) -> result. layer: (module, {gradc name: torch
    param}) whose parameters are kind-l tensors."""
    assert name not in {l.split("\t")[0] for l in lines}, name
    leaves = {}
    for k, (v, kind) in tensors.items():
        leaf = v.detach().clone()
        if kind == "p":
            leaf.requires_grad_(True)
        leaves[k] = leaf
    out = fn(**leaves)
    g = gen(name + "cot")
    cot = torch.randn(tuple(out.shape), generator=g)
    (out * cot).sum().backward()
    fields = []
    for k, (v, kind) in tensors.items():
        gm = GM_NAME.get(k, k)
        save(name, gm, v)
        fields.append(f"{gm}:{kind}")
        if kind == "p":
            gr = leaves[k].grad
            assert gr is not None and torch.isfinite(gr).all(), f"{name}: no finite grad for {k}"
            save(name, f"grad_{gm}", gr)
    if layer:
        for gname, p in layer.items():
            save(name, gname, p)
            save(name, f"grad_{gname}", p.grad)
            fields.append(f"{gname}:l")
    save(name, "cot", cot)
    save(name, "expected", out)
    expr = re.sub(r"\binput\b", GM_NAME["input"], expr)
    lines.append("\t".join([name, "1" if fd else "0", ",".join(fields), expr]))


def randn(g, *shape, scale=1.0):
    return torch.randn(*shape, generator=g) * scale


# ---- activations ----------------------------------------------------------------------------

# (case, gradc expression, torch function, input scale)
ACTIVATIONS = (
    ("leaky_relu", "leaky_relu(x)", F.leaky_relu, 2.0),
    ("leaky_relu_02", "leaky_relu(x, 0.2)", lambda x: F.leaky_relu(x, 0.2), 2.0),
    ("leaky_relu_neg", "leaky_relu(x, negative_slope=-0.5)", lambda x: F.leaky_relu(x, -0.5), 2.0),
    ("elu", "elu(x)", F.elu, 2.0),
    ("elu_05", "elu(x, alpha=0.5)", lambda x: F.elu(x, 0.5), 2.0),
    ("selu", "selu(x)", F.selu, 2.0),
    ("celu", "celu(x)", F.celu, 2.0),
    ("celu_2", "celu(x, 2.0)", lambda x: F.celu(x, 2.0), 3.0),
    ("mish", "mish(x)", F.mish, 3.0),
    ("hardswish", "hardswish(x)", F.hardswish, 3.0),
    ("hardsigmoid", "hardsigmoid(x)", F.hardsigmoid, 3.0),
    ("hardtanh", "hardtanh(x)", F.hardtanh, 1.5),
    ("hardtanh_args", "hardtanh(x, -2.0, max_val=0.5)", lambda x: F.hardtanh(x, -2.0, 0.5), 2.0),
    ("relu6", "relu6(x)", F.relu6, 5.0),
    ("softsign", "softsign(x)", F.softsign, 3.0),
    ("tanhshrink", "tanhshrink(x)", F.tanhshrink, 2.0),
    ("softplus", "softplus(x)", F.softplus, 4.0),
    ("softplus_beta", "softplus(x, beta=2.0)", lambda x: F.softplus(x, beta=2.0), 4.0),
    ("softplus_threshold", "softplus(x, beta=0.5, threshold=3.0)", lambda x: F.softplus(x, 0.5, 3.0), 6.0),
    ("softplus_pos", "softplus(x, 1.0, 2.0)", lambda x: F.softplus(x, 1.0, 2.0), 3.0),
)

# Exactly on the kinks and far out (where a careless e^x would overflow into inf * 0). torch 1.13's
# vectorised kernels and its scalar loop for a tensor's tail disagree at some kinks (hardswish at
# 3: 1.0 vectorised, 1.5 in the loop); gradc follows the vectorised kernels, which is what every
# kink below is computed by (they are among the first 16 elements).
KINKS = [-50.0, -6.0, -3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 20.0, 30.0, 100.0]


def activations():
    for case, expr, fn, scale in ACTIVATIONS:
        g = gen(case)
        call = (lambda x, fn=fn: fn(x))
        emit(f"act_{case}", expr, {"x": (randn(g, 4, 7, scale=scale), "p")}, call)
        emit(f"act_{case}_kinks", expr, {"x": (torch.tensor(KINKS), "p")}, call, fd=False)
    for case, expr, shape, fn in (
        ("glu", "glu(x)", (4, 8), F.glu),
        ("glu_dim0", "glu(x, dim=0)", (4, 6), lambda x: F.glu(x, 0)),
        ("glu_3d", "glu(x, 1)", (2, 4, 3), lambda x: F.glu(x, 1)),
    ):
        emit(f"act_{case}", expr, {"x": (randn(gen(case), *shape, scale=2.0), "p")}, lambda x, fn=fn: fn(x))


# ---- losses ---------------------------------------------------------------------------------

def red(expr, r):
    return expr if r == "mean" else expr[:-1] + f", reduction=\"{r}\")"


def pm_one(g, *shape):
    return (torch.rand(*shape, generator=g) > 0.5).float() * 2 - 1


def regression():
    for loss, kw, val in (("huber_loss", "delta", 1.0), ("huber_loss", "delta", 0.5),
                          ("smooth_l1_loss", "beta", 1.0), ("smooth_l1_loss", "beta", 0.3),
                          ("smooth_l1_loss", "beta", 0.0)):
        for r in REDUCTIONS:
            name = f"{loss}_{val}_{r}"
            g = gen(name)
            x, t = randn(g, 4, 5, scale=1.5), randn(g, 4, 5)
            arg = "" if val == 1.0 else f", {kw}={val}"
            fn = (lambda input, target, r=r, v=val, loss=loss: getattr(F, loss)(input, target, reduction=r, **{kw: v}))
            emit(name, red(f"{loss}(input, target{arg})", r), {"input": (x, "p"), "target": (t, "p")}, fn)
    # |d| exactly delta (beta) and exactly 0: dyadic values so input - target is exact.
    t = torch.tensor([0.25, -1.0, 2.0, 0.0, 1.5, -0.75])
    x = t + torch.tensor([0.5, -0.5, 0.0, 0.5, -0.25, 2.0])
    for loss, kw in (("huber_loss", "delta"), ("smooth_l1_loss", "beta")):
        emit(f"{loss}_kinks", f"{loss}(input, target, {kw}=0.5, reduction=\"sum\")",
             {"input": (x, "p"), "target": (t, "p")},
             lambda input, target, loss=loss, kw=kw: getattr(F, loss)(input, target, reduction="sum", **{kw: 0.5}),
             fd=False)


def margins():
    for r in REDUCTIONS:
        g = gen(f"soft_margin{r}")
        x, y = randn(g, 4, 5, scale=2.0), pm_one(g, 4, 5)
        emit(f"soft_margin_{r}", red("soft_margin_loss(input, target)", r), {"input": (x, "p"), "target": (y, "i")},
             lambda input, target, r=r: F.soft_margin_loss(input, target, reduction=r))
    big = torch.tensor([[40.0, -40.0, 3.0], [-80.0, 80.0, 0.0]])  # torch overflows past 88
    emit("soft_margin_large", "soft_margin_loss(input, target, reduction=\"sum\")",
         {"input": (big, "p"), "target": (torch.tensor([[1.0, 1.0, -1.0], [1.0, -1.0, 1.0]]), "i")},
         lambda input, target: F.soft_margin_loss(input, target, reduction="sum"))

    for tag in ("plain", "weight_list", "weight_tensor"):
        for r in REDUCTIONS:
            name = f"mlsm_{tag}_{r}"
            g = gen(name)
            x, t = randn(g, 4, 5, scale=2.0), (torch.rand(4, 5, generator=g) > 0.6).float()
            tensors = {"input": (x, "p"), "target": (t, "i")}
            w = None
            expr = "multilabel_soft_margin_loss(input, target)"
            if tag == "weight_list":
                w = torch.tensor([0.5, 1.0, 2.0, 1.5, 0.25])
                expr = "multilabel_soft_margin_loss(input, target, weight=[0.5, 1, 2.0, 1.5, 0.25])"
            elif tag == "weight_tensor":
                w = torch.rand(5, generator=g) + 0.5
                tensors["weight"] = (w, "i")
                expr = "multilabel_soft_margin_loss(input, target, weight=weight)"
            emit(name, red(expr, r), tensors,
                 lambda input, target, weight=None, r=r, w=w: F.multilabel_soft_margin_loss(
                     input, target, weight=w, reduction=r))

    # multilabel_margin: rows with 0, 1, 2 and all targets, a duplicate, entries after the -1.
    t = torch.tensor([[3, 0, -1, 1, 2], [-1, 2, 3, 0, 1], [4, -1, 0, 0, 0], [0, 1, 2, 3, 4], [2, 2, -1, 4, 4]])
    for r in REDUCTIONS:
        name = f"mlm_{r}"
        g = gen(name)
        x = randn(g, 5, 5, scale=1.0)
        emit(name, red("multilabel_margin_loss(input, target)", r), {"input": (x, "p"), "target": (t.int(), "i")},
             lambda input, target, r=r: F.multilabel_margin_loss(input, target.long(), reduction=r))
    g = gen("mlm_1d")
    emit("mlm_1d", "multilabel_margin_loss(input, target)",
         {"input": (randn(g, 6), "p"), "target": (torch.tensor([5, 1, -1, 0, 0, 0]).int(), "i")},
         lambda input, target: F.multilabel_margin_loss(input, target.long()))

    for p, margin, tag in ((1, 1.0, "p1"), (2, 1.0, "p2"), (1, 0.5, "margin"), (2, 0.7, "weight")):
        for r in REDUCTIONS:
            name = f"mm_{tag}_{r}"
            g = gen(name)
            x, t = randn(g, 6, 5), torch.randint(0, 5, (6,), generator=g)
            args = ""
            if p != 1:
                args += f", p={p}"
            if margin != 1.0:
                args += f", margin={margin}"
            w = None
            if tag == "weight":
                w = torch.tensor([1.0, 0.5, 2.0, 1.5, 0.25])
                args += ", weight=[1, 0.5, 2, 1.5, 0.25]"
            emit(name, red(f"multi_margin_loss(input, target{args})", r), {"input": (x, "p"), "target": (t.int(), "i")},
                 lambda input, target, r=r, p=p, m=margin, w=w: F.multi_margin_loss(
                     input, target.long(), p=p, margin=m, weight=w, reduction=r))
    g = gen("mm_1d")
    # A model's inputs have rank >= 1, so the [] target is reshaped from [1] in the model (0-d
    # tensors are saved as [1]).
    emit("mm_1d", "multi_margin_loss(input, reshape(target, []), p=2)",
         {"input": (randn(g, 5), "p"), "target": (torch.tensor(3).int(), "i")},
         lambda input, target: F.multi_margin_loss(input.unsqueeze(0), target.long().unsqueeze(0), p=2))

    for margin in (0.0, 0.3):
        for r in REDUCTIONS:
            name = f"mr_{margin}_{r}"
            g = gen(name)
            x1, x2, y = randn(g, 8), randn(g, 8), pm_one(g, 8)
            arg = f", margin={margin}" if margin else ""
            emit(name, red(f"margin_ranking_loss(input1, input2, target{arg})", r),
                 {"input1": (x1, "p"), "input2": (x2, "p"), "target": (y, "p")},
                 lambda input1, input2, target, r=r, m=margin: F.margin_ranking_loss(
                     input1, input2, target, margin=m, reduction=r))
    # On the hinge: clamp_min keeps the gradient at 0.
    emit("mr_kink", "margin_ranking_loss(input1, input2, target, reduction=\"sum\")",
         {"input1": (torch.tensor([1.0, 2.0, -0.5]), "p"), "input2": (torch.tensor([1.0, 2.0, -0.5]), "p"),
          "target": (torch.tensor([1.0, -1.0, 1.0]), "i")},
         lambda input1, input2, target: F.margin_ranking_loss(input1, input2, target, reduction="sum"), fd=False)

    for margin in (1.0, 0.5):
        for r in REDUCTIONS:
            name = f"he_{margin}_{r}"
            g = gen(name)
            x, y = randn(g, 4, 5, scale=1.5), pm_one(g, 4, 5)
            arg = "" if margin == 1.0 else f", margin={margin}"
            emit(name, red(f"hinge_embedding_loss(input, target{arg})", r), {"input": (x, "p"), "target": (y, "i")},
                 lambda input, target, r=r, m=margin: F.hinge_embedding_loss(input, target, margin=m, reduction=r))

    for margin in (0.0, 0.2):
        for r in REDUCTIONS:
            name = f"ce_emb_{margin}_{r}"
            g = gen(name)
            x1, x2, y = randn(g, 6, 4), randn(g, 6, 4), pm_one(g, 6)
            arg = f", margin={margin}" if margin else ""
            emit(name, red(f"cosine_embedding_loss(input1, input2, target{arg})", r),
                 {"input1": (x1, "p"), "input2": (x2, "p"), "target": (y, "i")},
                 lambda input1, input2, target, r=r, m=margin: F.cosine_embedding_loss(
                     input1, input2, target, margin=m, reduction=r))
    g = gen("ce_emb_1d")
    emit("ce_emb_1d", "cosine_embedding_loss(input1, input2, reshape(target, []), margin=-0.5)",
         {"input1": (randn(g, 5), "p"), "input2": (randn(g, 5), "p"), "target": (torch.tensor(-1.0), "i")},
         lambda input1, input2, target: F.cosine_embedding_loss(
             input1.unsqueeze(0), input2.unsqueeze(0), target.unsqueeze(0), margin=-0.5))

    for tag, p, margin, swap in (("p2", 2.0, 1.0, False), ("p1", 1.0, 0.5, False), ("p3", 3.0, 1.0, False),
                                 ("swap", 2.0, 2.0, True)):
        for r in REDUCTIONS:
            name = f"tm_{tag}_{r}"
            g = gen(name)
            a, pos, neg = randn(g, 5, 4), randn(g, 5, 4), randn(g, 5, 4)
            args = ""
            if p != 2.0:
                args += f", p={p}"
            if margin != 1.0:
                args += f", margin={margin}"
            if swap:
                args += ", swap=true"
            emit(name, red(f"triplet_margin_loss(anchor, positive, negative{args})", r),
                 {"anchor": (a, "p"), "positive": (pos, "p"), "negative": (neg, "p")},
                 lambda anchor, positive, negative, r=r, p=p, m=margin, s=swap: F.triplet_margin_loss(
                     anchor, positive, negative, margin=m, p=p, swap=s, reduction=r))
    g = gen("tm_1d")
    emit("tm_1d", "triplet_margin_loss(anchor, positive, negative, margin=3.0, eps=0.01)",
         {"anchor": (randn(g, 6), "p"), "positive": (randn(g, 6), "p"), "negative": (randn(g, 6), "p")},
         lambda anchor, positive, negative: F.triplet_margin_loss(anchor, positive, negative, margin=3.0, eps=0.01))


def likelihoods():
    for log_input in (True, False):
        for full in (False, True):
            for r in REDUCTIONS:
                name = f"pn_{int(log_input)}{int(full)}_{r}"
                g = gen(name)
                t = torch.tensor([0.0, 1.0, 2.0, 5.0, 0.5, 3.0, 1.5, 8.0, 0.0, 4.0]).reshape(2, 5)
                x = randn(g, 2, 5) if log_input else torch.rand(2, 5, generator=g) * 3 + 0.2
                args = ""
                if not log_input:
                    args += ", log_input=false"
                if full:
                    args += ", full=true"
                # With full, torch's target gradient is NaN at target 0 (0 * log 0 behind its mask);
                # gradc's is finite there, so only input's gradient is compared.
                tk = "i" if full else "p"
                emit(name, red(f"poisson_nll_loss(input, target{args})", r), {"input": (x, "p"), "target": (t, tk)},
                     lambda input, target, r=r, li=log_input, f=full: F.poisson_nll_loss(
                         input, target, log_input=li, full=f, reduction=r))
    for tag, vshape in (("same", (4, 3)), ("less", (4,)), ("col", (4, 1))):
        for full in (False, True):
            for r in REDUCTIONS:
                name = f"gn_{tag}_{int(full)}_{r}"
                g = gen(name)
                x, t = randn(g, 4, 3), randn(g, 4, 3)
                v = torch.rand(*vshape, generator=g) + 0.2
                args = ", full=true" if full else ""
                emit(name, red(f"gaussian_nll_loss(input, target, var{args})", r),
                     {"input": (x, "p"), "target": (t, "p"), "var": (v, "p")},
                     lambda input, target, var, r=r, f=full: F.gaussian_nll_loss(input, target, var, full=f, reduction=r))
    # var below eps: clamped in value, the gradient still var's own.
    g = gen("gn_clamped")
    emit("gn_clamped", "gaussian_nll_loss(input, target, var, eps=0.01, reduction=\"sum\")",
         {"input": (randn(g, 6), "p"), "target": (randn(g, 6), "p"),
          "var": (torch.tensor([1e-4, 0.5, 0.005, 2.0, 0.01, 1e-3]), "p")},
         lambda input, target, var: F.gaussian_nll_loss(input, target, var, eps=0.01, reduction="sum"), fd=False)


def class_first(x):
    return x if x.dim() <= 2 else x.movedim(-1, 1)


def index_target(g, shape, classes, ignore=None, count=0):
    t = torch.randint(0, classes, shape, generator=g)
    flat = t.view(-1)
    for i in range(count):
        flat[(3 * i + 1) % flat.numel()] = ignore
    return t


def weighted():
    W = [0.5, 2.0, 1.0, 3.0, 0.25]
    wl = "[0.5, 2, 1.0, 3, 0.25]"
    # (tag, logits shape, ignore_index (None: default), ignored count, label_smoothing, weight as tensor)
    for tag, shape, ii, nign, ls, wt in (
        ("w", (6, 5), None, 0, 0.0, False),
        ("w_ignore", (6, 5), None, 2, 0.0, False),
        ("w_ignore1", (6, 5), 1, 2, 0.0, True),
        ("w_smooth", (6, 5), None, 0, 0.1, False),
        ("w_smooth_ignore", (6, 5), 2, 2, 0.2, True),
        ("w_3d", (2, 3, 5), None, 1, 0.1, False),
    ):
        for r in REDUCTIONS:
            name = f"cew_{tag}_{r}"
            g = gen(name)
            x = randn(g, *shape, scale=2.0)
            ignore = -100 if ii is None else ii
            t = index_target(g, shape[:-1], shape[-1], ignore, nign)
            tensors = {"input": (x, "p"), "target": (t.int(), "i")}
            args = ", weight=" + ("weight" if wt else wl)
            if wt:
                tensors["weight"] = (torch.tensor(W), "i")
            if ii is not None:
                args += f", ignore_index={ii}"
            if ls:
                args += f", label_smoothing={ls}"
            emit(name, red(f"cross_entropy(input, target{args})", r), tensors,
                 lambda input, target, weight=None, r=r, ignore=ignore, ls=ls: F.cross_entropy(
                     class_first(input), target.long(), weight=torch.tensor(W), ignore_index=ignore,
                     label_smoothing=ls, reduction=r))
            nll_name = f"nllw_{tag}_{r}"
            if ls == 0.0:
                lp = torch.log_softmax(x, -1)
                emit(nll_name, red(f"nll_loss(input, target{args})", r), dict(tensors, input=(lp, "p")),
                     lambda input, target, weight=None, r=r, ignore=ignore: F.nll_loss(
                         class_first(input), target.long(), weight=torch.tensor(W), ignore_index=ignore, reduction=r))
    for ls in (0.0, 0.15):
        for r in REDUCTIONS:
            name = f"cew_prob_{ls}_{r}"
            g = gen(name)
            x, t = randn(g, 6, 5, scale=2.0), torch.softmax(randn(g, 6, 5), -1)
            args = f", weight={wl}" + (f", label_smoothing={ls}" if ls else "")
            emit(name, red(f"cross_entropy(input, target{args})", r), {"input": (x, "p"), "target": (t, "p")},
                 lambda input, target, r=r, ls=ls: F.cross_entropy(input, target, weight=torch.tensor(W),
                                                                   label_smoothing=ls, reduction=r))
    g = gen("bcelw_lists")
    x, t = randn(g, 4, 3, scale=2.0), torch.rand(4, 3, generator=g)
    emit("bcelw_lists", "binary_cross_entropy_with_logits(input, target, weight=[0.5, 1, 2], pos_weight=[3, 1, 0.5])",
         {"input": (x, "p"), "target": (t, "p")},
         lambda input, target: F.binary_cross_entropy_with_logits(
             input, target, weight=torch.tensor([0.5, 1.0, 2.0]), pos_weight=torch.tensor([3.0, 1.0, 0.5])))
    for tag in ("row", "both"):
        for r in REDUCTIONS:
            name = f"bcelw_{tag}_{r}"
            g = gen(name)
            x, t = randn(g, 4, 5, scale=2.0), torch.rand(4, 5, generator=g)
            w = torch.rand(4, 1, generator=g) + 0.5
            tensors = {"input": (x, "p"), "target": (t, "p"), "weight": (w, "i")}
            args = ", weight=weight"
            if tag == "both":
                tensors["pos_weight"] = (torch.rand(5, generator=g) * 3 + 0.25, "i")
                args += ", pos_weight=pos_weight"
            emit(name, red(f"binary_cross_entropy_with_logits(input, target{args})", r), tensors,
                 lambda input, target, weight, pos_weight=None, r=r: F.binary_cross_entropy_with_logits(
                     input, target, weight=weight, pos_weight=pos_weight, reduction=r))


# ---- layers ---------------------------------------------------------------------------------

def layers():
    torch.manual_seed(7)
    for tag, shape, n, init in (("one", (3, 4), 1, 0.25), ("channels", (2, 4, 3), 4, 0.1), ("2d", (5, 4), 4, -0.3)):
        m = nn.PReLU(n, init)
        with torch.no_grad():
            m.weight.copy_(torch.randn(n) * 0.5)
        g = gen(f"prelu_{tag}")
        x = randn(g, *shape)
        x.view(-1)[0] = 0.0  # the kink: torch's gradient there is weight * grad
        args = "" if n == 1 else f", num_parameters={n}"
        args += "" if init == 0.25 else f", init={init}"
        emit(f"prelu_{tag}", f"prelu(x{args}) as act", {"x": (x, "p")}, lambda x, m=m: m(x),
             fd=False, layer={"act.weight": m.weight})
    for tag, s1, s2, out, bias in (("2d", (4, 5), (4, 6), 3, True), ("nobias", (4, 5), (4, 2), 2, False),
                                   ("3d", (2, 3, 5), (2, 3, 4), 3, True), ("1d", (5,), (3,), 2, True)):
        m = nn.Bilinear(s1[-1], s2[-1], out, bias=bias)
        g = gen(f"bilinear_{tag}")
        x1, x2 = randn(g, *s1), randn(g, *s2)
        layer = {"bl.weight": m.weight}
        if bias:
            layer["bl.bias"] = m.bias
        args = "" if bias else ", bias=false"
        emit(f"bilinear_{tag}", f"bilinear(x1, x2, {out}{args}) as bl", {"x1": (x1, "p"), "x2": (x2, "p")},
             lambda x1, x2, m=m: m(x1, x2), layer=layer)


activations()
regression()
margins()
likelihoods()
weighted()
layers()

with open(os.path.join(OUT, "manifest.txt.tmp"), "w") as f:
    f.write("\n".join(lines) + "\n")
os.replace(os.path.join(OUT, "manifest.txt.tmp"), os.path.join(OUT, "manifest.txt"))
print(f"gen_nn: {len(lines)} cases in {OUT}")
