#!/bin/sh
# run.sh: measures gradc against PyTorch on the reference models M1, M2, M3 (docs/benchmarks.md).
#
# usage: bench/run.sh [--models m1,m2,m3] [--steps N|MODEL=N]... [--warmup W|MODEL=W]... [--rounds R|MODEL=R]...
#                     [--threads T] [--set [MODEL.]NAME=VALUE]... [--quiet-wait S] [--twin-default-malloc] [--twin-coretype auto|none|NAME]
#                     [--out FILE|-] [--cache DIR]
#                     [--gradc PATH] [--build-dir DIR] [--python PY]
#
# Without --gradc (or $GRADC) it configures and builds gradc in Release in --build-dir (default
# SOURCE/build-release; the build is incremental, so an up-to-date tree costs a second). The
# measuring itself is bench/runner.py: R rounds of gradc and the PyTorch twin alternated, 2 threads
# each with the thread settings the spec prescribes, a Markdown table on stdout and in --out
# (default bench/results/latest.md). Measure on an idle machine: a concurrent build ruins the figures.
# The twins run PyTorch at its best: flush-denormal, and the fastest of a few OpenBLAS kernels
# (OPENBLAS_CORETYPE), probed first on a 1024^3 sgemm (--twin-coretype auto, the default).

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
gradc=${GRADC:-}
build=$src/build-release
py=/usr/bin/python3
[ -x "$py" ] || py=python3

# Our own options are consumed here; everything else goes to runner.py as given.
n=$#
while [ "$n" -gt 0 ]; do
    a=$1
    shift
    n=$((n - 1))
    case $a in
        --gradc) gradc=$1; shift; n=$((n - 1)) ;;
        --gradc=*) gradc=${a#*=} ;;
        --build-dir) build=$1; shift; n=$((n - 1)) ;;
        --build-dir=*) build=${a#*=} ;;
        --python) py=$1; shift; n=$((n - 1)) ;;
        --python=*) py=${a#*=} ;;
        -h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) set -- "$@" "$a" ;;
    esac
done

if [ -z "$gradc" ]; then
    if [ ! -f "$build/CMakeCache.txt" ]; then
        cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build.configure.log" 2>&1 || {
            echo "bench: configuring $build failed (see $build.configure.log)" >&2
            exit 1
        }
        rm -f "$build.configure.log"
    elif ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt"; then
        echo "bench: $build is not a Release build; pass --build-dir or --gradc" >&2
        exit 1
    fi
    cmake --build "$build" -j2 --target gradc >/dev/null || {
        echo "bench: building gradc in $build failed" >&2
        exit 1
    }
    gradc=$build/gradc
fi
if [ ! -x "$gradc" ]; then
    echo "bench: $gradc is not an executable gradc" >&2
    exit 1
fi
exec "$py" "$here/runner.py" --gradc "$gradc" --python "$py" "$@"
