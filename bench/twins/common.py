"""common.py: what the PyTorch twins of the reference models (bench/twins/m1.py, m2.py, m3.py) share.

A twin builds one bench/<model>.gm in torch, trains it on the same .npy files gradc gets, and
prints one line of JSON: the median ms per step after warmup, every step's time and the peak RSS.
The thread settings are the ones the spec found best for torch 1.13 on 2 cores (two spinning pools
otherwise fight: OMP_WAIT_POLICY=PASSIVE, OPENBLAS_NUM_THREADS=2, torch.set_num_threads(2)); they
are set here before torch is imported, so a twin run by hand measures the same thing as one run by
bench/run.sh. The runner also sets glibc's MALLOC_MMAP_MAX_=0 and MALLOC_TRIM_THRESHOLD_ in the
twin's environment (glibc reads them at start, so a twin cannot): see docs/benchmarks.md, pitfalls.

Usage of a twin: python3 bench/twins/mN.py --data-dir DIR [--steps N] [--warmup W] [--threads T]
                 [--set NAME=VALUE]...
"""
import argparse
import ast
import json
import os
import resource
import statistics
import sys
import time

BENCH_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def _eval_const(node, env):
    """Integer arithmetic on consts, as the model language does it for the sizes used here."""
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
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        if isinstance(node.op, ast.Div):
            return a // b if isinstance(a, int) and isinstance(b, int) and a % b == 0 else a / b
    raise ValueError("unsupported const expression: %s" % ast.dump(node))


def _number(text):
    v = float(text)
    return int(v) if v.is_integer() else v


def read_consts(model, sets):
    """The top-level consts of bench/<model>.gm with --set overrides, so a twin never repeats sizes."""
    env = {}
    with open(os.path.join(BENCH_DIR, model + ".gm"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line.startswith("const "):
                continue
            name, expr = (s.strip() for s in line[len("const "):].split("=", 1))
            env[name] = _number(sets[name]) if name in sets else _eval_const(ast.parse(expr, mode="eval"), env)
    unknown = sorted(set(sets) - set(env))
    if unknown:
        raise SystemExit("%s.gm has no const %s" % (model, ", ".join(unknown)))
    return env


def parse_args(model):
    p = argparse.ArgumentParser(description="PyTorch twin of bench/%s.gm" % model)
    p.add_argument("--data-dir", required=True, help="directory holding the model's .npy inputs")
    p.add_argument("--steps", type=int, default=20, help="measured steps")
    p.add_argument("--warmup", type=int, default=3, help="steps run before measuring")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                   help="bf16: the forward under torch.autocast('cpu', dtype=torch.bfloat16), gradc's --precision bf16")
    args = p.parse_args()
    sets = {}
    for s in args.set:
        if "=" not in s:
            p.error("--set needs NAME=VALUE, got %r" % s)
        k, v = s.split("=", 1)
        sets[k] = v
    args.consts = read_consts(model, sets)
    return args


def setup_threads(threads):
    """Thread settings that must precede `import torch` (the OpenMP and OpenBLAS pools read them)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def load_batches(data_dir, names, batch):
    """The .npy inputs cut into whole batches, in gradc's --no-shuffle order, as torch tensors.

    Conversion happens before timing: gradc also holds its data in memory before the first step.
    """
    import numpy as np
    import torch
    arrays = {n: np.load(os.path.join(data_dir, n + ".npy")) for n in names}
    count = min(a.shape[0] for a in arrays.values()) // batch
    if count < 1:
        raise SystemExit("%s: fewer examples than one batch of %d" % (data_dir, batch))
    out = []
    for k in range(count):
        b = {}
        for n, a in arrays.items():
            t = torch.from_numpy(np.ascontiguousarray(a[k * batch:(k + 1) * batch]))
            b[n] = t.long() if t.dtype in (torch.int32, torch.int64) else t
        out.append(b)
    return out


def openblas_core():
    """The kernel OpenBLAS runs in this process (what OPENBLAS_CORETYPE chose, or its own pick), or None."""
    import ctypes
    for name in ("libopenblas.so.0", "libblas.so.3"):
        try:
            f = ctypes.CDLL(name).openblas_get_corename
        except (OSError, AttributeError):
            continue
        f.restype = ctypes.c_char_p
        return f().decode()
    return None


def run(model, args, net, optimizer, batches, loss_fn):
    """Trains warmup + steps updates, timing each one, and prints the result as one JSON line."""
    import torch
    torch.set_num_threads(args.threads)
    # Subnormal floats slow Intel cores 5-10x (docs/benchmarks.md): PyTorch at its best flushes them.
    flushed = torch.set_flush_denormal(True)
    times = []
    loss = None
    for k in range(args.warmup + args.steps):
        b = batches[k % len(batches)]
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        if args.precision == "bf16":
            # As torch's AMP recipe: the forward under autocast, backward outside it (its products
            # still run in bf16: the casts autocast inserted are differentiable).
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn(net, b)
        else:
            loss = loss_fn(net, b)
        loss.backward()
        optimizer.step()
        ms = (time.perf_counter() - t0) * 1e3
        if k >= args.warmup:
            times.append(ms)
    if loss is not None and not torch.isfinite(loss).item():
        raise SystemExit("%s twin: the loss is not finite" % model)
    result = {
        "model": model,
        "median_ms": statistics.median(times) if times else None,
        "step_ms": [round(t, 3) for t in times],
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "final_loss": float(loss) if loss is not None else None,
        "threads": torch.get_num_threads(),
        "precision": args.precision,
        "params": sum(p.numel() for p in net.parameters()),
        "flush_denormal": bool(flushed),
        "openblas_core": openblas_core(),
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
