#!/bin/sh
# test_train_driver.sh: gradc train and the standalone trainer of `gradc compile` are one training
# driver (runtime/train_driver.c): on CSV data, --text and --eval-data they log the same losses;
# --keep-best keeps the checkpoint of the lowest eval loss (and an interrupted, resumed run keeps
# the same one, bit for bit); --save-weights writes what torch's strict load_state_dict reads;
# --quiet prints only the summary; progress shows examples/s or tokens/s; --text-stride makes
# overlapping windows; a mistyped option gets a "did you mean".
#
# usage: test_train_driver.sh GRADC SOURCE_DIR PYTHON     (ctest passes these)

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp
export OPENBLAS_NUM_THREADS=1

"$py" -c '
import numpy as np, sys
d = sys.argv[1]
rng = np.random.default_rng(3)
def data(n, flip):
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = ((x[:, 0] > 0.3).astype(int) * 2 + (x[:, 1] > 0)) % 3
    y[::4] = (y[::4] + flip) % 3
    return x, y
x, y = data(240, 0)
tx, ty = data(48, 1)
with open(d + "/train.csv", "w") as f:
    f.write("a,b,c,d,label\n")
    for row, label in zip(x, y):
        f.write(",".join("%.6f" % v for v in row) + ",%d\n" % label)
np.save(d + "/tx.npy", tx)
np.save(d + "/ty.npy", ty.astype(np.int32))
open(d + "/text.txt", "w").write("the quick brown fox jumps over the lazy dog. " * 10)
' "$tmp" || exit 2

cat >"$tmp/clf.gm" <<'MODEL'
const batch = 8
input x: f32[batch, 4]
input y: i32[batch]
logits = linear(relu(linear(x, 32) as fc1), 3) as fc2
loss = cross_entropy(logits, y)
output accuracy = accuracy(logits, y)
train {
    optimizer = adam(lr=0.02)
    schedule = cosine(warmup=3, total=500)
    seed = 7
}
MODEL
cat >"$tmp/lm.gm" <<'MODEL'
const batch = 4
const context = 8
input tokens: i32[batch, context]
input targets: i32[batch, context]
h = embedding(tokens, 256, 16) as embed
logits = linear(relu(h), 256) as head
loss = cross_entropy(logits, targets)
train {
    optimizer = adam(lr=0.01)
    seed = 2
}
MODEL
D="--data x=$tmp/train.csv:0-3 --data y=$tmp/train.csv:label --threads 2"
E="--eval-data x=$tmp/tx.npy --eval-data y=$tmp/ty.npy"

# Every column of the logs but ms (wall time) is identical: the standalone trainer runs the JIT's
# module for the same layout on the same thread count (docs/compile.md). The held-out sets are
# whole batches: on a last partial batch gradc train recompiles and the trainer pads, which
# agree to float rounding only.
same_log() {
    "$py" -c '
import csv, sys
a = list(csv.reader(open(sys.argv[1]))); b = list(csv.reader(open(sys.argv[2])))
assert a[0] == b[0], (a[0], b[0])
assert len(a) == len(b) and len(a) > 2, (len(a), len(b))
ms = a[0].index("ms")
for ra, rb in zip(a[1:], b[1:]):
    for k, (u, v) in enumerate(zip(ra, rb)):
        assert k == ms or u == v, (ra[0], a[0][k], u, v)
' "$1" "$2"
}

if ! "$gradc" compile "$tmp/clf.gm" -o "$tmp/clf" >"$tmp/out" 2>"$tmp/err" ||
    ! "$gradc" compile "$tmp/lm.gm" -o "$tmp/lm" >"$tmp/out" 2>"$tmp/err"; then
    fail "gradc compile writes the trainers"
    finish
fi

# ---- one driver: the same run from both front ends ----
check "gradc train: CSV data, --eval-data every 5 steps" \
    "$gradc" train "$tmp/clf.gm" $D $E --steps 40 --eval-every 5 --log "$tmp/jit.csv" --quiet
check "standalone trainer: CSV data, --eval-data every 5 steps" \
    "$tmp/clf" train $D $E --steps 40 --eval-every 5 --log "$tmp/aot.csv" --quiet
check "the two logs (loss, lr, grad_norm, accuracy, eval_loss, eval_accuracy) are identical at every step" \
    same_log "$tmp/jit.csv" "$tmp/aot.csv"
check "gradc train --text --eval-text" \
    "$gradc" train "$tmp/lm.gm" --text "$tmp/text.txt" --eval-text "$tmp/text.txt" --steps 20 --threads 2 --log "$tmp/lm_jit.csv" --quiet
check "standalone trainer --text --eval-text" \
    "$tmp/lm" train --text "$tmp/text.txt" --eval-text "$tmp/text.txt" --steps 20 --threads 2 --log "$tmp/lm_aot.csv" --quiet
check "their logs are identical" same_log "$tmp/lm_jit.csv" "$tmp/lm_aot.csv"
# Validation runs in the standalone trainer too.
printf 'a,b,c,d,label\n0,0,0,0,1\n1,1,1,1,5\n' >"$tmp/bad.csv"
expect "standalone trainer: an out-of-range class is refused, naming file, example and model line" 1 \
    "bad.csv:label: example 1 has class 5, but the model's cross_entropy at [^ ]*clf.gm:5:8 has 3 classes" \
    "$tmp/clf" train --data "x=$tmp/bad.csv:0-3" --data "y=$tmp/bad.csv:label" --steps 1
expect "standalone trainer: an unbound input is refused" 1 "no data for input 'y'" \
    "$tmp/clf" train --data "x=$tmp/train.csv:0-3" --steps 1
"$gradc" train "$tmp/clf.gm" $D --steps 5 --save "$tmp/five.st" --quiet >/dev/null 2>&1
"$gradc" eval "$tmp/clf.gm" --params "$tmp/five.st" $D --json >"$tmp/a.json" 2>&1
"$tmp/clf" eval --params "$tmp/five.st" $D --json >"$tmp/b.json" 2>&1
check "standalone eval --json over CSV equals gradc eval --json" "$py" -c '
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
assert a["examples"] == b["examples"] == 240
assert abs(a["loss"] - b["loss"]) <= 1e-5 * abs(a["loss"]), (a, b)
' "$tmp/a.json" "$tmp/b.json"

# ---- --keep-best ----
best_step() {
    "$py" -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ev = [(float(r["eval_loss"]), int(r["step"])) for r in rows if r["eval_loss"]]
print(min(ev)[1])
' "$1"
}
meta() {
    "$py" -c '
import json, struct, sys
f = open(sys.argv[1], "rb")
n = struct.unpack("<Q", f.read(8))[0]
print(json.loads(f.read(n))["__metadata__"][sys.argv[2]])
' "$1" "$2"
}
for front in gradc standalone; do
    if [ $front = gradc ]; then run="$gradc train $tmp/clf.gm"; else run="$tmp/clf train"; fi
    expect "$front --keep-best: the summary names the best step" 0 "best eval loss [0-9.]+ at step [0-9]+ in $tmp/kb_$front.best.safetensors" \
        $run $D $E --steps 60 --eval-every 2 --log "$tmp/kb_$front.csv" --save "$tmp/kb_$front.safetensors" --keep-best --quiet
    want=$(best_step "$tmp/kb_$front.csv")
    got=$(meta "$tmp/kb_$front.best.safetensors" step 2>/dev/null)
    if [ -n "$want" ] && [ "$want" = "$got" ] && [ "$want" -gt 2 ] && [ "$want" -lt 60 ]; then
        pass "$front --keep-best keeps step $want, the lowest eval loss of the log"
    else
        echo "log's best step '$want', kept '$got'" >"$tmp/out"
        fail "$front --keep-best keeps the lowest eval loss's step"
    fi
done
expect "--keep-best without held-out data is refused" 1 "keep-best needs" \
    "$gradc" train "$tmp/clf.gm" $D --steps 2 --save "$tmp/x.st" --keep-best
expect "standalone: --keep-best without --save is refused" 1 "keep-best needs" "$tmp/clf" train $D $E --steps 2 --keep-best

# Interrupted and resumed with --keep-best: the final checkpoint, log and best checkpoint are the
# uninterrupted run's, bit for bit (the resumed run recalls the best eval loss so far).
"$tmp/clf" train $D $E --steps 30000 --eval-every 7 --log "$tmp/ref.csv" --save "$tmp/ref.safetensors" --keep-best \
    --quiet >/dev/null 2>"$tmp/err" || fail "standalone reference run with --keep-best"
"$py" -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
    "$tmp/clf" train $D $E --steps 30000 --eval-every 7 --log "$tmp/run.csv" --save "$tmp/run.safetensors" --keep-best \
    --quiet >"$tmp/out" 2>"$tmp/err" </dev/null &
pid=$!
tries=0
while [ "$(wc -l <"$tmp/run.csv" 2>/dev/null || echo 0)" -lt 100 ] && [ $tries -lt 3000 ] && kill -0 $pid 2>/dev/null; do
    sleep 0.01
    tries=$((tries + 1))
done
kill -INT $pid 2>/dev/null
wait $pid
status=$?
again=$(sed -n 's/^resume with: //p' "$tmp/err")
if [ $status -eq 130 ] && [ -n "$again" ] && eval "$again" >"$tmp/out" 2>"$tmp/err" </dev/null; then
    cut -d, -f1-4,6- "$tmp/ref.csv" >"$tmp/ref.cut"
    cut -d, -f1-4,6- "$tmp/run.csv" >"$tmp/run.cut"
    if cmp -s "$tmp/ref.cut" "$tmp/run.cut" && cmp -s "$tmp/ref.safetensors" "$tmp/run.safetensors" &&
        cmp -s "$tmp/ref.best.safetensors" "$tmp/run.best.safetensors"; then
        pass "standalone: SIGINT + resume with --keep-best gives the uninterrupted log, checkpoint and best checkpoint"
    else
        cmp "$tmp/ref.best.safetensors" "$tmp/run.best.safetensors" >"$tmp/out" 2>&1
        fail "standalone: SIGINT + resume with --keep-best is bit-identical"
    fi
else
    echo "exit $status" >>"$tmp/err"
    fail "standalone: SIGINT stops with 130 and the resume command runs"
fi

# ---- --save-weights: torch's strict load reads it ----
check "--save-weights writes the weights beside the checkpoint" \
    "$tmp/clf" train $D --steps 5 --save "$tmp/w.st" --save-weights "$tmp/w.safetensors" --quiet
check "torch: load_state_dict(strict=True) of the weights, equal to the checkpoint's tensors" "$py" -c '
import json, struct, sys
import numpy as np, torch
def read(path):
    f = open(path, "rb")
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n)); data = f.read()
    header.pop("__metadata__", None)
    kinds = {"F32": np.float32, "I64": np.int64, "I32": np.int32}
    return {k: torch.from_numpy(np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]],
            dtype=kinds[v["dtype"]]).reshape(v["shape"]).copy()) for k, v in header.items()}
w, ck = read(sys.argv[1]), read(sys.argv[2])
model = torch.nn.Module()
model.fc1 = torch.nn.Linear(4, 32); model.fc2 = torch.nn.Linear(32, 3)
model.load_state_dict(w, strict=True)
assert not any(k.startswith("optimizer.") for k in w)
for k in w: assert torch.equal(w[k], ck[k]), k
' "$tmp/w.safetensors" "$tmp/w.st"

# ---- output ----
expect "--quiet prints the summary alone" 0 "^trained 7 steps in [0-9.]+ s; final loss [0-9.]+; eval loss" \
    "$gradc" train "$tmp/clf.gm" $D $E --steps 7 --eval-every 2 --quiet
if [ "$(wc -l <"$tmp/out")" -eq 1 ] && [ ! -s "$tmp/err" ]; then pass "--quiet: one line"; else fail "--quiet: one line"; fi
expect "progress lines give steps/s and examples/s" 0 "^step 10/10  loss [0-9.]+  [0-9.]+ steps/s  [0-9]+ ex/s" \
    "$tmp/clf" train $D --steps 10
expect "tokens/s for a model of tokens" 0 "^step 10/10  loss [0-9.]+  [0-9.]+ steps/s  [0-9]+ tok/s" \
    "$gradc" train "$tmp/lm.gm" --text "$tmp/text.txt" --steps 10

# ---- --text-stride: 450 bytes, context 8: 56 windows apart, 442 with stride 1, 111 with stride 4 ----
"$gradc" train "$tmp/lm.gm" --text "$tmp/text.txt" --steps 1 --save "$tmp/lm.st" --quiet >/dev/null 2>&1
expect "--text-stride 1 gives every offset (442 windows)" 0 '^\{"examples": 442, ' \
    "$gradc" eval "$tmp/lm.gm" --params "$tmp/lm.st" --text "$tmp/text.txt" --text-stride 1 --json
expect "--text-stride 4 gives 111 windows" 0 '^\{"examples": 111, ' \
    "$gradc" eval "$tmp/lm.gm" --params "$tmp/lm.st" --text "$tmp/text.txt" --text-stride 4 --json
expect "the standalone trainer's epoch with --text-stride 1 is 110 steps" 0 "^trained 110 steps" \
    "$tmp/lm" train --text "$tmp/text.txt" --text-stride 1 --quiet
expect "--text-stride 0 is refused" 1 "text-stride needs a whole number >= 1" \
    "$gradc" train "$tmp/lm.gm" --text "$tmp/text.txt" --text-stride 0

# ---- gradc plot --y: any columns, each with its eval_ twin, the legend outside the data ----
check "plot --y loss,accuracy,lr" "$gradc" plot "$tmp/jit.csv" --y loss,accuracy,lr -o "$tmp/cols.svg"
check "the SVG has five curves (loss, eval_loss, accuracy, eval_accuracy, lr), labelled, legend right of the plot" "$py" -c '
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
assert len(list(root.iter(ns + "polyline"))) == 5
texts = [t.text for t in root.iter(ns + "text")]
for name in ("loss", "eval_loss", "accuracy", "eval_accuracy", "lr", "value"): assert name in texts, (name, texts)
frame = [r for r in root.iter(ns + "rect") if r.get("stroke") == "#333"][0]
right = float(frame.get("x")) + float(frame.get("width"))
boxes = [r for r in root.iter(ns + "rect") if r.get("stroke") == "#999"]
assert len(boxes) == 1 and float(boxes[0].get("x")) > right, (boxes, right)
' "$tmp/cols.svg"
expect "plot --y of a column the log lacks" 1 "the header has no accuracyy column" \
    "$gradc" plot "$tmp/jit.csv" --y accuracyy -o "$tmp/bad.svg"

# ---- --random-batches: nanoGPT's sampling, reproducible and resumable ----
"$tmp/lm" train --text "$tmp/text.txt" --text-stride 1 --random-batches --steps 12 --log "$tmp/rb1.csv" \
    --save "$tmp/rb1.st" --quiet >"$tmp/out" 2>"$tmp/err" || fail "standalone --random-batches runs"
"$gradc" train "$tmp/lm.gm" --text "$tmp/text.txt" --text-stride 1 --random-batches --steps 6 --log "$tmp/rb2.csv" \
    --save "$tmp/rb2.st" --quiet >"$tmp/out" 2>>"$tmp/err" &&
    "$gradc" train "$tmp/lm.gm" --text "$tmp/text.txt" --text-stride 1 --random-batches --steps 6 --log "$tmp/rb2.csv" \
        --save "$tmp/rb2.st" --resume "$tmp/rb2.st" --quiet >"$tmp/out" 2>>"$tmp/err"
check "--random-batches: 6 + 6 resumed steps of gradc train give the standalone trainer's 12, bit for bit" \
    sh -c 'cmp "$1" "$2" && cut -d, -f1-4 "$3" >"$3.cut" && cut -d, -f1-4 "$4" >"$4.cut" && cmp "$3.cut" "$4.cut"' \
    sh "$tmp/rb1.st" "$tmp/rb2.st" "$tmp/rb1.csv" "$tmp/rb2.csv"
"$gradc" train "$tmp/lm.gm" --text "$tmp/text.txt" --text-stride 1 --steps 12 --log "$tmp/sh.csv" --quiet >/dev/null 2>&1
cut -d, -f2 "$tmp/sh.csv" >"$tmp/sh.loss"
cut -d, -f2 "$tmp/rb1.csv" >"$tmp/rb.loss"
if [ "$(wc -l <"$tmp/sh.loss")" -eq 13 ] && ! cmp -s "$tmp/sh.loss" "$tmp/rb.loss"; then
    pass "--random-batches draws other batches than the shuffle"
else fail "--random-batches draws other batches than the shuffle"; fi
expect "--random-batches with --no-shuffle is refused" 1 "random-batches or --no-shuffle, not both" \
    "$gradc" train "$tmp/lm.gm" --text "$tmp/text.txt" --random-batches --no-shuffle

# ---- did you mean ----
expect "gradc train --step: did you mean --steps" 1 "unknown option '--step'; did you mean '--steps'\\?" \
    "$gradc" train "$tmp/clf.gm" $D --step 5
expect "gradc train --eval-evry: did you mean --eval-every" 1 "did you mean '--eval-every'\\?" \
    "$gradc" train "$tmp/clf.gm" $D --eval-evry=5
expect "standalone --sav: did you mean --save" 1 "unknown option '--sav'; did you mean '--save'\\?" \
    "$tmp/clf" train $D --sav x.st
expect "gradc trian: did you mean train" 1 "unknown command 'trian'; did you mean 'train'\\?" "$gradc" trian
expect "gradc eval --parms: did you mean --params" 1 "did you mean '--params'\\?" \
    "$gradc" eval "$tmp/clf.gm" --parms x.st
expect "no suggestion for a word far from every option" 1 "unknown option '--zzzzzzzz' \\(see" \
    "$gradc" train "$tmp/clf.gm" $D --zzzzzzzz

finish
