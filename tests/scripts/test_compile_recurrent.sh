#!/bin/sh
# test_compile_recurrent.sh: a model with a recurrent layer (examples/lstm_digits: a two-layer
# bidirectional lstm) compiles into a standalone trainer, whose loop over time comes from gradc's
# runtime library (runtime/recurrent.c), and trains as `gradc train --backend jit` does: the same
# loss and gradient norm at every step (to 1e-5).
#
# usage: test_compile_recurrent.sh GRADC SOURCE_DIR PYTHON
. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp
export OPENBLAS_NUM_THREADS=1
model=$src/examples/lstm_digits/model.gm
data=$src/examples/digits_cce/data
set -- --data "x=$data/train_x.npy" --data "y=$data/train_y.npy" --steps 8 --no-shuffle --quiet
if ! "$gradc" compile "$model" -o "$tmp/trainer" >"$tmp/out" 2>&1; then
    echo "FAIL: gradc compile"
    sed 's/^/    | /' "$tmp/out"
    exit 1
fi
if ! "$tmp/trainer" train "$@" --log "$tmp/aot.csv" >"$tmp/out" 2>&1 ||
    ! "$gradc" train "$model" "$@" --backend jit --log "$tmp/jit.csv" >>"$tmp/out" 2>&1; then
    echo "FAIL: training"
    sed 's/^/    | /' "$tmp/out"
    exit 1
fi
"$py" - "$tmp/jit.csv" "$tmp/aot.csv" <<'PY'
import csv, sys
jit, aot = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
assert len(jit) == len(aot) == 8, (len(jit), len(aot))
for a, b in zip(jit, aot):
    for col in ("loss", "grad_norm"):
        x, y = float(a[col]), float(b[col])
        if abs(x - y) > 1e-5 * max(1.0, abs(x)):
            sys.exit("FAIL: step %s %s: jit %r, trainer %r" % (a["step"], col, x, y))
print("PASS: the compiled trainer of examples/lstm_digits trains as the JIT does (8 steps)")
PY
