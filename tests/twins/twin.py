"""twin.py: the harness shared by the PyTorch twins of the example models (tests/twins/<name>.py).

A twin rebuilds one examples/<name>/model.gm with torch.nn modules whose state_dict names are
gradc's parameter names, and trains it the way `gradc train --no-shuffle` does, so the two loss
curves can be compared step by step. This module does the parts every twin shares:

- reads the model file's consts (with the same --set overrides gradc gets), so a twin follows the
  sizes written in the .gm instead of repeating them;
- writes the initial state_dict as a safetensors file for `gradc train --init` (by hand: Debian
  has no `safetensors` package);
- feeds batches in gradc's order: step k reads examples (k mod E)*B .. +B-1, E = floor(N / B)
  steps per epoch, the leftover examples dropped (a DataLoader with drop_last=True, no shuffle);
- runs torch's step in the order the model language prescribes: forward, loss, backward,
  clip_grad_norm_, the schedule's rate set on every param group, optimizer.step();
- writes OUT/torch.csv (step,loss,lr,grad_norm) and OUT/gradc_args, the arguments gradc must get
  (one a line: --steps, --set and --data or --text), for tests/twins/run_twin.sh.

Usage of a twin: python3 tests/twins/<name>.py OUT_DIR
"""
import ast
import fnmatch
import json
import math
import os
import struct
import sys

import numpy as np
import torch

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


# ---- consts of a model file ----

def _const_div(a, b):
    """The model language's `/` on consts: int / int is an int when it divides exactly."""
    if b == 0:
        raise ValueError("division by zero in a const")
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b
    return a / b


def _eval_const(node, env):
    if isinstance(node, ast.Expression):
        return _eval_const(node.body, env)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval_const(node.operand, env)
    if isinstance(node, ast.BinOp):
        a, b = _eval_const(node.left, env), _eval_const(node.right, env)
        ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
               ast.Div: lambda: _const_div(a, b)}
        if type(node.op) in ops:
            return ops[type(node.op)]()
    raise ValueError("unsupported const expression: %s" % ast.dump(node))


def override_value(text):
    """--set's rule: an integral value becomes an int, any other a float."""
    v = float(text)
    return int(v) if v.is_integer() else v


def read_consts(gm_path, sets):
    """Top-level `const NAME = EXPR` lines of a model file, evaluated in order with overrides."""
    env = {}
    with open(gm_path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line.startswith("const "):
                continue
            name, expr = (s.strip() for s in line[len("const "):].split("=", 1))
            if name in sets:
                env[name] = override_value(str(sets[name]))
            else:
                env[name] = _eval_const(ast.parse(expr, mode="eval"), env)
    unknown = set(sets) - set(env)
    if unknown:
        raise ValueError("%s has no const %s" % (gm_path, ", ".join(sorted(unknown))))
    return env


# ---- safetensors ----

def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: float32, int32 or int64 torch tensor} (int64: batch norm's
    num_batches_tracked, as torch saves it). The layout of the safetensors library:
    8-byte little-endian header length, compact JSON header ("__metadata__" first), padded with
    spaces to a multiple of 8, then the raw little-endian data in header order."""
    codes = {torch.float32: ("F32", "f"), torch.int32: ("I32", "i"), torch.int64: ("I64", "q")}
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    for name in sorted(tensors):
        x = tensors[name].detach().contiguous()
        dtype, code = codes[x.dtype]
        flat = x.reshape(-1).tolist()
        data = struct.pack("<%d%s" % (len(flat), code), *flat)
        header[name] = {"dtype": dtype, "shape": list(x.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


# ---- the train block ----

def schedule_lr(cfg, s):
    """The rate of update s (0-based), as the model language defines each schedule."""
    lr, kind = cfg["lr"], cfg.get("schedule", "constant")
    if kind == "constant":
        return lr
    if kind == "step":
        return lr * cfg["gamma"] ** (s // cfg["every"])
    warmup, total = cfg.get("warmup", 0), cfg["total"]
    if s < warmup:
        return lr * (s + 1) / warmup
    span = max(1, total - warmup)
    if kind == "linear":
        return lr * max(0.0, (total - s) / span)
    min_lr = cfg.get("min_lr", 0.0)
    p = min(max((s - warmup) / span, 0.0), 1.0)
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * p)) / 2


def make_optimizer(model, cfg):
    """torch.optim with gradc's defaults; no_decay globs make a second group with weight_decay 0."""
    kind = cfg["optimizer"]
    patterns = cfg.get("no_decay", [])
    named = list(model.named_parameters())
    decay = [p for n, p in named if not any(fnmatch.fnmatchcase(n, pat) for pat in patterns)]
    plain = [p for n, p in named if any(fnmatch.fnmatchcase(n, pat) for pat in patterns)]
    groups = [{"params": decay}] if decay else []
    if plain:
        groups.append({"params": plain, "weight_decay": 0.0})
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg.get("momentum", 0.0),
                               dampening=cfg.get("dampening", 0.0), weight_decay=cfg.get("weight_decay", 0.0),
                               nesterov=cfg.get("nesterov", False), foreach=False)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    default_wd = 0.01 if kind == "adamw" else 0.0
    return cls(groups, lr=cfg.get("lr", 1e-3), betas=tuple(cfg.get("betas", (0.9, 0.999))),
               eps=cfg.get("eps", 1e-8), weight_decay=cfg.get("weight_decay", default_wd), foreach=False)


# ---- the twin ----

class Twin:
    """One example's twin run. `sets` are --set overrides given to both sides."""

    def __init__(self, name, steps, sets=None):
        if len(sys.argv) != 2:
            print("usage: %s OUT_DIR" % sys.argv[0], file=sys.stderr)
            sys.exit(2)
        self.name = name
        self.out = sys.argv[1]
        os.makedirs(self.out, exist_ok=True)
        self.steps = steps
        self.sets = dict(sets or {})
        self.example_dir = os.path.join(SOURCE_DIR, "examples", name)
        self.consts = read_consts(os.path.join(self.example_dir, "model.gm"), self.sets)
        torch.set_num_threads(1)  # the machine is shared; the models are small

    def load(self, relpath):
        """An example's .npy file (path relative to examples/<name>/), and its absolute path."""
        path = os.path.normpath(os.path.join(self.example_dir, relpath))
        return np.load(path), path

    def run(self, model, data, loss_fn, optimizer, gradc_text=None):
        """data: {input name: path relative to examples/<name>/}; loss_fn(model, batch) -> scalar
        loss, batch being {input name: tensor} (i32 arrays as int64 for torch's indexing);
        optimizer: the train block as a dict (optimizer, lr, ..., schedule, warmup, total, every,
        gamma, min_lr, clip, no_decay). gradc_text (a path like data's) makes gradc read that text
        with --text instead of the arrays, which must then be the text's byte windows."""
        batch_size = self.consts["batch"]
        arrays, args = {}, ["--steps", str(self.steps)]
        # GC_TWIN_PRECISION=bf16: mixed precision on both sides, torch's forward under autocast
        # (its backward products are bf16 too), gradc with --precision bf16.
        bf16 = os.environ.get("GC_TWIN_PRECISION", "f32") == "bf16"
        if bf16:
            args += ["--precision", "bf16"]
        for key, value in sorted(self.sets.items()):
            args += ["--set", "%s=%s" % (key, value)]
        for input_name, rel in data.items():
            array, path = self.load(rel)
            arrays[input_name] = torch.from_numpy(array.astype(np.int64) if array.dtype.kind == "i" else array)
            if gradc_text is None:
                args += ["--data", "%s=%s" % (input_name, path)]
        if gradc_text is not None:
            args += ["--text", os.path.normpath(os.path.join(self.example_dir, gradc_text))]
        sizes = {len(a) for a in arrays.values()}
        if len(sizes) != 1:
            raise ValueError("%s: the data arrays hold different numbers of examples" % self.name)
        per_epoch = sizes.pop() // batch_size

        write_safetensors(os.path.join(self.out, "init.safetensors"),
                          {k: v for k, v in model.state_dict().items()}, {"format": "pt"})
        with open(os.path.join(self.out, "gradc_args"), "w") as f:
            f.write("\n".join(args) + "\n")

        opt = make_optimizer(model, optimizer)
        params = [p for p in model.parameters()]
        rows = []
        model.train()
        for s in range(self.steps):
            begin = (s % per_epoch) * batch_size
            batch = {k: a[begin:begin + batch_size] for k, a in arrays.items()}
            opt.zero_grad(set_to_none=True)
            if bf16:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    loss = loss_fn(model, batch)
                loss = loss.float()
            else:
                loss = loss_fn(model, batch)
            loss.backward()
            with_grad = [p for p in params if p.grad is not None]
            if optimizer.get("clip", 0) > 0:
                norm = torch.nn.utils.clip_grad_norm_(with_grad, optimizer["clip"])
            else:
                norm = torch.norm(torch.stack([torch.norm(p.grad.detach(), 2.0) for p in with_grad]), 2.0)
            lr = schedule_lr(optimizer, s)
            for group in opt.param_groups:
                group["lr"] = lr
            opt.step()
            rows.append((s + 1, float(loss), lr, float(norm)))
        # The trained state_dict, for check_checkpoint.py: gradc's checkpoint must hold exactly these
        # keys and shapes (what load_state_dict(strict=True) demands) with the same values.
        write_safetensors(os.path.join(self.out, "torch_final.safetensors"),
                          {k: v for k, v in model.state_dict().items()}, {"format": "pt"})
        with open(os.path.join(self.out, "torch.csv"), "w") as f:
            f.write("step,loss,lr,grad_norm\n")
            for row in rows:
                f.write("%d,%r,%r,%r\n" % row)
        return rows
