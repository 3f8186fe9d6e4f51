#!/bin/sh
# test_mpi_failures.sh: under `mpirun -np 2`, a rank that fails ends every rank with an error
# naming the rank and the cause, never a hang: a rank killed with SIGKILL mid-training (mpirun
# names it and ends the others), a rank whose data holds a NaN (it names itself and calls
# MPI_Abort), and a rank that stops answering (SIGSTOP: the other fails after --mpi-timeout
# seconds naming itself and the timeout). Each run is bounded by `timeout`.
#
# usage: test_mpi_failures.sh GRADC SOURCE_DIR PYTHON     (ctest passes these; exit 77: skipped)

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp
. "$src/tests/scripts/mpi_common.sh"

# The program mpirun starts: gradc, and on rank 1 a watcher that sends it SIGNAL once rank 0 has
# logged 3 steps.
cat >"$tmp/rank1.sh" <<'SH'
#!/bin/sh
signal=$1
log=$2
shift 2
if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then
    me=$$
    (
        tries=0
        while { [ ! -f "$log" ] || [ "$(wc -l <"$log")" -lt 4 ]; } && [ $tries -lt 600 ]; do
            sleep 0.1
            tries=$((tries + 1))
        done
        kill -"$signal" $me
    ) </dev/null >/dev/null 2>&1 &
fi
exec "$@"
SH
chmod +x "$tmp/rank1.sh"
T="--threads 1 --quiet --steps 1000000"

timeout 120 $mpirun -np 2 "$tmp/rank1.sh" KILL "$tmp/kill.csv" "$gradc" train "$tmp/m.gm" $D $T \
    --log "$tmp/kill.csv" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "rank 1" "$tmp/out" "$tmp/err" && grep -qi "signal 9\|killed" "$tmp/out" "$tmp/err"; then
    pass "a rank killed mid-training: every rank ends (exit $rc), the error names rank 1 and the signal"
else
    fail "a rank killed mid-training: every rank ends (exit $rc), the error names rank 1 and the signal"
fi

cat >"$tmp/bad_data.sh" <<SH
#!/bin/sh
if [ "\$OMPI_COMM_WORLD_RANK" = 1 ]; then
    exec "$gradc" train "$tmp/m.gm" --data x=$tmp/bad_x.npy --data y=$tmp/y.npy $T
fi
exec "$gradc" train "$tmp/m.gm" $D $T
SH
chmod +x "$tmp/bad_data.sh"
timeout 120 $mpirun -np 2 "$tmp/bad_data.sh" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "rank 1 of 2: .*NaN" "$tmp/err"; then
    pass "bad data on rank 1: every rank ends (exit $rc), the error names rank 1 and the NaN"
else
    fail "bad data on rank 1: every rank ends (exit $rc), the error names rank 1 and the NaN"
fi

timeout 120 $mpirun -np 2 "$tmp/rank1.sh" STOP "$tmp/stop.csv" "$gradc" train "$tmp/m.gm" $D $T \
    --mpi-timeout 2 --log "$tmp/stop.csv" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "rank 0 of 2: no answer from the other ranks within 2 s" "$tmp/err"; then
    pass "a rank that stops answering: rank 0 fails after --mpi-timeout 2 naming itself, every rank ends (exit $rc)"
else
    fail "a rank that stops answering: rank 0 fails after --mpi-timeout 2 naming itself, every rank ends (exit $rc)"
fi
finish
