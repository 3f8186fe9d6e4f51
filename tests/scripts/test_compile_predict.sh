#!/bin/sh
# test_compile_predict.sh: `gradc compile --emit obj --graph predict`, the forward-only entry point
# for deployment from C (docs/compile.md, "Deploying a model from C"). A small classifier (batch
# norm, dropout, layer norm) is trained by gradc train; its forward-only object and header are
# linked into a C program that loads the checkpoint with the header's <prefix>load_weights and
# predicts every example batch by batch. Its logits must match a NumPy forward pass over the
# checkpoint's tensors (1e-5), and the mean cross-entropy and accuracy computed from them must
# match `gradc eval` (1e-5); the header must name the input x and outputs prediction and probs
# but not the target y nor the accuracy (it reads y); a batch-1 object (--set batch=1) must give
# the same rows; a torch-style header (spaces in its JSON) must load; and the errors (a
# checkpoint missing a tensor, a model whose loss is no loss call, --graph predict without
# --emit obj) must be reported.
#
# usage: test_compile_predict.sh GRADC SOURCE_DIR PYTHON     (ctest passes these; PYTHON has NumPy)

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp
export OPENBLAS_NUM_THREADS=1

cat >"$tmp/mlp.gm" <<'MODEL'
const batch = 8
const features = 6
const hidden = 16
const classes = 3

input x: f32[batch, features]
input y: i32[batch]

h = relu(batchnorm1d(linear(x, hidden) as fc1) as bn)
h = dropout(h, 0.25)
logits = linear(layernorm(h) as norm, classes) as fc2
loss = cross_entropy(logits, y)
output accuracy = accuracy(logits, y)
output probs = softmax(logits, -1)

train {
    optimizer = adam(lr=0.01)
    seed = 7
}
MODEL

"$py" - "$tmp" <<'PY' || { echo "FAIL: could not write the data"; exit 1; }
import sys
import numpy as np
rng = np.random.default_rng(3)
x = rng.standard_normal((40, 6)).astype(np.float32)
y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
np.save(sys.argv[1] + "/x.npy", x)
np.save(sys.argv[1] + "/y.npy", y)
x.tofile(sys.argv[1] + "/x.f32")
PY
data="--data x=$tmp/x.npy --data y=$tmp/y.npy"

check "gradc train saves a checkpoint (with optimizer state)" \
    "$gradc" train "$tmp/mlp.gm" $data --steps 30 --save "$tmp/ckpt.st" --quiet
check "gradc compile --emit obj --graph predict" \
    "$gradc" compile "$tmp/mlp.gm" --emit obj --graph predict -o "$tmp/pred.o" --prefix mlp_
nm "$tmp/pred.o" >"$tmp/out" 2>&1
if grep -q ' T mlp_predict$' "$tmp/out" && grep -q ' T mlp_init$' "$tmp/out" && ! grep -q ' T mlp_step$' "$tmp/out"; then
    pass "nm: the object defines mlp_init and mlp_predict"
else
    fail "nm: the object defines mlp_init and mlp_predict"
fi
if grep -q 'define MLP_INPUT_X ' "$tmp/pred.h" && grep -q 'define MLP_OUTPUT_PREDICTION ' "$tmp/pred.h" &&
    grep -q 'define MLP_OUTPUT_PROBS ' "$tmp/pred.h" && ! grep -q 'MLP_INPUT_Y' "$tmp/pred.h" &&
    ! grep -q 'ACCURACY' "$tmp/pred.h" && ! grep -q 'MLP_OUTPUT_LOSS' "$tmp/pred.h"; then
    pass "the header has x, prediction and probs; no y, loss or accuracy"
else
    cp "$tmp/pred.h" "$tmp/out"
    fail "the header has x, prediction and probs; no y, loss or accuracy"
fi

# The deployed program: weights from the checkpoint, then batches of x.
cat >"$tmp/predict.c" <<'CSRC'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pred.h"
int main(int argc, char **argv) {
    if (argc != 4) return 2;
    int batch = atoi(argv[3]);
    char *arena = aligned_alloc(64, (size_t)MLP_ARENA_SIZE);
    memset(arena, 0, (size_t)MLP_ARENA_SIZE);
    mlp_init(arena, NULL);
    char why[256];
    if (mlp_load_weights(arena, argv[1], why, sizeof why) != 0) {
        fprintf(stderr, "predict: %s\n", why);
        return 1;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) return 1;
    float *x = (float *)(arena + MLP_INPUT_X), *logits = (float *)(arena + MLP_OUTPUT_PREDICTION);
    float *probs = (float *)(arena + MLP_OUTPUT_PROBS);
    while (fread(x, sizeof(float), (size_t)batch * 6, f) == (size_t)batch * 6) {
        mlp_predict(arena, NULL);
        for (int i = 0; i < batch; i++)
            printf("%.9g %.9g %.9g %.9g %.9g %.9g\n", logits[i * 3], logits[i * 3 + 1], logits[i * 3 + 2],
                   probs[i * 3], probs[i * 3 + 1], probs[i * 3 + 2]);
    }
    fclose(f);
    free(arena);
    return 0;
}
CSRC
cc=${CC:-cc}
check "the program compiles (-Wall -Wextra -Werror) and links with OpenBLAS" \
    $cc -std=c11 -D_ISOC11_SOURCE -Wall -Wextra -Werror -O1 -o "$tmp/predict" "$tmp/predict.c" "$tmp/pred.o" -lopenblas -lm
check "it loads the checkpoint and predicts" sh -c "'$tmp/predict' '$tmp/ckpt.st' '$tmp/x.f32' 8 >'$tmp/pred.txt'"
"$gradc" eval "$tmp/mlp.gm" --params "$tmp/ckpt.st" $data --json >"$tmp/eval.json" 2>"$tmp/err"

"$py" - "$tmp" >"$tmp/out" 2>&1 <<'PY'
import json, struct, sys
import numpy as np
d = sys.argv[1]
def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__" or e["dtype"] != "F32":
            continue
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=np.float32).reshape(e["shape"]).astype(np.float64)
    return out
w = load(d + "/ckpt.st")
x = np.load(d + "/x.npy").astype(np.float64)
y = np.load(d + "/y.npy")
h = x @ w["fc1.weight"].T + w["fc1.bias"]
h = (h - w["bn.running_mean"]) / np.sqrt(w["bn.running_var"] + 1e-5) * w["bn.weight"] + w["bn.bias"]
h = np.maximum(h, 0)
h = (h - h.mean(1, keepdims=True)) / np.sqrt(h.var(1, keepdims=True) + 1e-5) * w["norm.weight"] + w["norm.bias"]
want = h @ w["fc2.weight"].T + w["fc2.bias"]
got = np.loadtxt(d + "/pred.txt")
assert got.shape == (40, 6), got.shape
logits, probs = got[:, :3], got[:, 3:]
err = np.abs(logits - want).max() / np.abs(want).max()
assert err < 1e-5, ("logits vs numpy", err)
p = np.exp(want - want.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
assert np.abs(probs - p).max() < 1e-5, ("probs", np.abs(probs - p).max())
ev = json.load(open(d + "/eval.json"))
ls = logits - logits.max(1, keepdims=True)
ls = ls - np.log(np.exp(ls).sum(1, keepdims=True))
loss = -ls[np.arange(40), y].mean()
acc = (logits.argmax(1) == y).mean()
assert abs(loss - ev["loss"]) <= 1e-5 * abs(ev["loss"]) + 1e-7, ("loss", loss, ev["loss"])
assert abs(acc - ev["outputs"]["accuracy"]) < 1e-9, ("accuracy", acc, ev["outputs"]["accuracy"])
print("max rel error vs numpy %.2g, loss %.7f = eval %.7f, accuracy %.3f" % (err, loss, ev["loss"], acc))
PY
if [ $? -eq 0 ]; then pass "logits = NumPy's forward; loss and accuracy from them = gradc eval ($(cat "$tmp/out"))"; else fail "logits = NumPy's forward; loss and accuracy from them = gradc eval"; fi

# One example at a time: the graph compiled for batch 1 gives the same rows.

mkdir -p "$tmp/one"
cp "$tmp/predict.c" "$tmp/one/predict.c"
"$gradc" compile "$tmp/mlp.gm" --emit obj --graph predict --set batch=1 -o "$tmp/one/pred.o" --prefix mlp_ 2>"$tmp/err" &&
    $cc -std=c11 -D_ISOC11_SOURCE -O1 -o "$tmp/predict1" "$tmp/one/predict.c" "$tmp/one/pred.o" -lopenblas -lm 2>>"$tmp/err" &&
    "$tmp/predict1" "$tmp/ckpt.st" "$tmp/x.f32" 1 >"$tmp/pred1.txt" 2>>"$tmp/err"
"$py" -c "
import numpy as np, sys
a = np.loadtxt('$tmp/pred.txt'); b = np.loadtxt('$tmp/pred1.txt')
sys.exit(0 if a.shape == b.shape and np.abs(a - b).max() <= 1e-5 * np.abs(a).max() else 1)" >"$tmp/out" 2>>"$tmp/err"
if [ $? -eq 0 ]; then pass "batch 1: the same predictions, one example at a time"; else fail "batch 1: the same predictions, one example at a time"; fi

# A header as torch's writer spaces it, with tensors in another order and one the graph skips.
"$py" - "$tmp" >"$tmp/out" 2>&1 <<'PY'
import json, struct, sys
d = sys.argv[1]
raw = open(d + "/ckpt.st", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
items = [(k, v) for k, v in header.items() if k != "__metadata__" and not k.startswith("optimizer.")]
items.reverse()
out, blob = {}, b""
for k, v in items:
    a, b = v["data_offsets"]
    out[k] = {"dtype": v["dtype"], "shape": v["shape"], "data_offsets": [len(blob), len(blob) + b - a]}
    blob += data[a:b]
h = json.dumps(out, indent=1).encode()
open(d + "/torch.st", "wb").write(struct.pack("<Q", len(h)) + h + blob)
del out["fc2.bias"]
h = json.dumps(out).encode()
open(d + "/missing.st", "wb").write(struct.pack("<Q", len(h)) + h + blob)
PY
"$tmp/predict" "$tmp/torch.st" "$tmp/x.f32" 8 >"$tmp/pred_torch.txt" 2>"$tmp/err"
if cmp -s "$tmp/pred.txt" "$tmp/pred_torch.txt"; then pass "a torch-style header loads to the same predictions"; else fail "a torch-style header loads to the same predictions"; fi
expect "a checkpoint without fc2.bias is refused, naming it" 1 "has no tensor 'fc2.bias'" \
    "$tmp/predict" "$tmp/missing.st" "$tmp/x.f32" 8

# Errors of gradc compile.
cat >"$tmp/sum.gm" <<'MODEL'
input x: f32[4, 3]
input y: f32[4, 1]
p = linear(x, 1) as fc
loss = mean(square(p - y))
train {
    optimizer = sgd(lr=0.1)
}
MODEL
expect "a loss that is no loss call: exit 1, saying what to write" 1 "no prediction to compile" \
    "$gradc" compile "$tmp/sum.gm" --emit obj --graph predict -o "$tmp/sum.o"
expect "--graph predict without --emit obj: exit 1" 1 "applies to --emit obj" \
    "$gradc" compile "$tmp/mlp.gm" --graph predict -o "$tmp/trainer"
expect "gradc ir --stage predict prints the forward-only graph" 0 'output "prediction"' \
    "$gradc" ir "$tmp/mlp.gm" --stage predict

finish
