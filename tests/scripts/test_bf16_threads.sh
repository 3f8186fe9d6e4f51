#!/bin/sh
# test_bf16_threads.sh: a bf16 training run is bit-identical at 1, 2 and 3 threads. The model has a
# tied head over a vocabulary of 8200, so its input gradient ([64, 8200] x [8200, 32]) is split
# along k (gc_sgemm_bf16_ksplit), and layer products the pool splits by rows and by columns, whose
# parts share their bf16 packing (runtime/gemm_bf16.c); the saved weights and every logged value
# but the time must be the same bits whatever the thread count, and the bf16 run's losses near
# the f32 run's.
#
# usage: test_bf16_threads.sh GRADC SOURCE_DIR PYTHON     (ctest passes these)

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp
fail_show= # a failed run prints its own output
export OPENBLAS_NUM_THREADS=1

cat >"$tmp/tied.gm" <<'EOF'
const vocab = 8200
const dim = 32
input tokens: i32[4, 16]
input targets: i32[4, 16]
param wte: f32[vocab, dim] = normal(0, 0.02)
x = take(wte, tokens)
h = gelu(linear(layernorm(x) as ln_1, 4 * dim) as fc)
x = x + linear(h, dim) as proj
logits = layernorm(x) as ln_f @ transpose(wte, [1, 0])
loss = cross_entropy(logits, targets)
train {
    optimizer = adamw(lr=1e-2)
    seed = 3
}
EOF
"$py" -c '
import numpy as np, sys
r = np.random.default_rng(5)
t = r.integers(0, 8200, size=(16, 17)).astype(np.int32)
np.save(sys.argv[1] + "/tokens.npy", t[:, :16]); np.save(sys.argv[1] + "/targets.npy", t[:, 1:])
' "$tmp" || exit 2

run() { # threads precision
    "$gradc" train "$tmp/tied.gm" --data tokens="$tmp/tokens.npy" --data targets="$tmp/targets.npy" --steps 6 \
        --no-shuffle --threads "$1" --precision "$2" --log "$tmp/log_$1_$2.csv" --save-weights "$tmp/w_$1_$2.safetensors" \
        --quiet >"$tmp/out" 2>&1
}

for t in 1 2 3; do
    if run $t bf16; then pass "bf16 run at --threads $t"; else fail "bf16 run at --threads $t"; cat "$tmp/out"; fi
done
if run 2 f32; then pass "f32 run"; else fail "f32 run"; cat "$tmp/out"; fi

same_log() {
    "$py" -c '
import csv, sys
a = list(csv.reader(open(sys.argv[1]))); b = list(csv.reader(open(sys.argv[2])))
assert a[0] == b[0] and len(a) == len(b) == 7, (a[0], b[0], len(a), len(b))
ms = a[0].index("ms")
for ra, rb in zip(a[1:], b[1:]):
    for k, (u, v) in enumerate(zip(ra, rb)):
        assert k == ms or u == v, (ra[0], a[0][k], u, v)
' "$1" "$2"
}
for t in 2 3; do
    if cmp -s "$tmp/w_1_bf16.safetensors" "$tmp/w_${t}_bf16.safetensors" &&
        same_log "$tmp/log_1_bf16.csv" "$tmp/log_${t}_bf16.csv"; then
        pass "bf16 at --threads $t: the weights and the log of --threads 1, bit for bit"
    else
        fail "bf16 at --threads $t: the weights and the log of --threads 1, bit for bit"
    fi
done
if "$py" -c '
import csv, sys
a = list(csv.DictReader(open(sys.argv[1]))); b = list(csv.DictReader(open(sys.argv[2])))
for ra, rb in zip(a, b):
    x, y = float(ra["loss"]), float(rb["loss"])
    assert abs(x - y) <= 2e-2 * abs(y), (ra["step"], x, y)
assert float(a[-1]["loss"]) != float(b[-1]["loss"])  # the products were rounded
' "$tmp/log_1_bf16.csv" "$tmp/log_2_f32.csv"; then
    pass "bf16 losses within 2e-2 of the f32 run's, and not equal to them"
else
    fail "bf16 losses within 2e-2 of the f32 run's, and not equal to them"
fi

finish
