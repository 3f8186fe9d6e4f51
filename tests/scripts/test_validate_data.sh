#!/bin/sh
# test_validate_data.sh: data PyTorch refuses is refused before the first step (issue 17): class
# labels outside [0, C) (ignore_index allowed), token ids outside an embedding's rows, NaN in float
# data, inputs left without data (--allow-unbound keeps zeros); and the numerics of a run: the
# NaN stop's hint, the divergence warning, --skip-nonfinite's count and its exit status.
#
# usage: test_validate_data.sh GRADC SOURCE_DIR PYTHON     (ctest passes these; PYTHON has NumPy)
# Prints one line per check and `N passed, M failed` last; exits 1 if any check failed.

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp
cd "$tmp" || exit 2

cat >clf.gm <<'GM'
const batch = 4
input x: f32[batch, 3]
input y: i32[batch]
logits = linear(x, 3) as fc
loss = cross_entropy(logits, y)
train {
    optimizer = sgd(lr=0.5)
    seed = 11
}
GM
cat >ign.gm <<'GM'
const batch = 4
input x: f32[batch, 3]
input y: i32[batch]
logits = linear(x, 3) as fc
loss = nll_loss(log_softmax(logits), y, ignore_index=-1)
GM
cat >emb.gm <<'GM'
const batch = 2
input tokens: i32[batch, 4]
input y: i32[batch]
h = embedding(tokens, 10, 3) as emb
logits = linear(reshape(h, [batch, 12]), 2) as fc
loss = cross_entropy(logits, y)
GM
cat >hot.gm <<'GM'
const batch = 2
input x: f32[batch, 3]
input y: i32[batch, 2]
logits = linear(x, 4) as fc
loss = mse_loss(logits, reshape(one_hot(y, 2), [batch, 4]))
GM
cat >big_lr.gm <<'GM'
const batch = 4
input x: f32[batch, 3]
input y: f32[batch, 1]
loss = mse_loss(linear(x, 1) as fc, y)
train {
    optimizer = sgd(lr=1e6)
    seed = 3
}
GM

"$py" - <<'PY' || exit 2
import numpy as np
rng = np.random.default_rng(1)
x = rng.normal(size=(500, 3)).astype(np.float32)
np.save("x.npy", x)
y = rng.integers(0, 3, size=500)
np.save("y_ok.npy", y)
bad = y.copy(); bad[417] = 5
np.save("y_big.npy", bad)
neg = y.copy(); neg[12] = -3
np.save("y_neg.npy", neg)
ign = y.copy(); ign[::7] = -1
np.save("y_ign.npy", ign)
xn = x.copy(); xn[33, 2] = np.nan
np.save("x_nan.npy", xn)
xi = x.copy(); xi[33, 2] = -np.inf  # infinities stay allowed
np.save("x_inf.npy", xi)
tok = rng.integers(0, 10, size=(8, 4))
np.save("tok_ok.npy", tok)
tb = tok.copy(); tb[5, 1] = 10
np.save("tok_big.npy", tb)
np.save("y2.npy", rng.integers(0, 2, size=8))
np.save("hot_bad.npy", np.array([[0, 1], [1, 0], [2, 0], [0, 0]]))
np.save("xr.npy", (rng.normal(size=(64, 3)) * 10).astype(np.float32))
np.save("yr.npy", (rng.normal(size=(64, 1)) * 10).astype(np.float32))
PY

expect "in-range labels train" 0 "trained 2 steps" "$gradc" train clf.gm --data x=x.npy --data y=y_ok.npy --steps 2
expect "class above the range" 1 "^gradc: error: y_big.npy: example 417 has class 5, but the model's cross_entropy at clf.gm:5:8 has 3 classes \(0..2, or ignore_index -100\)" \
    "$gradc" train clf.gm --data x=x.npy --data y=y_big.npy --steps 2
expect "negative class" 1 "y_neg.npy: example 12 has class -3, but the model's cross_entropy at clf.gm:5:8 has 3 classes" \
    "$gradc" train clf.gm --data x=x.npy --data y=y_neg.npy --steps 2
expect "a checkpoint for eval" 0 "saved clf.safetensors" "$gradc" train clf.gm --data x=x.npy --data y=y_ok.npy --steps 1 --save clf.safetensors
expect "gradc eval checks too" 1 "y_big.npy: example 417 has class 5" \
    "$gradc" eval clf.gm --params clf.safetensors --data x=x.npy --data y=y_big.npy
expect "ignore_index is allowed" 0 "trained 2 steps" "$gradc" train ign.gm --data x=x.npy --data y=y_ign.npy --steps 2
expect "ignore_index is the only exception" 1 "y_neg.npy: example 12 has class -3, but the model's nll_loss at ign.gm:5:8 has 3 classes \(0..2, or ignore_index -1\)" \
    "$gradc" train ign.gm --data x=x.npy --data y=y_neg.npy --steps 2
expect "token ids in range train" 0 "trained 1 steps" "$gradc" train emb.gm --data tokens=tok_ok.npy --data y=y2.npy --steps 1
expect "token id out of range" 1 "tok_big.npy: example 5 has id 10, but the model's embedding at emb.gm:4:5 has 10 rows \(0..9\)" \
    "$gradc" train emb.gm --data tokens=tok_big.npy --data y=y2.npy --steps 1
expect "one_hot through a reshape" 1 "hot_bad.npy: example 2 has class 2, but the model's one_hot at hot.gm:5:[0-9]+ has 2 classes \(0..1\)" \
    "$gradc" train hot.gm --data x=x.npy --data y=hot_bad.npy --steps 1 --allow-unbound x
cat >lm.gm <<'GM'
const batch = 2
input tokens: i32[batch, 4]
input targets: i32[batch, 4]
logits = linear(embedding(tokens, 100, 3) as emb, 100) as head
loss = cross_entropy(logits, targets)
GM
# Windows of 4: example 1 reads tokens from bytes 4..7 and targets from bytes 5..8.
printf 'ABCDEFGzIJ' >token.txt
printf 'ABCDEFGHzJ' >target.txt
printf 'ABCDEFGHIJ' >fine.txt
expect "--text: a token past the embedding's rows" 1 "token.txt: example 1 has id 122, but the model's embedding at lm.gm:4:17 has 100 rows \(0..99\)" \
    "$gradc" train lm.gm --text token.txt --steps 1
expect "--text: a target past the classes" 1 "target.txt: example 1 has class 122, but the model's cross_entropy at lm.gm:5:8 has 100 classes" \
    "$gradc" train lm.gm --text target.txt --steps 1
expect "--text: bytes within the vocabulary" 0 "trained 1 steps" "$gradc" train lm.gm --text fine.txt --steps 1
expect "NaN in float data" 1 "x_nan.npy: example 33 holds NaN" "$gradc" train clf.gm --data x=x_nan.npy --data y=y_ok.npy --steps 2
expect "infinities are allowed" 0 "trained 1 steps" "$gradc" train clf.gm --data x=x_inf.npy --data y=y_ok.npy --steps 1 --no-shuffle
expect "unbound input" 1 "no data for input 'y': bind it with --data NAME=FILE, or keep zeros with --allow-unbound NAME" \
    "$gradc" train clf.gm --data x=x.npy --steps 2
expect "unbound inputs listed" 1 "no data for inputs 'tokens', 'y': bind them" "$gradc" train emb.gm --allow-unbound nothing --steps 1
expect "--allow-unbound keeps zeros" 0 "trained 2 steps" "$gradc" train clf.gm --data x=x.npy --allow-unbound y --steps 2
expect "eval: unbound input" 1 "no data for input 'y'" "$gradc" eval clf.gm --params clf.safetensors --data x=x.npy
expect "NaN stop says what to try" 1 "try a lower lr, clip_grad_norm = 1.0 in the train block, or --skip-nonfinite" \
    "$gradc" train big_lr.gm --data x=xr.npy --data y=yr.npy --steps 16 --no-shuffle
expect "divergence warning" 1 "warning: step 2: the loss rose from .* \(more than 100x\)" \
    "$gradc" train big_lr.gm --data x=xr.npy --data y=yr.npy --steps 16 --no-shuffle
expect "--skip-nonfinite: more than half skipped fails" 1 "updates were skipped for a non-finite loss or gradient norm \(more than half\)" \
    "$gradc" train big_lr.gm --data x=xr.npy --data y=yr.npy --steps 16 --no-shuffle --skip-nonfinite
expect "--skip-nonfinite: the summary counts them" 1 "of 16 updates skipped \(non-finite\)" \
    "$gradc" train big_lr.gm --data x=xr.npy --data y=yr.npy --steps 16 --no-shuffle --skip-nonfinite
expect "--skip-nonfinite: none skipped" 0 "0 of 2 updates skipped" \
    "$gradc" train clf.gm --data x=x.npy --data y=y_ok.npy --steps 2 --skip-nonfinite

finish
