#!/bin/sh
# test_cli_data.sh: the data side of the `gradc` command — `gradc eval` (exact means over every
# example, checked against NumPy), CSV columns, --text windows, --eval-data columns in the training
# log, --epochs, shuffled --save/--resume equal to one run, `gradc plot` and `gradc sample`, and
# the located error of each bad input.
#
# usage: test_cli_data.sh GRADC SOURCE_DIR PYTHON     (ctest passes these; PYTHON has NumPy)
# Prints one line per check and `N passed, M failed` last; exits 1 if any check failed.

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp

# The stdout of the last `expect` is in $tmp/last (lib/checks.sh).

# ---- a small classifier, its data as .npy and CSV, and a NumPy evaluation of a checkpoint ----
cat >"$tmp/clf.gm" <<'EOF'
const batch = 4
input x: f32[batch, 3]
input y: i32[batch]
logits = linear(x, 3) as fc
loss = cross_entropy(logits, y)
output accuracy = accuracy(logits, y)
train {
    optimizer = sgd(lr=0.5)
    seed = 11
}
EOF
# The same model with a literal batch size: eval must pad its last batch instead.
sed -e '/^const batch/d' -e 's/\[batch/[4/' "$tmp/clf.gm" >"$tmp/clf_literal.gm"

cat >"$tmp/numpy_eval.py" <<'EOF'
# numpy_eval.py CKPT X.npy Y.npy: the mean cross-entropy and accuracy of the linear classifier, in
# float64, reading the safetensors checkpoint by hand (8-byte header length, JSON, raw data).
import json, sys
import numpy as np
raw = open(sys.argv[1], "rb").read()
n = int.from_bytes(raw[:8], "little")
header = json.loads(raw[8:8 + n])
def tensor(name):
    h = header[name]
    start, end = h["data_offsets"]
    return np.frombuffer(raw[8 + n + start:8 + n + end], dtype=np.float32).reshape(h["shape"]).astype(np.float64)
x = np.load(sys.argv[2]).astype(np.float64)
y = np.load(sys.argv[3])
logits = x @ tensor("fc.weight").T + tensor("fc.bias")
m = logits.max(axis=1, keepdims=True)
lse = (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))[:, 0]
loss = np.mean(lse - logits[np.arange(len(y)), y])
accuracy = np.mean(logits.argmax(axis=1) == y)
print("%.9g %.9g" % (loss, accuracy))
EOF

cat >"$tmp/make_data.py" <<'EOF'
import sys
import numpy as np
rng = np.random.default_rng(5)
d = sys.argv[1]
for name, n in (("train", 12), ("test", 10)):  # 10 = 2 batches of 4 and a remainder of 2
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1)  # int64, as NumPy saves integers
    np.save("%s/%s_x.npy" % (d, name), x)
    np.save("%s/%s_y.npy" % (d, name), y)
    with open("%s/%s.csv" % (d, name), "w") as f:
        f.write("a,b,c,label\n")
        for row, label in zip(x, y):
            f.write("%s,%s,%s,%d\n" % (repr(float(row[0])), repr(float(row[1])), repr(float(row[2])), label))
EOF
check "generate data with NumPy" "$py" "$tmp/make_data.py" "$tmp"
X=$tmp/train_x.npy
Y=$tmp/train_y.npy
TX=$tmp/test_x.npy
TY=$tmp/test_y.npy

expect "train a checkpoint to evaluate" 0 'trained 6 steps' \
    "$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --epochs 2 --save "$tmp/clf.st" --log "$tmp/epochs.csv"
check "--epochs 2 of 12 examples in batches of 4 is 6 steps" \
    "$py" -c 'import sys; rows = open(sys.argv[1]).read().split(); sys.exit(len(rows) != 7 or not rows[-1].startswith("6,"))' \
    "$tmp/epochs.csv"

# ---- gradc eval: every example once, exact means ----
"$py" "$tmp/numpy_eval.py" "$tmp/clf.st" "$TX" "$TY" >"$tmp/numpy.txt" 2>"$tmp/err"
expect "eval prints loss and accuracy" 0 '^accuracy [0-9.e+-]+$' \
    "$gradc" eval "$tmp/clf.gm" --params "$tmp/clf.st" --data "x=$TX" --data "y=$TY"
cp "$tmp/out" "$tmp/eval.txt"
# close EVAL_FILE: the loss and accuracy in EVAL_FILE (name value lines) match numpy.txt.
cat >"$tmp/close.py" <<'EOF'
import sys
want_loss, want_acc = map(float, open(sys.argv[2]).read().split())
got = dict(line.split() for line in open(sys.argv[1]) if not line.startswith("batch "))
loss, acc = float(got["loss"]), float(got["accuracy"])
print("gradc %r %r, numpy %r %r" % (loss, acc, want_loss, want_acc))
sys.exit(not (abs(loss - want_loss) <= 1e-6 * max(1, abs(want_loss)) and abs(acc - want_acc) <= 1e-7))
EOF
check "eval means equal NumPy's over all 10 examples (const batch: recompiled remainder)" \
    "$py" "$tmp/close.py" "$tmp/eval.txt" "$tmp/numpy.txt"
if [ "$(wc -l <"$tmp/eval.txt")" -eq 2 ]; then pass "eval prints exactly two lines"; else fail "eval prints exactly two lines"; fi

expect "eval pads when the batch size is a literal, and says so" 0 'note: .*evaluated in padded batches' \
    "$gradc" eval "$tmp/clf_literal.gm" --params "$tmp/clf.st" --data "x=$TX" --data "y=$TY"
check "padded eval means equal NumPy's too" "$py" "$tmp/close.py" "$tmp/last" "$tmp/numpy.txt"

expect "eval --json" 0 '^\{"examples": 10, "loss": ' \
    "$gradc" eval "$tmp/clf.gm" --params "$tmp/clf.st" --data "x=$TX" --data "y=$TY" --json --backend interp
check "eval --json is one JSON object with the same numbers" "$py" -c '
import json, sys
o = json.load(open(sys.argv[1]))
text = dict(l.split() for l in open(sys.argv[2]))
assert set(o) == {"examples", "loss", "outputs"} and list(o["outputs"]) == ["accuracy"], o
assert abs(o["loss"] - float(text["loss"])) < 1e-6 and abs(o["outputs"]["accuracy"] - float(text["accuracy"])) < 1e-7
' "$tmp/last" "$tmp/eval.txt"

expect "eval --batch-loss lists 3 batches, the last of 2 examples" 0 '^batch 2 2 [0-9.e+-]+$' \
    "$gradc" eval "$tmp/clf.gm" --params "$tmp/clf.st" --data "x=$TX" --data "y=$TY" --batch-loss
check "batch losses average to the loss" "$py" -c '
import sys
lines = [l.split() for l in open(sys.argv[1])]
batches = [(int(l[2]), float(l[3])) for l in lines if l[0] == "batch"]
loss = [float(l[1]) for l in lines if l[0] == "loss"][0]
assert [n for n, _ in batches] == [4, 4, 2], batches
assert abs(sum(n * v for n, v in batches) / 10 - loss) < 1e-6
' "$tmp/last"

expect "eval --batch-const naming a missing const is an error" 1 "no const of that name" \
    "$gradc" eval "$tmp/clf_literal.gm" --params "$tmp/clf.st" --data "x=$TX" --data "y=$TY" --batch-const nope
expect "eval without --params" 1 '^gradc: error: eval: give the parameters' "$gradc" eval "$tmp/clf.gm" --data "x=$TX"
expect "eval without data" 1 '^gradc: error: eval: no data' "$gradc" eval "$tmp/clf.gm" --params "$tmp/clf.st"
expect "eval --help" 0 '^usage: gradc eval MODEL.gm' "$gradc" eval --help

# ---- CSV columns ----
C=$tmp/test.csv
expect "eval on CSV columns (range and name)" 0 '^loss ' \
    "$gradc" eval "$tmp/clf.gm" --params "$tmp/clf.st" --data "x=$C:0-2" --data "y=$C:label"
check "CSV gives the .npy results" cmp "$tmp/last" "$tmp/eval.txt"
expect "eval on CSV columns by header names" 0 '^loss ' \
    "$gradc" eval "$tmp/clf.gm" --params "$tmp/clf.st" --data "x=$C:a,b,c" --data "y=$C:3"
check "CSV by names gives the same" cmp "$tmp/last" "$tmp/eval.txt"
expect "train on CSV" 0 '^step 3/3 ' "$gradc" train "$tmp/clf.gm" --data "x=$tmp/train.csv:0-2" \
    --data "y=$tmp/train.csv:label"

expect "CSV: unknown column" 1 "no column named 'd' \(its columns: a, b, c, label\)" \
    "$gradc" eval "$tmp/clf.gm" --params "$tmp/clf.st" --data "x=$C:a,b,d" --data "y=$C:label"
expect "CSV: too few columns for the input" 1 "2 columns are selected, but input 'x' \(f32\[4, 3\]\) needs 3 values" \
    "$gradc" eval "$tmp/clf.gm" --params "$tmp/clf.st" --data "x=$C:0-1" --data "y=$C:label"
sed '4s/$/,9/' "$C" >"$tmp/ragged.csv"
expect "CSV: a row with an extra field is located" 1 "ragged.csv:4:1: error: this row has 5 fields, but the header on line 1 has 4" \
    "$gradc" eval "$tmp/clf.gm" --params "$tmp/clf.st" --data "x=$tmp/ragged.csv:0-2" --data "y=$tmp/ragged.csv:label"
sed '3s/^[^,]*,[^,]*,/1.5,oops,/' "$C" >"$tmp/word.csv"
expect "CSV: a word where a number belongs is located" 1 "word.csv:3:5: error: column 1 \('b'\): 'oops' is not a number" \
    "$gradc" eval "$tmp/clf.gm" --params "$tmp/clf.st" --data "x=$tmp/word.csv:0-2" --data "y=$tmp/word.csv:label"
if grep -q '^        \^$' "$tmp/err" && grep -q '1.5,oops' "$tmp/err"; then
    pass "CSV error shows the row and a caret"
else
    fail "CSV error shows the row and a caret"
fi
sed '2s/,[0-9]*$/,1.5/' "$C" >"$tmp/frac.csv"
expect "CSV: a fraction for an i32 input" 1 "frac.csv:2:[0-9]+: error: column 3 \('label'\): '1.5' is not a whole number" \
    "$gradc" eval "$tmp/clf.gm" --params "$tmp/clf.st" --data "x=$tmp/frac.csv:0-2" --data "y=$tmp/frac.csv:label"
expect "CSV: --no-csv-header makes the header a bad row" 1 "test.csv:1:1: error: column 0: 'a' is not a number" \
    "$gradc" eval "$tmp/clf.gm" --params "$tmp/clf.st" --data "x=$C:0-2" --data "y=$C:3" --no-csv-header

# ---- --eval-data during training, and the log's eval columns ----
expect "train with --eval-data every 2 steps" 0 '^eval step 4: loss [0-9.]+  accuracy [0-9.]+  \(10 examples\)$' \
    "$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --steps 5 --eval-data "x=$TX" --eval-data "y=$TY" \
    --eval-every 2 --log "$tmp/evallog.csv" --save "$tmp/evalrun.st"
expect "eval the run's checkpoint" 0 '^loss' "$gradc" eval "$tmp/clf.gm" --params "$tmp/evalrun.st" --data "x=$TX" --data "y=$TY"
check "the log has eval columns filled at steps 2, 4 and the last, equal to gradc eval at the end" "$py" -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
final = dict(l.split() for l in open(sys.argv[2]))
assert list(rows[0]) == ["step", "loss", "lr", "grad_norm", "ms", "accuracy", "eval_loss", "eval_accuracy"], list(rows[0])
filled = [r["step"] for r in rows if r["eval_loss"] != ""]
assert filled == ["2", "4", "5"], filled
assert all(r["eval_accuracy"] == "" for r in rows if r["eval_loss"] == "")
assert float(rows[-1]["eval_loss"]) == float(final["loss"]), (rows[-1]["eval_loss"], final["loss"])
assert float(rows[-1]["eval_accuracy"]) == float(final["accuracy"])
' "$tmp/evallog.csv" "$tmp/last"
expect "--eval-every without eval data" 1 'eval-every needs held-out data' \
    "$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --eval-every 2
expect "--eval-data for an input the model lacks" 1 "eval-data: the model has no input 'z' \(its inputs: x, y\)" \
    "$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --eval-data "z=$TX"

# ---- --profile: the kernels of the step by time ----
expect "train --profile=3 lists three kernels and the time by kind" 0 'kernels by time \(3 of [0-9]+\)' \
    "$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --steps 6 --quiet --profile=3
check "the profile counts the steps after the first and names each kernel's ops and source" "$py" -c '
import re, subprocess, sys
err = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=True).stderr
assert re.search(r"^profile: 5 steps, [0-9.]+ ms a step in kernels", err, re.M), err
rows = [l for l in err.splitlines() if re.match(r"^ +[0-9.]+ +[0-9.]+% +[0-9.]+ +([0-9.]+)?  %[0-9]+ ", l)]
assert len(rows) >= 5 and any("matmul" in r for r in rows) and all("clf.gm:" in r for r in rows), err
# A kernel with a product has a rate, one without has none.
assert all(re.match(r"^ +[0-9.]+ +[0-9.]+% +[0-9.]+ +[0-9.]+  %", r) for r in rows if "matmul" in r), err
assert all(re.match(r"^ +[0-9.]+ +[0-9.]+% +[0-9.]+ {11}%", r) for r in rows if "matmul" not in r), err
assert re.search(r"^products: [0-9.]+ GFLOP a step in [0-9.]+ ms of the kernels that hold them .*, [0-9.]+ GFLOP/s$", err, re.M), err
assert "by kind" in err, err
' "$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --steps 6 --quiet --profile=0 --threads 2
expect "--profile needs the JIT" 1 'profile times the JIT.s kernels' \
    "$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --backend interp --profile
expect "--profile=N needs a count" 1 'profile needs a whole number' \
    "$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --profile=many

# ---- shuffled --save/--resume: k + k steps equal 2k steps ----
# 12 examples in batches of 4: 3 steps per epoch, so 7 + 7 steps cross epoch boundaries mid-run.
"$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --steps 14 --log "$tmp/whole.csv" --quiet >/dev/null 2>"$tmp/err"
"$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --steps 7 --log "$tmp/first.csv" --save "$tmp/half.st" \
    --quiet >/dev/null 2>>"$tmp/err"
"$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --steps 7 --log "$tmp/second.csv" --resume "$tmp/half.st" \
    --quiet >/dev/null 2>>"$tmp/err"
check "7 + 7 resumed steps give the 14-step run's losses bit for bit (shuffled)" "$py" -c '
import csv, sys
col = lambda p: [(r["step"], r["loss"], r["grad_norm"]) for r in csv.DictReader(open(p))]
whole, split = col(sys.argv[1]), col(sys.argv[2]) + col(sys.argv[3])
assert len(whole) == 14 and whole == split, (whole, split)
' "$tmp/whole.csv" "$tmp/first.csv" "$tmp/second.csv"

# ---- --resume with --log appends to the log it continues ----
# The first run logs 9 steps but saves after 7 (another run of 7 steps, same log); the resumed
# run keeps rows 1-7 (8 and 9 are redone), drops a row cut short by a crash, and appends 8-14.
"$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --steps 9 --log "$tmp/cont.csv" --quiet >/dev/null 2>>"$tmp/err"
printf '10,0.5' >>"$tmp/cont.csv"
"$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --steps 7 --log "$tmp/cont.csv" --resume "$tmp/half.st" \
    --quiet >/dev/null 2>>"$tmp/err"
check "--resume appends to its log: one log of 14 rows, the 14-step run's losses" "$py" -c '
import csv, sys
col = lambda p: [(r["step"], r["loss"], r["grad_norm"]) for r in csv.DictReader(open(p))]
whole, cont = col(sys.argv[1]), col(sys.argv[2])
assert whole == cont, (whole, cont)
assert open(sys.argv[2]).read().count("step,") == 1
' "$tmp/whole.csv" "$tmp/cont.csv"
cp "$tmp/cont.csv" "$tmp/cont.before"
expect "a log with other columns is refused, not rewritten" 1 "has the columns" \
    "$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --eval-data "x=$X" --eval-data "y=$Y" --steps 2 \
    --log "$tmp/cont.csv" --resume "$tmp/half.st" --quiet
check "... and the refused log is untouched" cmp "$tmp/cont.csv" "$tmp/cont.before"
"$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --steps 2 --log "$tmp/cont.csv" --quiet >/dev/null 2>>"$tmp/err"
check "without --resume the log is rewritten" "$py" -c '
import csv, sys
assert [r["step"] for r in csv.DictReader(open(sys.argv[1]))] == ["1", "2"]
' "$tmp/cont.csv"
"$gradc" train "$tmp/clf.gm" --data "x=$X" --data "y=$Y" --steps 14 --no-shuffle --log "$tmp/ordered.csv" --quiet \
    >/dev/null 2>"$tmp/err"
check "shuffling changes the losses (it does shuffle)" "$py" -c '
import csv, sys
a = [r["loss"] for r in csv.DictReader(open(sys.argv[1]))]
b = [r["loss"] for r in csv.DictReader(open(sys.argv[2]))]
assert a != b
' "$tmp/whole.csv" "$tmp/ordered.csv"

# ---- gradc plot ----
check "plot writes an SVG" "$gradc" plot "$tmp/evallog.csv" -o "$tmp/loss.svg" --title 'loss & "eval"'
if command -v xmllint >/dev/null 2>&1; then
    check "the SVG is well-formed XML (xmllint)" xmllint --noout "$tmp/loss.svg"
fi
check "the SVG has the axes, both curves and a legend" "$py" -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg"
texts = [t.text for t in root.iter(ns + "text")]
assert "step" in texts and "loss" in texts and "train loss" in texts and "eval loss" in texts, texts
assert "loss & \"eval\"" in texts, texts
lines = list(root.iter(ns + "polyline"))
assert len(lines) == 2, len(lines)
assert len(lines[0].get("points").split()) == 5 and len(lines[1].get("points").split()) == 3
' "$tmp/loss.svg"
check "plot --log-y" "$gradc" plot "$tmp/whole.csv" -o "$tmp/whole.svg" --log-y
check "a log without eval has one curve" "$py" -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert len(list(root.iter("{http://www.w3.org/2000/svg}polyline"))) == 1
' "$tmp/whole.svg"
expect "plot of a file that is not a log" 1 'test.csv:1:1: error: the header has no step column' \
    "$gradc" plot "$C" -o "$tmp/bad.svg"
expect "plot without -o" 1 'plot: give the SVG file to write with -o' "$gradc" plot "$tmp/whole.csv"

# ---- --text and gradc sample on a byte-level language model ----
cat >"$tmp/lm.gm" <<'EOF'
const batch = 4
const ctx = 8
input tokens: i32[batch, ctx]
input targets: i32[batch, ctx]
x = embedding(tokens, 256, 16) as wte
logits = linear(x, 256) as head
loss = cross_entropy(logits, targets)
output logits = logits
output accuracy = accuracy(logits, targets)
train {
    optimizer = adam(lr=0.01)
    seed = 3
}
EOF
"$py" -c 'import sys; open(sys.argv[1], "w").write("the quick brown fox jumps over the lazy dog. " * 10)' "$tmp/text.txt"
# 450 bytes: (450 - 1) // 8 = 56 windows of context 8, 14 steps per epoch.
expect "train --text" 0 '^step 14/14 ' "$gradc" train "$tmp/lm.gm" --text "$tmp/text.txt" --save "$tmp/lm.st" \
    --eval-text "$tmp/text.txt"
expect "eval --text sees 56 windows" 0 '^\{"examples": 56, ' "$gradc" eval "$tmp/lm.gm" --params "$tmp/lm.st" \
    --text "$tmp/text.txt" --json
"$py" -c 'import sys; open(sys.argv[1], "w").write("x" * 8)' "$tmp/short.txt"
expect "--text shorter than one window" 1 'short.txt has 8 bytes; a window of context 8 needs 9' \
    "$gradc" eval "$tmp/lm.gm" --params "$tmp/lm.st" --text "$tmp/short.txt"
expect "--text on a model without tokens" 1 "text: the model has no input 'tokens' \(its inputs: x, y\)" \
    "$gradc" train "$tmp/clf.gm" --text "$tmp/text.txt"

"$gradc" sample "$tmp/lm.gm" --params "$tmp/lm.st" --prompt "the " --length 40 --seed 7 >"$tmp/s1" 2>"$tmp/err"
"$gradc" sample "$tmp/lm.gm" --params "$tmp/lm.st" --prompt "the " --length 40 --seed 7 --backend interp >"$tmp/s2" 2>>"$tmp/err"
"$gradc" sample "$tmp/lm.gm" --params "$tmp/lm.st" --prompt "the " --length 40 --seed 8 --temperature 5 >"$tmp/s3" 2>>"$tmp/err"
"$gradc" sample "$tmp/lm.gm" --params "$tmp/lm.st" --prompt "the " --length 40 --seed 9 --temperature 5 >"$tmp/s4" 2>>"$tmp/err"
if [ "$(wc -c <"$tmp/s1")" -eq 44 ] && [ "$(head -c 4 "$tmp/s1")" = "the " ]; then
    pass "sample prints the prompt and 40 bytes"
else
    fail "sample prints the prompt and 40 bytes ($(wc -c <"$tmp/s1") bytes)"
fi
check "sample is deterministic for a seed (and the same on both backends)" cmp "$tmp/s1" "$tmp/s2"
if ! cmp -s "$tmp/s3" "$tmp/s4"; then pass "another seed, another text"; else fail "another seed, another text"; fi
"$gradc" sample "$tmp/lm.gm" --params "$tmp/lm.st" --length 30 --temperature 0 --seed 1 >"$tmp/g1" 2>"$tmp/err"
"$gradc" sample "$tmp/lm.gm" --params "$tmp/lm.st" --length 30 --temperature 0 --seed 2 >"$tmp/g2" 2>>"$tmp/err"
if [ "$(wc -c <"$tmp/g1")" -eq 30 ] && cmp -s "$tmp/g1" "$tmp/g2"; then
    pass "greedy sampling ignores the seed; no prompt prints just the 30 bytes"
else
    fail "greedy sampling ignores the seed; no prompt prints just the 30 bytes"
fi
grep -v '^output logits' "$tmp/lm.gm" >"$tmp/lm_nologits.gm"
expect "sample needs an output logits" 1 'has no output .logits.; add a line `output logits = ...`' \
    "$gradc" sample "$tmp/lm_nologits.gm" --params "$tmp/lm.st"
expect "sample on a model without tokens" 1 "has no input 'tokens'" "$gradc" sample "$tmp/clf.gm" --params "$tmp/clf.st"
expect "sample --temperature must be a number" 1 'temperature needs a number >= 0' \
    "$gradc" sample "$tmp/lm.gm" --params "$tmp/lm.st" --temperature hot

finish
