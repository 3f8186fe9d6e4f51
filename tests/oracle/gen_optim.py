"""gen_optim.py: torch.optim trajectories for every optimizer configuration gradc supports.

Writes OUT/optim/manifest.txt, one configuration a line:

    NAME optimizer=sgd|adam|adamw lr=.. momentum=.. dampening=.. nesterov=0|1 beta1=.. beta2=..
         eps=.. weight_decay=.. schedule=constant|step|linear|cosine every=.. gamma=.. warmup=..
         total=.. min_lr=.. clip=.. no_decay=PAT,PAT|- params=NAME,NAME steps=S

and per configuration, for each param P: NAME.P.init.npy (the starting value), NAME.P.grads.npy
([S, ...] the gradient fed at each step), NAME.P.after.npy ([S, ...] the param after each step)
and NAME.P.<slot>.npy (torch's optimizer state after the last step: momentum_buffer, exp_avg,
exp_avg_sq); NAME.lr.npy and NAME.grad_norm.npy ([S] float64: the rate each step used and the
global gradient norm before clipping). Gradients are fixed data, not functions of the params, so
the comparison isolates the update rule. A step is torch's order: set .grad, clip_grad_norm_,
optimizer.step(); the schedule sets every group's lr before the step, with the formulas of the
model language's train block.

Usage: gen_optim.py OUT_DIR. Deterministic.
"""
import fnmatch
import math
import os
import sys

import numpy as np
import torch

OUT = os.path.join(sys.argv[1], "optim")
os.makedirs(OUT, exist_ok=True)
STEPS = 32

# Dotted names as the model language gives them, so no_decay globs have something to match.
PARAMS = (("fc.weight", (3, 4)), ("fc.bias", (3,)), ("norm.weight", (2, 3)))


def schedule_lr(cfg, s):
    lr, kind = cfg["lr"], cfg["schedule"]
    if kind == "constant":
        return lr
    if kind == "step":
        return lr * cfg["gamma"] ** (s // cfg["every"])
    warmup, total = cfg["warmup"], cfg["total"]
    if s < warmup:
        return lr * (s + 1) / warmup
    span = max(1, total - warmup)
    if kind == "linear":
        return lr * max(0.0, (total - s) / span)
    p = min(max((s - warmup) / span, 0.0), 1.0)
    return cfg["min_lr"] + (lr - cfg["min_lr"]) * (1 + math.cos(math.pi * p)) / 2


DEFAULTS = dict(lr=0.01, momentum=0.0, dampening=0.0, nesterov=0, beta1=0.9, beta2=0.999, eps=1e-8,
                weight_decay=0.0, schedule="constant", every=1, gamma=0.1, warmup=0, total=1,
                min_lr=0.0, clip=0.0, no_decay="-")

CONFIGS = [
    ("sgd_plain", dict(optimizer="sgd", lr=0.1)),
    ("sgd_momentum", dict(optimizer="sgd", lr=0.05, momentum=0.9)),
    ("sgd_dampening", dict(optimizer="sgd", lr=0.05, momentum=0.9, dampening=0.3)),
    ("sgd_nesterov", dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=1)),
    ("sgd_weight_decay", dict(optimizer="sgd", lr=0.05, momentum=0.8, weight_decay=0.01)),
    ("sgd_weight_decay_plain", dict(optimizer="sgd", lr=0.1, weight_decay=0.1)),
    ("sgd_no_decay", dict(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=0.1,
                          no_decay="*bias,norm?weight")),
    ("adam", dict(optimizer="adam", lr=0.01)),
    ("adam_weight_decay", dict(optimizer="adam", lr=0.01, weight_decay=0.05)),
    ("adam_betas", dict(optimizer="adam", lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6)),
    ("adam_beta1_zero", dict(optimizer="adam", lr=0.01, beta1=0.0, beta2=0.9)),
    ("adam_no_decay", dict(optimizer="adam", lr=0.01, weight_decay=0.05, no_decay="fc.*")),
    ("adamw", dict(optimizer="adamw", lr=0.01, weight_decay=0.01)),
    ("adamw_strong_decay", dict(optimizer="adamw", lr=0.02, weight_decay=0.5)),
    ("adamw_no_decay", dict(optimizer="adamw", lr=0.01, weight_decay=0.1, no_decay="*.bias,*norm*")),
    ("sched_step", dict(optimizer="sgd", lr=0.1, momentum=0.5, schedule="step", every=5, gamma=0.5)),
    ("sched_linear", dict(optimizer="adam", lr=0.02, schedule="linear", warmup=5, total=25)),
    ("sched_linear_nowarmup", dict(optimizer="sgd", lr=0.1, schedule="linear", total=30)),
    ("sched_cosine", dict(optimizer="adamw", lr=0.02, weight_decay=0.1, schedule="cosine", warmup=4,
                          total=28, min_lr=1e-3)),
    ("sched_cosine_nowarmup", dict(optimizer="sgd", lr=0.1, momentum=0.9, schedule="cosine", total=20)),
    ("clip_sgd", dict(optimizer="sgd", lr=0.05, momentum=0.9, clip=1.0)),
    ("clip_adam", dict(optimizer="adam", lr=0.01, weight_decay=0.01, clip=2.5)),
    ("gpt_recipe", dict(optimizer="adamw", lr=3e-3, beta2=0.95, weight_decay=0.1, schedule="cosine",
                        warmup=3, total=30, clip=1.0, no_decay="*bias,norm.*")),
]


def make_optimizer(cfg, params, names):
    patterns = [] if cfg["no_decay"] == "-" else cfg["no_decay"].split(",")
    decay = [p for p, n in zip(params, names) if not any(fnmatch.fnmatchcase(n, pat) for pat in patterns)]
    no_decay = [p for p, n in zip(params, names) if any(fnmatch.fnmatchcase(n, pat) for pat in patterns)]
    groups = [{"params": decay}] if decay else []
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    kind = cfg["optimizer"]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg["momentum"], dampening=cfg["dampening"],
                               weight_decay=cfg["weight_decay"], nesterov=bool(cfg["nesterov"]),
                               foreach=False)
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(groups, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"],
               weight_decay=cfg["weight_decay"], foreach=False)


def run(name, overrides, index):
    cfg = dict(DEFAULTS, **overrides)
    gen = torch.Generator().manual_seed(1234 + index)
    names = [n for n, _ in PARAMS]
    init = {n: torch.randn(*shape, generator=gen) for n, shape in PARAMS}
    # Gradient sizes vary step to step so clipping is active on some steps and not on others.
    scales = torch.rand(STEPS, generator=gen) * 2.0 + 0.1
    grads = {n: torch.randn(STEPS, *shape, generator=gen) * scales.view(-1, *([1] * len(shape)))
             for n, shape in PARAMS}
    params = [torch.nn.Parameter(init[n].clone()) for n in names]
    opt = make_optimizer(cfg, params, names)
    after = {n: [] for n in names}
    lrs, norms = [], []
    for s in range(STEPS):
        lr = schedule_lr(cfg, s)
        for group in opt.param_groups:
            group["lr"] = lr
        for p, n in zip(params, names):
            p.grad = grads[n][s].clone()
        if cfg["clip"] > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, cfg["clip"])
        else:
            norm = torch.norm(torch.stack([torch.norm(p.grad.detach(), 2.0) for p in params]), 2.0)
        opt.step()
        lrs.append(lr)
        norms.append(float(norm))
        for p, n in zip(params, names):
            after[n].append(p.detach().clone())
    for p, n in zip(params, names):
        np.save(os.path.join(OUT, f"{name}.{n}.init.npy"), init[n].numpy().astype(np.float32))
        np.save(os.path.join(OUT, f"{name}.{n}.grads.npy"), grads[n].numpy().astype(np.float32))
        np.save(os.path.join(OUT, f"{name}.{n}.after.npy"), torch.stack(after[n]).numpy().astype(np.float32))
        for slot, value in opt.state[p].items():
            if slot != "step" and value is not None:
                np.save(os.path.join(OUT, f"{name}.{n}.{slot}.npy"), value.numpy().astype(np.float32))
    np.save(os.path.join(OUT, f"{name}.lr.npy"), np.array(lrs, dtype=np.float64))
    np.save(os.path.join(OUT, f"{name}.grad_norm.npy"), np.array(norms, dtype=np.float64))
    fields = [name] + [f"{k}={cfg[k]}" for k in ["optimizer"] + list(DEFAULTS)]
    fields += ["params=" + ",".join(names), f"steps={STEPS}"]
    return " ".join(fields)


lines = [run(name, overrides, i) for i, (name, overrides) in enumerate(CONFIGS)]
tmp = os.path.join(OUT, "manifest.txt.tmp")
with open(tmp, "w") as f:
    f.write("\n".join(lines) + "\n")
os.replace(tmp, os.path.join(OUT, "manifest.txt"))
print(f"gen_optim: {len(lines)} configurations, {STEPS} steps each, in {OUT}")
