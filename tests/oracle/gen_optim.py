"""gen_optim.py: torch.optim trajectories for every optimizer configuration gradc supports.

Writes OUT/optim/manifest.txt, one configuration a line:

    NAME optimizer=sgd|adam|adamw|rmsprop|adagrad|adamax|nadam|radam|adadelta lr=.. momentum=..
         dampening=.. nesterov=0|1 beta1=.. beta2=.. eps=.. weight_decay=.. schedule=KIND every=..
         gamma=.. warmup=.. total=.. min_lr=.. clip=.. no_decay=PAT,PAT|- (and the KEY=VALUE of
         DEFAULTS below: amsgrad, alpha, centered, lr_decay, init_acc, momentum_decay, rho,
         warmup_offset, milestones, power, t_0, t_mult, one_cycle's arguments, freeze=PAT,..|-,
         lr_scale=PAT:FACTOR,..|-, accumulate=N) params=NAME,NAME steps=S

and per configuration, for each param P: NAME.P.init.npy (the starting value), NAME.P.grads.npy
([S * accumulate, ...] the gradient fed at each run: accumulate micro-batches per step), NAME.P.after.npy ([S, ...] the param after each step)
and NAME.P.<slot>.npy (torch's optimizer state after the last step: momentum_buffer, exp_avg,
exp_avg_sq); NAME.lr.npy and NAME.grad_norm.npy ([S] float64: the rate each step used and the
global gradient norm before clipping). Gradients are fixed data, not functions of the params, so
the comparison isolates the update rule. A step is torch's order: set .grad (with accumulation,
.grad = the sum of grad / N over the N micro-batches, as (loss / N).backward() each time),
clip_grad_norm_, optimizer.step(). The first wave's schedules (constant, step, linear, cosine) set
every group's lr before the step with the train block's formulas; the others are torch's own
scheduler classes (ExponentialLR, MultiStepLR, PolynomialLR, CosineAnnealingWarmRestarts,
OneCycleLR), stepped after optimizer.step(). lr_scale groups are torch param groups with their
own lr (OneCycleLR: a max_lr per group); frozen params get requires_grad_(False) and no .grad.

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


MANUAL_SCHEDULES = ("constant", "step", "linear", "cosine")


def schedule_lr(cfg, s, lr):
    kind = cfg["schedule"]
    if kind == "constant":
        return lr
    if kind == "step":
        return lr * cfg["gamma"] ** (s // cfg["every"])
    warmup, total = cfg["warmup"], cfg["total"]
    if s < warmup:
        return lr * (s + cfg["warmup_offset"]) / warmup
    span = max(1, total - warmup)
    if kind == "linear":
        return lr * max(0.0, (total - s) / span)
    p = min(max((s - warmup) / span, 0.0), 1.0)
    return cfg["min_lr"] + (lr - cfg["min_lr"]) * (1 + math.cos(math.pi * p)) / 2


DEFAULTS = dict(lr=0.01, momentum=0.0, dampening=0.0, nesterov=0, beta1=0.9, beta2=0.999, eps=1e-8,
                weight_decay=0.0, schedule="constant", every=1, gamma=0.1, warmup=0, total=1,
                min_lr=0.0, clip=0.0, no_decay="-",
                amsgrad=0, alpha=0.99, centered=0, lr_decay=0.0, init_acc=0.0, momentum_decay=4e-3, rho=0.9,
                warmup_offset=1, milestones="-", power=1.0, t_0=1, t_mult=1, max_lr=0.0, pct_start=0.3,
                anneal="cos", div_factor=25.0, final_div_factor=1e4, three_phase=0, cycle_momentum=1,
                base_momentum=0.85, max_momentum=0.95, freeze="-", lr_scale="-", accumulate=1)

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
    # Wave 2 (issue 16): the other optimizers and their options.
    ("adam_amsgrad", dict(optimizer="adam", lr=0.02, amsgrad=1, weight_decay=0.01)),
    ("adamw_amsgrad", dict(optimizer="adamw", lr=0.02, amsgrad=1, beta2=0.9, weight_decay=0.1)),
    ("rmsprop", dict(optimizer="rmsprop", lr=0.01)),
    ("rmsprop_momentum", dict(optimizer="rmsprop", lr=0.005, alpha=0.9, momentum=0.9, weight_decay=0.01)),
    ("rmsprop_centered", dict(optimizer="rmsprop", lr=0.005, centered=1, eps=1e-6)),
    ("rmsprop_centered_momentum", dict(optimizer="rmsprop", lr=0.002, centered=1, momentum=0.5,
                                       weight_decay=0.05, no_decay="*bias")),
    ("adagrad", dict(optimizer="adagrad", lr=0.05, eps=1e-10)),
    ("adagrad_decay", dict(optimizer="adagrad", lr=0.1, lr_decay=0.05, weight_decay=0.01, init_acc=0.5)),
    ("adamax", dict(optimizer="adamax", lr=0.01)),
    ("adamax_weight_decay", dict(optimizer="adamax", lr=0.02, beta1=0.8, beta2=0.99, weight_decay=0.05)),
    ("nadam", dict(optimizer="nadam", lr=0.01)),
    ("nadam_weight_decay", dict(optimizer="nadam", lr=0.02, beta2=0.99, weight_decay=0.02, momentum_decay=0.01)),
    ("radam", dict(optimizer="radam", lr=0.01)),
    ("radam_fast_rect", dict(optimizer="radam", lr=0.02, beta1=0.8, beta2=0.95, weight_decay=0.01)),
    ("adadelta", dict(optimizer="adadelta", lr=1.0)),
    ("adadelta_weight_decay", dict(optimizer="adadelta", lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    # Wave 2 schedules, torch's scheduler classes.
    ("sched_exponential", dict(optimizer="sgd", lr=0.1, momentum=0.9, schedule="exponential", gamma=0.9)),
    ("sched_multi_step", dict(optimizer="adam", lr=0.02, schedule="multi_step", milestones="4,10,10,25",
                              gamma=0.5)),
    ("sched_polynomial", dict(optimizer="sgd", lr=0.1, schedule="polynomial", total=20, power=2.0)),
    ("sched_polynomial_root", dict(optimizer="adamw", lr=0.02, schedule="polynomial", total=40, power=0.5)),
    ("sched_cosine_restarts", dict(optimizer="adamw", lr=0.02, schedule="cosine_restarts", t_0=7, min_lr=1e-3)),
    ("sched_cosine_restarts_mult", dict(optimizer="sgd", lr=0.1, momentum=0.9, schedule="cosine_restarts",
                                        t_0=3, t_mult=2)),
    ("sched_linear_offset0", dict(optimizer="adamw", lr=0.02, schedule="linear", warmup=5, total=28,
                                  warmup_offset=0)),
    ("sched_cosine_offset0", dict(optimizer="sgd", lr=0.1, momentum=0.9, schedule="cosine", warmup=4, total=30,
                                  min_lr=0.01, warmup_offset=0)),
    ("one_cycle_sgd", dict(optimizer="sgd", lr=0.5, schedule="one_cycle", max_lr=0.1, total=32)),
    ("one_cycle_sgd_nesterov_three", dict(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=1, weight_decay=0.01,
                                          schedule="one_cycle", max_lr=0.05, total=31, three_phase=1)),
    ("one_cycle_sgd_linear_dampening", dict(optimizer="sgd", lr=0.1, momentum=0.5, dampening=0.2,
                                            schedule="one_cycle", max_lr=0.08, total=40, anneal="linear",
                                            pct_start=0.25, base_momentum=0.8, max_momentum=0.9)),
    ("one_cycle_adam", dict(optimizer="adam", lr=1.0, schedule="one_cycle", max_lr=0.02, total=32)),
    ("one_cycle_adamw_three_linear", dict(optimizer="adamw", lr=0.02, weight_decay=0.1, schedule="one_cycle",
                                          max_lr=0.03, total=33, three_phase=1, anneal="linear",
                                          div_factor=10.0, final_div_factor=100.0)),
    ("one_cycle_nadam", dict(optimizer="nadam", schedule="one_cycle", max_lr=0.02, total=35)),
    ("one_cycle_radam", dict(optimizer="radam", beta2=0.95, schedule="one_cycle", max_lr=0.02, total=32)),
    ("one_cycle_adamax", dict(optimizer="adamax", schedule="one_cycle", max_lr=0.02, total=32, pct_start=0.5)),
    ("one_cycle_rmsprop", dict(optimizer="rmsprop", lr=0.01, schedule="one_cycle", max_lr=0.005, total=32)),
    ("one_cycle_adagrad_no_momentum", dict(optimizer="adagrad", schedule="one_cycle", max_lr=0.1, total=32,
                                           cycle_momentum=0)),
    ("one_cycle_sgd_no_momentum", dict(optimizer="sgd", lr=0.1, schedule="one_cycle", max_lr=0.1, total=32,
                                       cycle_momentum=0)),
    # freeze, lr_scale, gradient accumulation.
    ("freeze_adam", dict(optimizer="adam", lr=0.01, weight_decay=0.01, freeze="norm.*")),
    ("freeze_sgd_two", dict(optimizer="sgd", lr=0.1, momentum=0.9, freeze="fc.bias,norm.weight")),
    ("lr_scale_sgd", dict(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=0.05, no_decay="*bias",
                          lr_scale="fc.*:10.0")),
    ("lr_scale_adamw_cosine", dict(optimizer="adamw", lr=0.01, weight_decay=0.1, schedule="cosine", warmup=3,
                                   total=30, min_lr=1e-3, lr_scale="norm.*:0.1,*bias:2")),
    ("lr_scale_one_cycle", dict(optimizer="adam", schedule="one_cycle", max_lr=0.02, total=32,
                                lr_scale="fc.weight:0.5")),
    ("accumulate_adam_clip", dict(optimizer="adam", lr=0.01, clip=1.0, accumulate=4)),
    ("accumulate_sgd", dict(optimizer="sgd", lr=0.05, momentum=0.9, accumulate=3, schedule="step", every=4,
                            gamma=0.5)),
    ("accumulate_rmsprop_freeze", dict(optimizer="rmsprop", lr=0.01, accumulate=2, clip=0.5, freeze="fc.bias")),
]


def patterns(text):
    return [] if text == "-" else text.split(",")


def matches(name, pats):
    return any(fnmatch.fnmatchcase(name, pat) for pat in pats)


def lr_factor(cfg, name):
    for item in patterns(cfg["lr_scale"]):
        pat, factor = item.rsplit(":", 1)
        if fnmatch.fnmatchcase(name, pat):
            return float(factor)
    return 1.0


def make_groups(cfg, params, names):
    """One torch param group per (no_decay, lr factor) pair, in first-appearance order."""
    no_decay = patterns(cfg["no_decay"])
    groups = {}
    for p, n in zip(params, names):
        if not p.requires_grad:
            continue
        key = (matches(n, no_decay), lr_factor(cfg, n))
        if key not in groups:
            group = {"params": [], "lr": cfg["lr"] * key[1]}
            if key[0]:
                group["weight_decay"] = 0.0
            groups[key] = group
        groups[key]["params"].append(p)
    return list(groups.values()), [k[1] for k in groups]


def make_optimizer(cfg, groups):
    kind, betas, wd = cfg["optimizer"], (cfg["beta1"], cfg["beta2"]), cfg["weight_decay"]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg["momentum"], dampening=cfg["dampening"],
                               weight_decay=wd, nesterov=bool(cfg["nesterov"]), foreach=False)
    if kind in ("adam", "adamw"):
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return cls(groups, lr=cfg["lr"], betas=betas, eps=cfg["eps"], weight_decay=wd,
                   amsgrad=bool(cfg["amsgrad"]), foreach=False)
    if kind == "rmsprop":
        return torch.optim.RMSprop(groups, lr=cfg["lr"], alpha=cfg["alpha"], eps=cfg["eps"], weight_decay=wd,
                                   momentum=cfg["momentum"], centered=bool(cfg["centered"]), foreach=False)
    if kind == "adagrad":
        return torch.optim.Adagrad(groups, lr=cfg["lr"], lr_decay=cfg["lr_decay"], weight_decay=wd,
                                   initial_accumulator_value=cfg["init_acc"], eps=cfg["eps"], foreach=False)
    if kind == "adamax":
        return torch.optim.Adamax(groups, lr=cfg["lr"], betas=betas, eps=cfg["eps"], weight_decay=wd,
                                  foreach=False)
    if kind == "nadam":
        return torch.optim.NAdam(groups, lr=cfg["lr"], betas=betas, eps=cfg["eps"], weight_decay=wd,
                                 momentum_decay=cfg["momentum_decay"], foreach=False)
    if kind == "radam":
        return torch.optim.RAdam(groups, lr=cfg["lr"], betas=betas, eps=cfg["eps"], weight_decay=wd,
                                 foreach=False)
    assert kind == "adadelta"
    return torch.optim.Adadelta(groups, lr=cfg["lr"], rho=cfg["rho"], eps=cfg["eps"], weight_decay=wd,
                                foreach=False)


def make_scheduler(cfg, opt, factors):
    kind = cfg["schedule"]
    sched = torch.optim.lr_scheduler
    if kind in MANUAL_SCHEDULES:
        return None
    if kind == "exponential":
        return sched.ExponentialLR(opt, gamma=cfg["gamma"])
    if kind == "multi_step":
        return sched.MultiStepLR(opt, milestones=[int(m) for m in patterns(cfg["milestones"])],
                                 gamma=cfg["gamma"])
    if kind == "polynomial":
        return sched.PolynomialLR(opt, total_iters=cfg["total"], power=cfg["power"])
    if kind == "cosine_restarts":
        return sched.CosineAnnealingWarmRestarts(opt, T_0=cfg["t_0"], T_mult=cfg["t_mult"], eta_min=cfg["min_lr"])
    assert kind == "one_cycle"
    return sched.OneCycleLR(opt, max_lr=[cfg["max_lr"] * f for f in factors], total_steps=cfg["total"],
                            pct_start=cfg["pct_start"], anneal_strategy=cfg["anneal"],
                            cycle_momentum=bool(cfg["cycle_momentum"]), base_momentum=cfg["base_momentum"],
                            max_momentum=cfg["max_momentum"], div_factor=cfg["div_factor"],
                            final_div_factor=cfg["final_div_factor"], three_phase=bool(cfg["three_phase"]))


def run(name, overrides, index):
    cfg = dict(DEFAULTS, **overrides)
    gen = torch.Generator().manual_seed(1234 + index)
    names = [n for n, _ in PARAMS]
    init = {n: torch.randn(*shape, generator=gen) for n, shape in PARAMS}
    runs = STEPS * cfg["accumulate"]
    # Gradient sizes vary step to step so clipping is active on some steps and not on others.
    scales = torch.rand(runs, generator=gen) * 2.0 + 0.1
    grads = {n: torch.randn(runs, *shape, generator=gen) * scales.view(-1, *([1] * len(shape)))
             for n, shape in PARAMS}
    params = [torch.nn.Parameter(init[n].clone()) for n in names]
    frozen = patterns(cfg["freeze"])
    for p, n in zip(params, names):
        if matches(n, frozen):
            p.requires_grad_(False)
    trained = [p for p in params if p.requires_grad]
    groups, factors = make_groups(cfg, params, names)
    opt = make_optimizer(cfg, groups)
    scheduler = make_scheduler(cfg, opt, factors)
    # The logged rate is the one of parameters without an lr_scale factor.
    base = factors.index(1.0) if 1.0 in factors else None
    after = {n: [] for n in names}
    lrs, norms = [], []
    n_acc = cfg["accumulate"]
    for s in range(STEPS):
        if scheduler is None:
            for group, factor in zip(opt.param_groups, factors):
                group["lr"] = schedule_lr(cfg, s, cfg["lr"] * factor)
        for p, n in zip(params, names):
            if not p.requires_grad:
                continue
            p.grad = None
            for i in range(n_acc):
                g = grads[n][s * n_acc + i] / n_acc if n_acc > 1 else grads[n][s].clone()
                p.grad = g if p.grad is None else p.grad + g
        if cfg["clip"] > 0:
            norm = torch.nn.utils.clip_grad_norm_(trained, cfg["clip"])
        else:
            norm = torch.norm(torch.stack([torch.norm(p.grad.detach(), 2.0) for p in trained]), 2.0)
        lrs.append(opt.param_groups[base]["lr"] if base is not None else float("nan"))
        opt.step()
        if scheduler is not None and s + 1 < STEPS:  # OneCycleLR refuses to step past total
            scheduler.step()
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
