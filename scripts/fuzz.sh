#!/bin/sh
# fuzz.sh [TARGET] [SECONDS]: runs the libFuzzer targets of tests/fuzz/ under ASan+UBSan.
#
#   TARGET   gm, ir, safetensors, npy, csv, text or onnx (default: all of them, one after the other)
#   SECONDS  how long each target runs (default 60)
#
# Builds build-fuzz/ with clang-19 and -DGC_FUZZ=ON (everything instrumented), then runs each
# target on a scratch copy of its seed corpus (tests/fuzz/corpus/TARGET) plus its past findings,
# with its dictionary, a 2 GB memory limit and a 1 s per-input time limit: a model under 1 MB
# that takes longer is a finding (docs/language.md, "Limits"). Crashes, leaks and slow inputs
# land in build-fuzz/findings/TARGET/; copy them to tests/fuzz/findings/TARGET/ once fixed, and
# the test suite replays them from then on. New interesting inputs stay in build-fuzz/corpus/.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
targets=${1:-all}
seconds=${2:-60}
[ "$targets" = all ] && targets="gm ir safetensors npy csv text onnx"
cc=${CC:-clang-19}
build=${GC_FUZZ_BUILD:-$root/build-fuzz}

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGC_FUZZ=ON >/dev/null
for t in $targets; do
  cmake --build "$build" -j"${JOBS:-2}" --target "fuzz_$t" >/dev/null
done

status=0
for t in $targets; do
  corpus=$build/corpus/$t
  findings=$build/findings/$t
  mkdir -p "$corpus" "$findings"
  cp "$root/tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
  find "$root/tests/fuzz/findings/$t" -type f ! -name '.*' -exec cp {} "$corpus/" \;
  echo "== fuzz_$t for ${seconds}s"
  # The promise is an answer within a second from a normal build (docs/language.md, "Limits");
  # ASan+UBSan instrumentation makes the same work 3-5x slower, so a sanitized input gets 3 s
  # (GC_FUZZ_TIMEOUT). A model near the node limit takes 0.3 s normally and about 1.2 s here.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  "$build/tests/fuzz/fuzz_$t" "$corpus" \
    -dict="$root/tests/fuzz/$t.dict" -max_total_time="$seconds" -timeout="${GC_FUZZ_TIMEOUT:-3}" -rss_limit_mb=2048 \
    -max_len=65536 -artifact_prefix="$findings/" -print_final_stats=1 2>&1 |
    grep -E "DONE|^==|SUMMARY|stat::number_of_executed_units|stat::peak_rss|Test unit written|ERROR|^    #[0-9]" || true
  if ls "$findings"/* >/dev/null 2>&1; then
    echo "fuzz_$t: findings in $findings"
    status=1
  fi
done
exit $status
