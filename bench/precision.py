"""precision.py: gradc at f32 and at bf16 (--precision bf16) against the PyTorch twin at f32 and
under torch.autocast("cpu", dtype=torch.bfloat16), on one reference model, in one run.

usage: python3 bench/precision.py --gradc PATH [--model m3] [--rounds R] [--steps N] [--warmup W]
                                  [--threads T] [--set NAME=VALUE]... [--twin-coretype auto|none|NAME]

Each round runs the four configurations once, in an order rotated every round, so a drift of a
shared machine hits them alike; the table quotes the median over rounds of each run's median step
(runner.py's measurement: gradc's log, the twin's perf_counter) and the final losses.
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runner  # noqa: E402
import common  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gradc", required=True)
    p.add_argument("--python", default="/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable)
    p.add_argument("--model", default="m3")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--twin-coretype", default="auto",
                   help="OpenBLAS kernel for the twin: auto (probe, keep the fastest, as bench/run.sh), none, or a name")
    p.add_argument("--twin-default-malloc", action="store_true")
    p.add_argument("--cache", default=os.path.join(runner.tempfile.gettempdir(), "gradc-bench-data"))
    opts = p.parse_args()
    # The twin at its best, as bench/run.sh runs it (runner.run_twin reads these).
    opts.twin_coretype_inherit = opts.twin_coretype == "none"
    if opts.twin_coretype == "auto":
        opts.twin_coretype, coretype_note = runner.probe_coretypes(opts)
    elif opts.twin_coretype == "none":
        opts.twin_coretype, coretype_note = "", "left to OpenBLAS and the environment (--twin-coretype none)"
    else:
        coretype_note = "%s (--twin-coretype)" % opts.twin_coretype
    print("  the twin runs OpenBLAS kernel %s" % coretype_note, file=sys.stderr, flush=True)
    sets = dict(s.split("=", 1) for s in opts.set)
    c = common.read_consts(opts.model, sets)
    ddir = runner.data_dir(opts.cache, opts.model, c)
    configs = [("gradc", "f32"), ("gradc", "bf16"), ("twin", "f32"), ("twin", "bf16")]
    runs = {k: [] for k in configs}
    for r in range(opts.rounds):
        for i in range(len(configs)):
            who, precision = configs[(i + r) % len(configs)]
            opts.precision = precision
            run = runner.run_gradc if who == "gradc" else runner.run_twin
            result = run(opts, opts.model, sets, ddir, opts.steps, opts.warmup)
            runs[(who, precision)].append(result)
            print("  round %d %-5s %-4s %8.1f ms/step  loss %.5f" % (r + 1, who, precision, result["median_ms"],
                                                                    result["final_loss"]), file=sys.stderr, flush=True)
    med = {k: statistics.median(x["median_ms"] for x in v) for k, v in runs.items()}
    print("| %s | gradc f32 | gradc bf16 | PyTorch f32 | PyTorch bf16 autocast |" % opts.model)
    print("| --- | ---: | ---: | ---: | ---: |")
    print("| ms/step (median of %d rounds) | %.1f | %.1f | %.1f | %.1f |" % (
        opts.rounds, med[("gradc", "f32")], med[("gradc", "bf16")], med[("twin", "f32")], med[("twin", "bf16")]))
    print("| final loss | %s |" % " | ".join("%.5f" % runs[k][-1]["final_loss"] for k in configs))
    print("| per round | %s |" % " | ".join(", ".join("%.0f" % x["median_ms"] for x in runs[k]) for k in configs))
    print("\nThe twin's OpenBLAS kernel: %s." % coretype_note)
    print("\ngradc f32 / gradc bf16: %.2fx; gradc bf16 / PyTorch bf16: %.2f" % (
        med[("gradc", "f32")] / med[("gradc", "bf16")], med[("gradc", "bf16")] / med[("twin", "bf16")]))


if __name__ == "__main__":
    main()
