# mpi_common.sh: shared by the test_mpi_*.sh scripts (sourced after lib/checks.sh): mpirun, data
# and models. Needs $gradc, $py and $tmp set. Exits 77 (ctest: skipped) when mpirun is missing or
# this gradc has no MPI.

if [ -n "$GC_TEST_NO_MPI" ]; then
    echo "SKIP: this gradc was built without Open MPI"
    exit 77
fi
if ! command -v mpirun >/dev/null 2>&1; then
    echo "SKIP: mpirun is not installed"
    exit 77
fi
# Root in a container: Open MPI refuses to run as root without these.
mpirun="mpirun --allow-run-as-root --oversubscribe"
# A sanitizer build (GC_SANITIZE) reports Open MPI's own allocations at exit as leaks, from
# plugins it has unloaded by then (no stack to suppress by name), so leak checking is off for the
# ranks; gradc's own code is leak-checked by every single-process test. -x hands it to the ranks.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mpirun="$mpirun -x ASAN_OPTIONS"

# The checks are lib/checks.sh's; a failure shows the end of the ranks' output, not its start.
fail_show="tail -20"

# 64 training examples, 30 held out (7 batches of 4 and a remainder of 2).
"$py" -c '
import numpy as np, sys
rng = np.random.default_rng(7)
for name, n in (("", 64), ("eval_", 30)):
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32)
    np.save(sys.argv[1] + "/" + name + "x.npy", x)
    np.save(sys.argv[1] + "/" + name + "y.npy", y)
bad = rng.normal(size=(64, 3)).astype(np.float32)
bad[5, 1] = np.nan
np.save(sys.argv[1] + "/bad_x.npy", bad)
' "$tmp" || exit 2
cat >"$tmp/m.gm" <<'GM'
const batch = 4
input x: f32[batch, 3]
input y: i32[batch]
logits = linear(relu(linear(x, 16) as fc1), 2) as fc2
loss = cross_entropy(logits, y)
output accuracy = accuracy(logits, y)
train {
    optimizer = adam(lr=0.05)
    clip_grad_norm = 0.5
    seed = 11
}
GM
D="--data x=$tmp/x.npy --data y=$tmp/y.npy"
E="--eval-data x=$tmp/eval_x.npy --eval-data y=$tmp/eval_y.npy"

# same_columns A.csv B.csv COLS TOL: the rows of A and B agree in columns COLS within relative TOL.
same_columns() {
    "$py" -c '
import csv, sys
a = list(csv.DictReader(open(sys.argv[1])))
b = list(csv.DictReader(open(sys.argv[2])))
cols, tol = sys.argv[3].split(","), float(sys.argv[4])
if len(a) != len(b) or not a:
    sys.exit("rows: %d vs %d" % (len(a), len(b)))
for ra, rb in zip(a, b):
    for c in cols:
        if ra[c] == rb[c]:
            continue
        x, y = float(ra[c]), float(rb[c])
        if abs(x - y) > tol * max(abs(x), abs(y), 1e-30):
            sys.exit("step %s %s: %r vs %r" % (ra["step"], c, x, y))
' "$@"
}
