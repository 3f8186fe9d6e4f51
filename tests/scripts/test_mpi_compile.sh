#!/bin/sh
# test_mpi_compile.sh: the standalone trainers of `gradc compile` under `mpirun -np 2`
# (docs/distributed.md, docs/compile.md): per-step loss, grad_norm and accuracy equal a single
# process's at the global batch (2 x 4 = 8) within 1e-5 relative, for a model whose updates run
# after backward (clip_grad_norm: one training program, given the hooked step), one whose single
# process runs the optimizer in backward (a second training program, the data-parallel graph) and
# one with gradient accumulation (whose data-parallel graph all-reduces the accumulated sums on an
# update's last micro-batch only); the trainer's np 2 log equals gradc train's np 2 log; a second
# run is bit-identical (log and checkpoint); 5 steps, then --resume for 3, give the checkpoint of
# 8 steps straight; the sharded eval loss is the single process's; a rank that fails makes every
# rank exit naming it; the trainer links no LLVM.
#
# usage: test_mpi_compile.sh GRADC SOURCE_DIR PYTHON     (ctest passes these; exit 77: skipped)

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp
. "$src/tests/scripts/mpi_common.sh"

# m.gm (mpi_common.sh) clips: its single-process graph keeps the updates after backward.
# sgd.gm runs the optimizer in backward alone; acc.gm accumulates two micro-batches per update.
sed 's/optimizer = adam(lr=0.05)/optimizer = sgd(lr=0.1, momentum=0.9)/; /clip_grad_norm/d' "$tmp/m.gm" >"$tmp/sgd.gm"
sed 's/seed = 11/seed = 11\n    gradient_accumulation_steps = 2/' "$tmp/m.gm" >"$tmp/acc.gm"
T="--threads 1 --quiet"
for m in m sgd acc; do
    check "gradc compile $m.gm" "$gradc" compile "$tmp/$m.gm" -o "$tmp/$m"
done
check "the trainer links no LLVM" sh -c "! ldd '$tmp/m' | grep -qi llvm"

for m in m sgd acc; do
    $mpirun -np 2 "$tmp/$m" train $D $E --eval-every 3 --steps 6 $T --log "$tmp/${m}_np2.csv" >"$tmp/out" 2>"$tmp/err"
    check "$m: mpirun -np 2 TRAINER train (exit 0)" test $? -eq 0
    "$gradc" train "$tmp/$m.gm" --set batch=8 $D $E --eval-every 3 --steps 6 $T --log "$tmp/${m}_np1.csv" \
        >/dev/null 2>"$tmp/err"
    check "$m: per-step loss, grad_norm, accuracy, eval loss of the trainer at np 2 x batch 4 = one process at batch 8 (1e-5)" \
        same_columns "$tmp/${m}_np2.csv" "$tmp/${m}_np1.csv" loss,grad_norm,accuracy,eval_loss,eval_accuracy 1e-5
    $mpirun -np 2 "$gradc" train "$tmp/$m.gm" $D $E --eval-every 3 --steps 6 $T --log "$tmp/${m}_jit2.csv" \
        >/dev/null 2>"$tmp/err"
    check "$m: the trainer's np 2 log = gradc train's np 2 log" \
        same_columns "$tmp/${m}_np2.csv" "$tmp/${m}_jit2.csv" loss,grad_norm,accuracy,eval_loss 1e-6
done

# Run to run, and resume (sgd.gm: the trainer's second program; acc.gm: updates straddle the resume).
for m in sgd acc; do
    $mpirun -np 2 "$tmp/$m" train $D --steps 8 $T --log "$tmp/${m}_a.csv" --save "$tmp/${m}_a.st" >/dev/null 2>"$tmp/err"
    $mpirun -np 2 "$tmp/$m" train $D --steps 8 $T --log "$tmp/${m}_b.csv" --save "$tmp/${m}_b.st" >/dev/null 2>>"$tmp/err"
    check "$m: a second np 2 run of the trainer is bit-identical: log" \
        same_columns "$tmp/${m}_a.csv" "$tmp/${m}_b.csv" loss,grad_norm,accuracy 0
    check "$m: a second np 2 run of the trainer is bit-identical: checkpoint" cmp "$tmp/${m}_a.st" "$tmp/${m}_b.st"
    $mpirun -np 2 "$tmp/$m" train $D --steps 5 $T --save "$tmp/${m}_half.st" >/dev/null 2>"$tmp/err"
    $mpirun -np 2 "$tmp/$m" train $D --steps 3 $T --resume "$tmp/${m}_half.st" --save "$tmp/${m}_resumed.st" \
        >/dev/null 2>>"$tmp/err"
    check "$m: np 2 trainer: 5 steps, then --resume for 3 = 8 steps straight (checkpoint bit for bit)" \
        cmp "$tmp/${m}_resumed.st" "$tmp/${m}_a.st"
done

# The second program's plain step serves --skip-nonfinite alone (the same graph).
"$tmp/sgd" train $D --steps 6 $T --skip-nonfinite --log "$tmp/skip_aot.csv" >/dev/null 2>"$tmp/err"
"$gradc" train "$tmp/sgd.gm" $D --steps 6 $T --skip-nonfinite --log "$tmp/skip_jit.csv" >/dev/null 2>>"$tmp/err"
check "one process, --skip-nonfinite: the trainer = gradc train" \
    same_columns "$tmp/skip_aot.csv" "$tmp/skip_jit.csv" loss,grad_norm 1e-6

# A rank that fails: data with a NaN (found by each rank's validation before the first step).
$mpirun -np 2 "$tmp/m" train --data x="$tmp/bad_x.npy" --data y="$tmp/y.npy" --steps 2 $T >"$tmp/out" 2>"$tmp/err"
status=$?
if [ $status -ne 0 ] && grep -q 'rank [01] of 2: ' "$tmp/err" && grep -q 'NaN' "$tmp/err"; then
    pass "bad data under mpirun: the trainer fails on every rank, naming the rank and the cause"
else
    fail "bad data under mpirun: the trainer fails on every rank, naming the rank and the cause (exit $status)"
fi
check "the trainer's --mpi-timeout takes a positive number of seconds" \
    sh -c "'$tmp/m' train $D --mpi-timeout 0 2>&1 | grep -q 'needs a positive number of seconds'"
finish
