#!/bin/sh
# test_train_interrupt.sh: a training run stopped by SIGINT (or SIGTERM) finishes the step in
# flight, saves its checkpoint, leaves whole log rows, prints the command that resumes it and
# exits 130 (143); running that command gives the log (all but the ms column) and the checkpoint
# of a run never interrupted, bit for bit. For `gradc train` on both backends and for the
# standalone trainer `gradc compile` writes.
#
# usage: test_train_interrupt.sh GRADC SOURCE_DIR PYTHON     (ctest passes these)
# Prints one line per check and `N passed, M failed` last; exits 1 if any check failed.

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp

"$py" -c '
import numpy as np, sys
rng = np.random.default_rng(7)
x = rng.normal(size=(4000, 32)).astype(np.float32)
y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32)
np.save(sys.argv[1] + "/x.npy", x)
np.save(sys.argv[1] + "/y.npy", y)
' "$tmp" || exit 2
# Shuffled data, Adam and a schedule: a resume must restore the data order, the moments and the
# schedule's step to be bit-identical.
cat >"$tmp/m.gm" <<EOF
const batch = 16
input x: f32[batch, 32]
input y: i32[batch]
logits = linear(relu(linear(x, 256) as fc1), 2) as fc2
loss = cross_entropy(logits, y)
train {
    optimizer = adam(lr=0.01)
    schedule = cosine(warmup=10, total=3000)
    seed = 3
}
EOF
D="--data x=$tmp/x.npy --data y=$tmp/y.npy"

# A background job of a script inherits SIGINT ignored (and a trainer leaves an ignored signal
# ignored); this starts it with SIGINT's default action, as a terminal would.
start() {
    "$py" -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
        "$@" >"$tmp/out" 2>"$tmp/err" </dev/null &
    pid=$!
}
# interrupt SIGNAL LOG ROWS: sends SIGNAL to the job once LOG has ROWS lines; sets $status.
interrupt() {
    tries=0
    while [ "$(rows "$2")" -lt "$3" ] && [ $tries -lt 3000 ] && kill -0 $pid 2>/dev/null; do
        sleep 0.01
        tries=$((tries + 1))
    done
    kill -"$1" $pid 2>/dev/null
    wait $pid
    status=$?
}
# same_run NAME REF_LOG REF_CKPT LOG CKPT: logs equal but for the ms column, checkpoints equal.
same_run() {
    cut -d, -f1-4,6- "$2" >"$tmp/ref.cut"
    cut -d, -f1-4,6- "$4" >"$tmp/run.cut"
    if cmp -s "$tmp/ref.cut" "$tmp/run.cut" && cmp -s "$3" "$5"; then pass "$1"; else
        diff "$tmp/ref.cut" "$tmp/run.cut" | head -5 >"$tmp/out"
        cmp "$3" "$5" >>"$tmp/out" 2>&1
        fail "$1"
    fi
}
# whole_rows LOG: every line ends with a newline and has the header's number of fields.
whole_rows() {
    [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] &&
        awk -F, 'NR == 1 { n = NF } NF != n { exit 1 }' "$1"
}

# interrupted_run NAME SIGNAL STEPS ROWS REF_LOG REF_CKPT LOG CKPT COMMAND...: runs COMMAND, stops
# it with SIGNAL once the log has ROWS lines, checks the exit status, message and log, runs the
# printed resume command and compares with the reference.
interrupted_run() {
    name=$1 sig=$2 steps=$3 want_rows=$4 ref_log=$5 ref_ckpt=$6 log=$7 ckpt=$8
    shift 8
    start "$@"
    interrupt "$sig" "$log" "$want_rows"
    want=130
    [ "$sig" = TERM ] && want=143
    done_rows=$(($(rows "$log") - 1))
    if [ "$status" -eq $want ] && grep -q "^interrupted after step $done_rows of $steps; saved $ckpt\$" "$tmp/err" &&
        [ "$done_rows" -ge "$want_rows" ] && [ "$done_rows" -lt "$steps" ] && [ -s "$ckpt" ] && whole_rows "$log"; then
        pass "$name: SIG$sig stops after a whole step (exit $want, $done_rows steps, checkpoint saved)"
    else
        echo "exit $status, $done_rows rows" >>"$tmp/err"
        fail "$name: SIG$sig stops after a whole step (exit $want)"
        return
    fi
    again=$(sed -n 's/^resume with: //p' "$tmp/err")
    case $again in
    *"--resume $ckpt --steps $((steps - done_rows))" | *"--resume $ckpt --save $ckpt --steps $((steps - done_rows))") pass "$name: prints the resume command" ;;
    *) fail "$name: prints the resume command" ;;
    esac
    if eval "$again" >"$tmp/out" 2>"$tmp/err" </dev/null; then
        same_run "$name: the resumed run's log and checkpoint are bit-identical to an uninterrupted run's" \
            "$ref_log" "$ref_ckpt" "$log" "$ckpt"
    else
        fail "$name: the resume command runs"
    fi
}

# Steps must outlast the signal: a step of this model takes tens of microseconds on a quiet
# machine, so 2000 of them can end before the loop below sees 20 log rows and signals.
long=20000
for backend in jit interp; do
    steps=$long
    [ $backend = interp ] && steps=400
    B="--backend $backend"
    "$gradc" train "$tmp/m.gm" $D $B --steps $steps --quiet --log "$tmp/ref_$backend.csv" \
        --save "$tmp/ref_$backend.st" >/dev/null 2>"$tmp/err" || fail "$backend reference run"
    interrupted_run "gradc train --backend $backend" INT $steps 20 "$tmp/ref_$backend.csv" "$tmp/ref_$backend.st" \
        "$tmp/run_$backend.csv" "$tmp/run_$backend.st" \
        "$gradc" train "$tmp/m.gm" $D $B --steps $steps --quiet --log "$tmp/run_$backend.csv" --save "$tmp/run_$backend.st"
done

# SIGTERM, without --save: the checkpoint is interrupted.safetensors beside the log, and the resumed
# run saves there at its end; the reference saved at the end has the same bytes (a checkpoint
# holds no file names).
mkdir "$tmp/logs"
interrupted_run "gradc train without --save" TERM $long 20 "$tmp/ref_jit.csv" "$tmp/ref_jit.st" \
    "$tmp/logs/run.csv" "$tmp/logs/interrupted.safetensors" \
    "$gradc" train "$tmp/m.gm" $D --steps $long --quiet --log "$tmp/logs/run.csv"

# --save-every N keeps a rolling checkpoint: a run killed outright (SIGKILL, nothing saved at
# the end) resumes from the last multiple of N, and the log rows past it are redone. (2000 steps:
# saving every 7 steps makes them slow enough, and the resumed run saves as often.)
"$gradc" train "$tmp/m.gm" $D --steps 2000 --quiet --log "$tmp/ref_roll.csv" --save "$tmp/ref_roll.st" >/dev/null 2>"$tmp/err" ||
    fail "2000-step reference run"
start "$gradc" train "$tmp/m.gm" $D --steps 2000 --quiet --log "$tmp/roll.csv" --save "$tmp/roll.st" --save-every 7
interrupt KILL "$tmp/roll.csv" 40
saved=$("$py" -c '
import json, struct, sys
f = open(sys.argv[1], "rb")
n = struct.unpack("<Q", f.read(8))[0]
print(json.loads(f.read(n))["__metadata__"]["step"])
' "$tmp/roll.st" 2>/dev/null)
if [ -n "$saved" ] && [ "$saved" -ge 35 ] && [ $((saved % 7)) -eq 0 ] && [ "$saved" -lt 2000 ]; then
    pass "--save-every 7: a killed run leaves the checkpoint of step $saved"
    if "$gradc" train "$tmp/m.gm" $D --steps $((2000 - saved)) --quiet --log "$tmp/roll.csv" --save "$tmp/roll.st" \
        --save-every 7 --resume "$tmp/roll.st" >"$tmp/out" 2>"$tmp/err"; then
        same_run "--save-every: resuming the killed run gives the uninterrupted run's log and checkpoint" \
            "$tmp/ref_roll.csv" "$tmp/ref_roll.st" "$tmp/roll.csv" "$tmp/roll.st"
    else
        fail "--save-every: the killed run resumes"
    fi
else
    echo "checkpoint step '$saved'" >"$tmp/out"
    fail "--save-every 7: a killed run leaves a rolling checkpoint"
fi
if "$gradc" train "$tmp/m.gm" $D --steps 5 --save-every 2 >"$tmp/out" 2>"$tmp/err"; then
    fail "--save-every without --save is refused"
elif grep -q "save-every needs --save" "$tmp/err"; then pass "--save-every without --save is refused"; else
    fail "--save-every without --save is refused"
fi

# The standalone trainer does the same (its log has every output's column).
if "$gradc" compile "$tmp/m.gm" -o "$tmp/trainer" >"$tmp/out" 2>"$tmp/err"; then
    "$tmp/trainer" train $D --steps $long --quiet --log "$tmp/ref_aot.csv" --save "$tmp/ref_aot.st" \
        >/dev/null 2>"$tmp/err" || fail "standalone reference run"
    interrupted_run "standalone trainer" INT $long 20 "$tmp/ref_aot.csv" "$tmp/ref_aot.st" \
        "$tmp/run_aot.csv" "$tmp/run_aot.st" \
        "$tmp/trainer" train $D --steps $long --quiet --log "$tmp/run_aot.csv" --save "$tmp/run_aot.st"
else
    fail "gradc compile writes the trainer"
fi

finish
