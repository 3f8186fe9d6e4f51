#!/bin/sh
# test_mpi_sync_bn.sh: `sync_batchnorm = true` under `mpirun -np 2` (docs/distributed.md): batch
# norm normalises with the global batch's statistics, so per-step losses and gradient norms, and
# the running statistics in the checkpoint, equal a single process's at the global batch within
# 1e-5 relative, with the JIT and with the interpreter; without it they differ (each rank's own
# statistics, DDP's default); a single process trains as without it (to rounding); np 3 runs twice
# bit-identical and equals one process at batch 12.
#
# usage: test_mpi_sync_bn.sh GRADC SOURCE_DIR PYTHON     (ctest passes these; exit 77: skipped)

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp
. "$src/tests/scripts/mpi_common.sh"

# The examples of rank 0 and rank 1 differ in scale, so their batch statistics differ.
"$py" -c '
import numpy as np, sys
rng = np.random.default_rng(3)
x = rng.normal(size=(96, 3, 5)).astype(np.float32)
x[1::2] *= 3.0
x[1::2] += 1.5
np.save(sys.argv[1] + "/bx.npy", x)
np.save(sys.argv[1] + "/by.npy", (x[:, 0, 0] > 0.2).astype(np.int32))
' "$tmp" || exit 2
cat >"$tmp/bn.gm" <<'GM'
const batch = 4
input x: f32[batch, 3, 5]
input y: i32[batch]
h = relu(batchnorm1d(conv1d(x, 6, 3, padding=1) as conv) as bn)
logits = linear(flatten(h), 2) as fc
loss = cross_entropy(logits, y)
train {
    optimizer = sgd(lr=0.1, momentum=0.9)
    seed = 5
    sync_batchnorm = true
}
GM
sed '/sync_batchnorm/d' "$tmp/bn.gm" >"$tmp/local.gm"
B="--data x=$tmp/bx.npy --data y=$tmp/by.npy --threads 1 --quiet --no-shuffle"

# same_tensors A B TOL: the two checkpoints' running statistics agree within relative TOL.
same_tensors() {
    "$py" -c '
import json, struct, sys
import numpy as np
def read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__" or v["dtype"] != "F32":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=np.float32)
    return out
a, b, tol = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3])
for k in ("bn.running_mean", "bn.running_var"):
    x, y = a[k], b[k]
    if not np.allclose(x, y, rtol=tol, atol=1e-7):
        sys.exit("%s: %r vs %r" % (k, x, y))
' "$@"
}

for backend in jit interp; do
    $mpirun -np 2 "$gradc" train "$tmp/bn.gm" $B --backend $backend --steps 10 --log "$tmp/s2.csv" \
        --save "$tmp/s2.st" >/dev/null 2>"$tmp/err"
    np2=$?
    "$gradc" train "$tmp/bn.gm" --set batch=8 $B --backend $backend --steps 10 --log "$tmp/s1.csv" \
        --save "$tmp/s1.st" >/dev/null 2>>"$tmp/err"
    check "$backend: mpirun -np 2 with sync_batchnorm trains (exit 0)" test $np2 -eq 0
    check "$backend: sync_batchnorm np 2 x batch 4 = one process at batch 8: loss, grad_norm (1e-5)" \
        same_columns "$tmp/s2.csv" "$tmp/s1.csv" loss,grad_norm 1e-5
    check "$backend: sync_batchnorm: running_mean and running_var as one process's at batch 8 (1e-5)" \
        same_tensors "$tmp/s2.st" "$tmp/s1.st" 1e-5
done

$mpirun -np 2 "$gradc" train "$tmp/local.gm" $B --steps 10 --log "$tmp/l2.csv" >/dev/null 2>"$tmp/err"
if same_columns "$tmp/l2.csv" "$tmp/s1.csv" loss 1e-3 >/dev/null 2>&1; then
    fail "without sync_batchnorm each rank normalises with its own statistics (losses differ)"
else
    pass "without sync_batchnorm each rank normalises with its own statistics (losses differ)"
fi
"$gradc" train "$tmp/local.gm" --set batch=8 $B --steps 10 --log "$tmp/l1.csv" >/dev/null 2>"$tmp/err"
check "one process: sync_batchnorm changes nothing but rounding (1e-6)" same_columns "$tmp/l1.csv" "$tmp/s1.csv" loss,grad_norm 1e-6

$mpirun -np 3 "$gradc" train "$tmp/bn.gm" $B --steps 6 --log "$tmp/t1.csv" --save "$tmp/t1.st" >/dev/null 2>"$tmp/err"
$mpirun -np 3 "$gradc" train "$tmp/bn.gm" $B --steps 6 --log "$tmp/t2.csv" --save "$tmp/t2.st" >/dev/null 2>>"$tmp/err"
check "np 3: a second run is bit-identical (log)" same_columns "$tmp/t1.csv" "$tmp/t2.csv" loss,grad_norm 0
check "np 3: a second run is bit-identical (checkpoint)" cmp "$tmp/t1.st" "$tmp/t2.st"
"$gradc" train "$tmp/bn.gm" --set batch=12 $B --steps 6 --log "$tmp/t0.csv" >/dev/null 2>>"$tmp/err"
check "np 3 x batch 4 = one process at batch 12 (1e-5)" same_columns "$tmp/t1.csv" "$tmp/t0.csv" loss,grad_norm 1e-5
finish
