#!/bin/sh
# distributed.sh: data-parallel step time on M2 (docs/distributed.md): `mpirun -np 2` with one
# thread per rank (batch 8 each, a global batch of 16) against one process with two threads at the
# same global batch (--set batch=16), and for reference one process with two threads at batch 8
# and the standalone trainer of `gradc compile` under the same `mpirun -np 2`.
# Rounds alternate the configurations (so load on the machine hits them alike); the step time is
# the median of the logged per-step ms after the warm-up steps, the ratio that of the medians.
# Also reports the gradient bytes each rank puts into all-reduces per step (`--verbose`).
#
# usage: bench/distributed.sh [--gradc PATH] [--steps N] [--warmup W] [--rounds R] [--out FILE|-]
#        (defaults: build-release/gradc or build/gradc, 20 steps, 5 warm-up, 3 rounds,
#        bench/results/distributed.md)

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
gradc=${GRADC:-}
steps=20
warmup=5
rounds=3
out=$here/results/distributed.md
py=/usr/bin/python3
[ -x "$py" ] || py=python3
while [ $# -gt 0 ]; do
    case $1 in
        --gradc) gradc=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,12s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "distributed.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$gradc" ]; then
    gradc=$src/build-release/gradc
    [ -x "$gradc" ] || gradc=$src/build/gradc
fi
[ -x "$gradc" ] || { echo "distributed.sh: no gradc at $gradc (pass --gradc)" >&2; exit 1; }
command -v mpirun >/dev/null 2>&1 || { echo "distributed.sh: mpirun is not installed" >&2; exit 1; }
mpirun="mpirun --allow-run-as-root --oversubscribe"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gc_bench_dist.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
# Random tokens: 8 global batches of 16 sequences of 128.
"$py" -c '
import numpy as np, sys
rng = np.random.default_rng(0)
for name in ("tokens", "targets"):
    np.save(sys.argv[1] + "/" + name + ".npy", rng.integers(0, 256, (128, 128), dtype=np.int32))
' "$tmp" || exit 1
D="--data tokens=$tmp/tokens.npy --data targets=$tmp/targets.npy --steps $steps --quiet --no-shuffle"
m2=$here/m2.gm
"$gradc" compile "$m2" -o "$tmp/m2_trainer" || exit 1

r=1
while [ $r -le "$rounds" ]; do
    echo "round $r of $rounds" >&2
    "$gradc" train "$m2" $D --set batch=16 --threads 2 --log "$tmp/one16_$r.csv" >/dev/null || exit 1
    $mpirun -np 2 "$gradc" train "$m2" $D --threads 1 --verbose --log "$tmp/mpi_$r.csv" \
        >/dev/null 2>"$tmp/mpi_$r.err" || { cat "$tmp/mpi_$r.err" >&2; exit 1; }
    "$gradc" train "$m2" $D --threads 2 --log "$tmp/one8_$r.csv" >/dev/null || exit 1
    $mpirun -np 2 "$tmp/m2_trainer" train $D --threads 1 --log "$tmp/aot_$r.csv" >/dev/null || exit 1
    r=$((r + 1))
done

"$py" - "$tmp" "$rounds" "$warmup" "$steps" "$out" <<'PY'
import csv, glob, os, re, statistics, sys, time
tmp, rounds, warmup, steps, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def ms(kind):
    per_round = []
    for r in range(1, rounds + 1):
        rows = list(csv.DictReader(open("%s/%s_%d.csv" % (tmp, kind, r))))
        per_round.append(statistics.median(float(x["ms"]) for x in rows[warmup:]))
    return statistics.median(per_round), per_round
one16, one16_r = ms("one16")
mpi, mpi_r = ms("mpi")
one8, one8_r = ms("one8")
aot, aot_r = ms("aot")
text = open("%s/mpi_1.err" % tmp).read()
m = re.search(r"all-reduces (\d+) bytes of gradients in (\d+) buckets?, (\d+) of them", text)
nbytes, buckets, early = (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (0, 0, 0)
load = os.getloadavg()[0]
lines = [
    "# Data parallel on M2 (bench/distributed.sh)",
    "",
    "%s; load average %.1f on %d CPUs when it ended (figures taken under that load: rounds alternate "
    "the configurations so it hits them alike). %d steps per run, the first %d not counted; median "
    "of each run's per-step ms, then the median over %d rounds." % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                                  load, os.cpu_count(), steps, warmup, rounds),
    "",
    "| configuration | global batch | step ms (median) | per round | vs one process, 2 threads, batch 16 |",
    "| --- | --- | --- | --- | --- |",
    "| one process, --threads 2, batch 16 | 16 | %.1f | %s | 1.00x |" % (one16, ", ".join("%.1f" % x for x in one16_r)),
    "| mpirun -np 2, --threads 1 each, batch 8 each | 16 | %.1f | %s | %.2fx |" % (mpi, ", ".join("%.1f" % x for x in mpi_r), mpi / one16),
    "| one process, --threads 2, batch 8 (half the work) | 8 | %.1f | %s | %.2fx |" % (one8, ", ".join("%.1f" % x for x in one8_r), one8 / one16),
    "| standalone trainer (gradc compile), mpirun -np 2, --threads 1 each, batch 8 each | 16 | %.1f | %s | %.2fx |" % (aot, ", ".join("%.1f" % x for x in aot_r), aot / one16),
    "",
    "Gradient bytes each rank puts into all-reduces per step: %d (%.1f MiB, f32, every parameter's "
    "gradient once) in %d buckets (GC_MPI_BUCKET_MB, default 4), %d of them started while backward "
    "was still running (the last waits for the end of backward). With 2 ranks each rank sends and "
    "receives about that many bytes per step (Open MPI's shared-memory transport on one machine)." % (nbytes, nbytes / 1048576.0, buckets, early),
    "",
]
report = "\n".join(lines)
print(report)
if out != "-":
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    open(out, "w").write(report)
PY
