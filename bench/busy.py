#!/usr/bin/env python3
"""busy.py: gradc on a machine that is not idle (issue 21): `--threads 2` against `--threads 1`
with one competing busy process, on the tutorial's Transformer classifier, M1 and M2. Not a test.

usage: bench/busy.py GRADC [--models tutorial,m1,m2] [--rounds R] [--competitor loop|none]
                           [--steps N] [--warmup W] [--cache DIR]

The competitor is a plain busy loop (a second process spinning in Python, as a build or a
fuzzer next to the trainer would), started before the runs and killed after them; the OS puts it
on either core. Each round runs `--threads 1` and `--threads 2` in turn (the order rotating per
round) on the same data and seed; a run's figure is the median of its logged per-step times
after W warm-up steps, the table gives the medians over rounds and the ratio threads 2 / threads
1, which the issue bounds at 1.10. `--competitor none` gives the idle baseline.
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

SOURCE_DIR = os.path.dirname(runner.BENCH_DIR)
DIGITS = os.path.join(SOURCE_DIR, "examples", "digits_cce", "data")


def run(gradc, model, threads, data, steps, warmup):
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "log.csv")
        argv = [gradc, "train", model, "--steps", str(warmup + steps), "--log", log, "--backend", "jit",
                "--threads", str(threads), "--quiet", "--no-shuffle"]
        argv += ["--data=%s=%s" % kv for kv in data]
        status, wall, rss, other, out, err = runner.run_child(argv)
        if status != 0:
            raise RuntimeError("gradc failed on %s (exit %d):\n%s%s" % (model, status, out, err))
        with open(log, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
            rows = [line.strip().split(",") for line in f if line.strip()]
    ms = [float(r[header.index("ms")]) for r in rows]
    return statistics.median(ms[warmup:])


def model_and_data(name, cache):
    if name == "tutorial":
        return (os.path.join(SOURCE_DIR, "examples", "transformer_classifier", "model.gm"),
                [("x", os.path.join(DIGITS, "train_x.npy")), ("y", os.path.join(DIGITS, "train_y.npy"))])
    sets = runner.model_sets(name, {})
    ddir = runner.data_dir(cache, name, common.read_consts(name, sets))
    return (os.path.join(runner.BENCH_DIR, name + ".gm"),
            [(n, os.path.join(ddir, n + ".npy")) for n in runner.INPUTS[name]])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("gradc")
    p.add_argument("--models", default="tutorial,m1,m2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--competitor", choices=("loop", "none"), default="loop")
    p.add_argument("--steps", type=int, default=0, help="measured steps (default: 200 tutorial, 100 m1, 10 m2)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "gradc-bench-data"))
    opts = p.parse_args()
    default_steps = {"tutorial": 200, "m1": 100, "m2": 10}
    competitor = None
    if opts.competitor == "loop":
        competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        print("competitor: %s; load average %s" % (opts.competitor, runner.load_average()))
        print("| model | threads 1 ms/step | threads 2 ms/step | threads 2 / threads 1 |")
        print("| --- | ---: | ---: | ---: |")
        for name in opts.models.split(","):
            model, data = model_and_data(name, opts.cache)
            steps = opts.steps or default_steps.get(name, 20)
            times = {1: [], 2: []}
            for r in range(opts.rounds):
                for threads in ((1, 2) if r % 2 == 0 else (2, 1)):
                    times[threads].append(run(opts.gradc, model, threads, data, steps, opts.warmup))
                    print("  %s round %d threads %d %.3f ms/step" % (name, r + 1, threads, times[threads][-1]),
                          file=sys.stderr, flush=True)
            one, two = statistics.median(times[1]), statistics.median(times[2])
            print("| %s | %.3f | %.3f | %.2f |" % (name, one, two, two / one), flush=True)
    finally:
        if competitor:
            competitor.kill()
            competitor.wait()


if __name__ == "__main__":
    main()
