#!/bin/sh
# test_mpi_train.sh: data-parallel training under `mpirun -np 2` (docs/distributed.md): per-step
# losses, gradient norms and accuracy equal a single process's at the global batch (2 x 4 = 8,
# the same shuffled example order) within 1e-5 relative; a second run is bit-identical (log and
# checkpoint); --save then --resume gives the uninterrupted run's checkpoint bit for bit; the
# held-out evaluation, sharded over the ranks, gives the single process's eval loss; rank 0 alone
# writes the log and prints; SIGINT to mpirun stops every rank after the same step and saves once.
#
# usage: test_mpi_train.sh GRADC SOURCE_DIR PYTHON     (ctest passes these; exit 77: skipped)

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp
. "$src/tests/scripts/mpi_common.sh"

T="--threads 1 --quiet"
$mpirun -np 2 "$gradc" train "$tmp/m.gm" $D $E --eval-every 4 --steps 8 $T --log "$tmp/np2.csv" \
    --save "$tmp/np2.st" >"$tmp/np2.out" 2>"$tmp/err"
np2=$?
"$gradc" train "$tmp/m.gm" --set batch=8 $D $E --eval-every 4 --steps 8 $T --log "$tmp/np1.csv" \
    --save "$tmp/np1.st" >/dev/null 2>>"$tmp/err"
check "mpirun -np 2 trains (exit 0)" test $np2 -eq 0
check "per-step loss, grad_norm, accuracy and eval loss of np 2 x batch 4 = one process at batch 8 (1e-5)" \
    same_columns "$tmp/np2.csv" "$tmp/np1.csv" loss,grad_norm,accuracy,eval_loss,eval_accuracy 1e-5
# --quiet prints only the summary (the training driver's rule): once, from rank 0.
check "rank 0 alone prints (one summary line)" test "$(grep -c '^trained 8 steps' "$tmp/np2.out")" -eq 1

$mpirun -np 2 "$gradc" train "$tmp/m.gm" $D --steps 8 $T --log "$tmp/again.csv" --save "$tmp/again.st" \
    >/dev/null 2>"$tmp/err"
$mpirun -np 2 "$gradc" train "$tmp/m.gm" $D --steps 8 $T --log "$tmp/again2.csv" --save "$tmp/again2.st" \
    >/dev/null 2>>"$tmp/err"
check "a second np 2 run is bit-identical: log" same_columns "$tmp/again.csv" "$tmp/again2.csv" loss,grad_norm,accuracy 0
check "a second np 2 run is bit-identical: checkpoint" cmp "$tmp/again.st" "$tmp/again2.st"

$mpirun -np 2 "$gradc" train "$tmp/m.gm" $D --steps 5 $T --save "$tmp/half.st" >/dev/null 2>"$tmp/err"
$mpirun -np 2 "$gradc" train "$tmp/m.gm" $D --steps 3 $T --resume "$tmp/half.st" --save "$tmp/resumed.st" \
    >/dev/null 2>>"$tmp/err"
check "np 2: 5 steps, then --resume for 3 = 8 steps straight (checkpoint bit for bit)" \
    cmp "$tmp/resumed.st" "$tmp/again.st"

# Ctrl-C: mpirun turns SIGINT into SIGTERM for every rank; they agree on the step to stop after.
"$py" -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
    $mpirun -np 2 "$gradc" train "$tmp/m.gm" $D --steps 1000000 $T --save "$tmp/int.st" --log "$tmp/int.csv" \
    >"$tmp/out" 2>"$tmp/err" &
pid=$!
tries=0
while [ "$(rows "$tmp/int.csv")" -lt 20 ] && [ $tries -lt 600 ] && kill -0 $pid 2>/dev/null; do
    sleep 0.1
    tries=$((tries + 1))
done
kill -INT $pid
wait $pid
if [ "$(grep -c '^interrupted after step' "$tmp/err")" -eq 1 ] && [ -s "$tmp/int.st" ] &&
    grep -q 'resume with: mpirun -np 2 ' "$tmp/err"; then
    pass "SIGINT to mpirun: every rank stops, rank 0 saves once and prints the mpirun command that resumes"
else
    fail "SIGINT to mpirun: every rank stops, rank 0 saves once and prints the mpirun command that resumes"
fi
finish
