#!/bin/sh
# test_train_accumulation.sh: gradient_accumulation_steps through `gradc train`: an update reads N
# consecutive batches (the log and --steps count updates, --epochs makes floor(batches / N)
# updates an epoch), the logged loss of an update is the mean of its micro-batch losses, and with
# --no-shuffle a run at batch 4 accumulating 2 trains as a run at batch 8 does (mean losses, so
# the gradients are the same average); shuffled --save/--resume of such a run is bit-identical.
#
# usage: test_train_accumulation.sh GRADC SOURCE_DIR PYTHON     (ctest passes these)
# Prints one line per check and `N passed, M failed` last; exits 1 if any check failed.

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp

# 40 examples: 10 batches of 4, 5 of 8.
"$py" -c '
import numpy as np, sys
rng = np.random.default_rng(7)
x = rng.normal(size=(40, 3)).astype(np.float32)
y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32)
np.save(sys.argv[1] + "/x.npy", x)
np.save(sys.argv[1] + "/y.npy", y)
' "$tmp" || exit 2
model() { # model FILE BATCH ACCUMULATE
    cat >"$1" <<EOF
const batch = $2
input x: f32[batch, 3]
input y: i32[batch]
logits = linear(relu(linear(x, 8) as fc1), 2) as fc2
loss = cross_entropy(logits, y)
train {
    optimizer = sgd(lr=0.2, momentum=0.9)
    schedule = cosine(warmup=2, total=8)
    clip_grad_norm = 0.5
    gradient_accumulation_steps = $3
    seed = 11
}
EOF
}
model "$tmp/acc.gm" 4 2
model "$tmp/whole.gm" 8 1
D="--data x=$tmp/x.npy --data y=$tmp/y.npy"

# The same initial parameters for both (the batch size does not change them).
"$gradc" train "$tmp/acc.gm" $D --steps 0 --save "$tmp/init.st" --quiet >/dev/null 2>"$tmp/err"
"$gradc" train "$tmp/acc.gm" $D --steps 5 --no-shuffle --init "$tmp/init.st" --log "$tmp/acc.csv" \
    --save "$tmp/acc.st" --quiet >/dev/null 2>>"$tmp/err"
"$gradc" train "$tmp/whole.gm" $D --steps 5 --no-shuffle --init "$tmp/init.st" --log "$tmp/whole.csv" \
    --save "$tmp/whole.st" --quiet >/dev/null 2>>"$tmp/err"
check "5 updates accumulating 2 batches of 4 = 5 updates on batches of 8 (log and parameters)" "$py" -c '
import csv, sys, json, struct
import numpy as np
rows = lambda p: list(csv.DictReader(open(p)))
a, w = rows(sys.argv[1]), rows(sys.argv[2])
assert [r["step"] for r in a] == ["1", "2", "3", "4", "5"], a
for ra, rw in zip(a, w):
    for key in ("loss", "lr", "grad_norm"):
        x, y = float(ra[key]), float(rw[key])
        assert abs(x - y) <= 1e-5 * (1 + abs(y)), (ra["step"], key, x, y)
assert float(a[0]["grad_norm"]) > 0.5  # clipping is active
def load(p):
    raw = open(p, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=np.float32)
    return out, head["__metadata__"]
ta, ma = load(sys.argv[3])
tw, mw = load(sys.argv[4])
assert ma["step"] == mw["step"] == "5", (ma, mw)
assert sorted(ta) == sorted(tw), (sorted(ta), sorted(tw))
assert not any(k.startswith("accumulate.") for k in ta)
for k in ta:
    assert np.allclose(ta[k], tw[k], rtol=2e-5, atol=2e-6), (k, ta[k], tw[k])
' "$tmp/acc.csv" "$tmp/whole.csv" "$tmp/acc.st" "$tmp/whole.st"

# --epochs: 10 batches an epoch, 5 updates.
"$gradc" train "$tmp/acc.gm" $D --epochs 2 --log "$tmp/epochs.csv" --quiet >/dev/null 2>"$tmp/err"
check "--epochs 2 with 10 batches an epoch and accumulation 2 is 10 updates" "$py" -c '
import csv, sys
assert [r["step"] for r in csv.DictReader(open(sys.argv[1]))] == [str(i) for i in range(1, 11)]
' "$tmp/epochs.csv"

# Shuffled, 3 + 4 resumed updates (crossing an epoch boundary) = 7 in one go, bit for bit.
"$gradc" train "$tmp/acc.gm" $D --steps 7 --log "$tmp/one.csv" --save "$tmp/one.st" --quiet >/dev/null 2>"$tmp/err"
"$gradc" train "$tmp/acc.gm" $D --steps 3 --log "$tmp/first.csv" --save "$tmp/half.st" --quiet >/dev/null 2>>"$tmp/err"
"$gradc" train "$tmp/acc.gm" $D --steps 4 --log "$tmp/second.csv" --resume "$tmp/half.st" --save "$tmp/two.st" \
    --quiet >/dev/null 2>>"$tmp/err"
check "3 + 4 resumed updates give the 7-update run bit for bit (shuffled, accumulating)" "$py" -c '
import csv, sys
col = lambda p: [(r["step"], r["loss"], r["grad_norm"], r["lr"]) for r in csv.DictReader(open(p))]
one, split = col(sys.argv[1]), col(sys.argv[2]) + col(sys.argv[3])
assert len(one) == 7 and one == split, (one, split)
assert open(sys.argv[4], "rb").read() == open(sys.argv[5], "rb").read()
' "$tmp/one.csv" "$tmp/first.csv" "$tmp/second.csv" "$tmp/one.st" "$tmp/two.st"

# The standalone trainer `gradc compile` writes reads its batches the same way.
if "$gradc" compile "$tmp/acc.gm" -o "$tmp/acc" >"$tmp/out" 2>"$tmp/err"; then
    "$tmp/acc" train $D --steps 7 --log "$tmp/aot.csv" --quiet >/dev/null 2>"$tmp/err"
    check "the compiled trainer's 7 accumulated updates log what gradc train's do" "$py" -c '
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
assert len(a) == len(b) == 7, (len(a), len(b))
for ra, rb in zip(a, b):
    for key in ("step", "loss", "lr", "grad_norm"):
        x, y = float(ra[key]), float(rb[key])
        assert abs(x - y) <= 1e-5 * (1 + abs(y)), (ra["step"], key, x, y)
' "$tmp/one.csv" "$tmp/aot.csv"
else
    fail "gradc compile writes a trainer of the accumulating model"
fi

finish
