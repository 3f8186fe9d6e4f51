"""compare.py: compares gradc's training log with a PyTorch twin's, step by step.

usage: compare.py LABEL TORCH.csv GRADC.csv [TORCH_F32.csv]   (the last only with GC_TWIN_PRECISION=bf16)

Both files have the columns step,loss,lr,grad_norm (gradc's log has more; they are ignored). The
two runs start from the same weights and read the same batches, so every step's loss, rate and
gradient norm must agree to float32 accuracy, within a tolerance that widens with the step:

- step 1 is one forward and backward pass from identical weights: the only differences are
  float32 rounding in sums taken in another order (matmul blocking, reductions), about 1e-7
  relative per value, a few 1e-7 after a few dozen ops; 1e-4 leaves a wide margin yet catches any
  real difference (a wrong op, mask, scale or init shows up at 1e-2 and more).
- every update then feeds those rounding differences into the weights, and training amplifies
  them (Adam divides by sqrt(v), so small gradient components carry their relative error into
  the update whole). The tolerance grows linearly: rtol(k) = 1e-4 * max(1, k / 5), 8e-4 by
  step 40. The observed deviations (printed below) stay several times under it.
- the rate is computed by gradc in float32 from the step count, by torch in double: 1e-5.

With GC_TWIN_PRECISION=bf16 (mixed precision on both sides: torch under autocast, gradc with
--precision bf16) the two differ by design, not by rounding order: torch rounds every product's
result and the elementwise ops after it to bf16, and its weight gradients too, where gradc keeps
them f32 (only the products' operands are bf16). Each of those roundings is up to 2^-9 relative,
and training compounds them like any other difference: observed over 25 steps, the loss within
8e-4 (Transformer classifier) and 8e-3 (MLP), the gradient norm within 4e-3 and 2.6e-2. The
tolerance is the issue's own bound for bf16 against f32, 2e-2 for the loss, and 5e-2 for the
gradient norm. (A CNN with batch norm drifts further, 2.2e-2 in the loss by step 19: torch
normalises bf16-rounded convolution outputs.)
torch's own mixed precision drifts as far from its float32 run on such models (digits_cnn: 1.8e-2
in the loss; digits_conv_layers: 1.0e-1 in the gradient norm), so with a third log, torch's float32
run of the same twin, a bf16 value also passes within twice the largest deviation of torch's
bf16 run from its f32 run up to that step: gradc may not stray from torch further than torch's
mixed precision strays from float32. At step 1 both start from the same weights and torch's own
deviation is the rounding of one pass, far under the fixed bound, so the fixed bound decides there.
The bits of bf16 itself (rounding, ties, which products) are pinned elsewhere: against torch's
own conversions (tests/oracle/gen_bf16.py) and the interpreter (test_jit_vs_interp).

An absolute floor of 1e-6 keeps values near zero from failing on noise. Prints one line per step
and the largest relative deviation per column; exits 1 naming the first step out of tolerance.
"""
import csv
import os
import sys

BF16 = os.environ.get("GC_TWIN_PRECISION", "f32") == "bf16"


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {int(r["step"]): r for r in rows}


def rtol(column, step, own_drift=None):
    """own_drift: {column: {step: largest relative deviation of torch bf16 from torch f32 so far}}."""
    if column == "lr":
        return 1e-5
    if BF16:
        base = 2e-2 if column == "loss" else 5e-2
        if own_drift is not None:
            base = max(base, 2 * own_drift[column].get(step, 0.0))
        return base
    return 1e-4 * max(1.0, step / 5.0)


def drift(bf16_log, f32_log):
    """The running maximum, per column, of torch's own bf16-vs-f32 relative deviation."""
    out = {}
    for column in ("loss", "lr", "grad_norm"):
        worst, out[column] = 0.0, {}
        for step in sorted(bf16_log):
            if step in f32_log:
                a, b = float(bf16_log[step][column]), float(f32_log[step][column])
                worst = max(worst, abs(a - b) / max(abs(a), abs(b), 1e-30))
            out[column][step] = worst
    return out


def main():
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    label, torch_path, gradc_path = sys.argv[1:4]
    want, got = read(torch_path), read(gradc_path)
    own = drift(want, read(sys.argv[4])) if BF16 and len(sys.argv) == 5 else None
    if not want:
        print("FAIL %s: the twin wrote no steps" % label)
        return 1
    missing = sorted(set(want) - set(got))
    if missing:
        print("FAIL %s: gradc's log has no step %d (it has %d steps, the twin %d)"
              % (label, missing[0], len(got), len(want)))
        return 1
    worst = {c: (0.0, 0) for c in ("loss", "lr", "grad_norm")}
    failures = []
    print("%-5s %-15s %-15s %-10s %-15s %-15s %-10s" % ("step", "torch loss", "gradc loss", "rel",
                                                        "torch |g|", "gradc |g|", "rel"))
    for step in sorted(want):
        rel = {}
        for column in worst:
            a, b = float(want[step][column]), float(got[step][column])
            diff = abs(a - b)
            rel[column] = diff / max(abs(a), abs(b), 1e-30)
            if not (diff <= rtol(column, step, own) * max(abs(a), abs(b)) + 1e-6):  # NaN fails too
                failures.append((step, column, a, b, rel[column]))
            if rel[column] > worst[column][0] or rel[column] != rel[column]:
                worst[column] = (rel[column], step)
        print("%-5d %-15.9g %-15.9g %-10.2e %-15.9g %-15.9g %-10.2e"
              % (step, float(want[step]["loss"]), float(got[step]["loss"]), rel["loss"],
                 float(want[step]["grad_norm"]), float(got[step]["grad_norm"]), rel["grad_norm"]))
    for column, (dev, step) in worst.items():
        print("%s: max %s deviation %.3e (step %d)" % (label, column, dev, step))
    if failures:
        step, column, a, b, r = failures[0]
        print("FAIL %s: step %d %s: gradc %.9g, torch %.9g (relative difference %.3e > tolerance %.1e); "
              "%d value%s out of tolerance" % (label, step, column, b, a, r, rtol(column, step, own),
                                               len(failures), "" if len(failures) == 1 else "s"))
        return 1
    print("PASS %s: %d steps match torch" % (label, len(want)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
