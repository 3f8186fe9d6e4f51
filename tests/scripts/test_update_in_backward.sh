#!/bin/sh
# test_update_in_backward.sh: the optimizer in backward (passes/update_order.h). A training
# graph whose updates need only their own gradient places each update right after its gradient
# (`gradc ir` prints `updates_in_backward`); the run gives the same losses, gradient norms and
# checkpoint, bit for bit, as the classic order (all gradients, then all updates), which
# --skip-nonfinite keeps, on both backends and for several optimizers (AdamW with weight decay
# included). A model with clip_grad_norm or gradient accumulation keeps the classic order.
#
# usage: test_update_in_backward.sh GRADC SOURCE_DIR PYTHON     (ctest passes these)
# Prints one line per check and `N passed, M failed` last; exits 1 if any check failed.

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp

"$py" -c '
import numpy as np, sys
rng = np.random.default_rng(3)
x = rng.normal(size=(48, 6)).astype(np.float32)
y = (x[:, 0] - x[:, 2] > 0).astype(np.int32) + (x[:, 1] > 0.5).astype(np.int32)
np.save(sys.argv[1] + "/x.npy", x)
np.save(sys.argv[1] + "/y.npy", y)
' "$tmp" || exit 2
model() { # model FILE OPTIMIZER-LINE [EXTRA-LINE]
    cat >"$1" <<EOF
input x: f32[8, 6]
input y: i32[8]
h = gelu(linear(layernorm(x) as ln, 16) as fc1)
h = relu(linear(h, 16) as fc2) + h
loss = cross_entropy(linear(h, 3) as head, y)
train {
    $2
    $3
    seed = 5
}
EOF
}
D="--data x=$tmp/x.npy --data y=$tmp/y.npy"
same() { # same A.csv B.csv: loss, lr and grad_norm columns identical as text (9 digits: f32 bits)
    cut -d, -f2-4 "$1" >"$1.cols" && cut -d, -f2-4 "$2" >"$2.cols" && cmp "$1.cols" "$2.cols" &&
        [ "$(wc -l <"$1.cols")" -gt 10 ]
}
i=0
for opt in "optimizer = adamw(lr=1e-2, weight_decay=0.1)" "optimizer = adam(lr=1e-2, weight_decay=0.01)" \
    "optimizer = sgd(lr=0.1, momentum=0.9, nesterov=true)" "optimizer = rmsprop(lr=1e-3, momentum=0.5)"; do
    i=$((i + 1))
    model "$tmp/m$i.gm" "$opt"
    check "$opt: the training graph is marked updates_in_backward" \
        sh -c "'$gradc' ir '$tmp/m$i.gm' | head -1 | grep -q 'updates_in_backward {'"
    for backend in jit interp; do
        "$gradc" train "$tmp/m$i.gm" $D --steps 12 --backend $backend --log "$tmp/a$i$backend.csv" \
            --save "$tmp/a$i$backend.st" --quiet >/dev/null 2>"$tmp/err"
        "$gradc" train "$tmp/m$i.gm" $D --steps 12 --backend $backend --log "$tmp/b$i$backend.csv" \
            --save "$tmp/b$i$backend.st" --skip-nonfinite --quiet >/dev/null 2>>"$tmp/err"
        check "$opt, $backend: losses and gradient norms bit-identical to the classic order" \
            same "$tmp/a$i$backend.csv" "$tmp/b$i$backend.csv"
        check "$opt, $backend: checkpoint (params and optimizer state) bit-identical" \
            cmp "$tmp/a$i$backend.st" "$tmp/b$i$backend.st"
    done
done
model "$tmp/clip.gm" "optimizer = adamw(lr=1e-2)" "clip_grad_norm = 1.0"
check "clip_grad_norm keeps the classic order (no updates_in_backward)" \
    sh -c "'$gradc' ir '$tmp/clip.gm' | head -1 | grep -q '^graph @clip {'"
model "$tmp/acc.gm" "optimizer = adamw(lr=1e-2)" "gradient_accumulation_steps = 2"
check "gradient accumulation keeps the classic order (no updates_in_backward)" \
    sh -c "'$gradc' ir '$tmp/acc.gm' | head -1 | grep -q '^graph @acc {'"

# gradc check: the plan alone (nothing allocated), gradients freed by their updates, the saving.
check "check reports no kept gradients and the peak saved against the classic order" sh -c "
    '$gradc' check '$tmp/m1.gm' >'$tmp/check.txt' &&
    grep -q '^  gradients  *0.00 MiB  (the optimizer runs in backward' '$tmp/check.txt' &&
    grep -q 'backward saves [0-9.]* MiB)' '$tmp/check.txt'"
check "check of the clip_grad_norm model keeps its gradients" sh -c "
    '$gradc' check '$tmp/clip.gm' >'$tmp/check.txt' && ! grep -q 'runs in backward' '$tmp/check.txt'"

finish
