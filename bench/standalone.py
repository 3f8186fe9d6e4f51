#!/usr/bin/env python3
"""standalone.py: the standalone trainer (`gradc compile -o T`, `T train`) against `gradc train`
(the JIT) and the PyTorch twin on the reference models (issue 19: the trainer's step time must stay
within 5% of the JIT's on M1 and M2). Not part of the test suite.

usage: bench/standalone.py GRADC [--models m1,m2] [--steps N] [--warmup W] [--rounds R] [--threads T]
                           [--set NAME=VALUE]... [--cache DIR] [--python PY]

Each round runs the three in turn (the order rotating per round) on the same data, seeds and
thread count; each run's figure is the median of its logged per-step times (gradc's --log `ms`
column, the twin's own timer) after W warm-up steps, and the table gives the medians over rounds
and the ratios. Uses bench/runner.py's data and twin runner. Measure on an idle machine.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "twins"))
import common  # noqa: E402
import runner  # noqa: E402


def run_trainer(opts, trainer, model, ddir, steps, warmup):
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "log.csv")
        argv = [trainer, "train", "--steps", str(warmup + steps), "--log", log, "--threads", str(opts.threads),
                "--quiet", "--no-shuffle"]
        argv += ["--data=%s=%s" % (n, os.path.join(ddir, n + ".npy")) for n in runner.INPUTS[model]]
        status, wall, rss, other, out, err = runner.run_child(argv)
        if status != 0:
            raise RuntimeError("the standalone trainer failed on %s (exit %d):\n%s%s" % (model, status, out, err))
        with open(log, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
            rows = [line.strip().split(",") for line in f if line.strip()]
    ms = [float(r[header.index("ms")]) for r in rows]
    return {"median_ms": statistics.median(ms[warmup:]), "final_loss": float(rows[-1][header.index("loss")])}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("gradc")
    p.add_argument("--models", default="m1,m2")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "gradc-bench-data"))
    p.add_argument("--python", default=sys.executable)
    opts = p.parse_args()
    # What runner.run_gradc and run_twin read of their options.
    opts.precision = "f32"
    opts.twin_default_malloc = False
    # The twin at its best, as bench/run.sh runs it: the fastest OpenBLAS kernel for this CPU.
    opts.twin_coretype_inherit = False
    opts.twin_coretype, coretype_note = runner.probe_coretypes(opts)
    print("  the twin runs OpenBLAS kernel %s" % coretype_note, file=sys.stderr, flush=True)
    sets = dict(kv.split("=", 1) for kv in opts.set)
    print("| model | JIT ms/step | standalone ms/step | PyTorch ms/step | standalone / JIT | standalone / PyTorch "
          "| JIT / PyTorch | final loss JIT, standalone |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in opts.models.split(","):
        ms = runner.model_sets(m, sets)
        c = common.read_consts(m, ms)
        ddir = runner.data_dir(opts.cache, m, c)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = os.path.join(tmp, m)
            argv = [opts.gradc, "compile", os.path.join(runner.BENCH_DIR, m + ".gm"), "-o", trainer]
            argv += ["--set=%s=%s" % kv for kv in sorted(ms.items())]
            subprocess.run(argv, check=True)
            runs = {"jit": [], "aot": [], "twin": []}
            kinds = ["jit", "aot", "twin"]
            for r in range(opts.rounds):
                for who in kinds[r % 3:] + kinds[:r % 3]:
                    if who == "jit":
                        x = runner.run_gradc(opts, m, ms, ddir, opts.steps, opts.warmup)
                    elif who == "aot":
                        x = run_trainer(opts, trainer, m, ddir, opts.steps, opts.warmup)
                    else:
                        x = runner.run_twin(opts, m, ms, ddir, opts.steps, opts.warmup)
                    runs[who].append(x)
                    print("  %s round %d %-4s %.2f ms/step" % (m, r + 1, who, x["median_ms"]), file=sys.stderr, flush=True)
        med = {k: statistics.median(x["median_ms"] for x in v) for k, v in runs.items()}
        print("| %s | %.2f | %.2f | %.2f | %.3f | %.3f | %.3f | %.6g, %.6g |" % (
            m, med["jit"], med["aot"], med["twin"], med["aot"] / med["jit"], med["aot"] / med["twin"],
            med["jit"] / med["twin"], runs["jit"][-1]["final_loss"], runs["aot"][-1]["final_loss"]), flush=True)


if __name__ == "__main__":
    main()
