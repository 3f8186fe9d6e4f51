#!/bin/sh
# test_compile_cache.sh: `gradc compile` through the kernel cache (docs/compile.md, "Compile phases
# and the kernel cache"). Every run uses a cache directory of its own under a temporary directory.
#
# - a cold --emit obj compiles every distinct kernel and the entry points and stores them; a warm one
#   compiles nothing (`0 compiled by LLVM`, entry points `(cached)`) and writes the same bytes;
# - the object defines only its entry points (kernels are local symbols) and links into a C
#   program, twice under two prefixes;
# - corrupt and truncated entries (kernels and the entry points) are rebuilt, never trusted, and
#   the object is unchanged;
# - --no-cache compiles everything, writes nothing and writes the same object;
# - a standalone trainer compiled warm trains bit-identically to one compiled cold and to
#   `gradc train`, whose kernels the compile finds in the cache (the JIT and gradc compile share
#   one cache);
# - --graph predict and --graph eval objects go through the cache too; --no-cache writes nothing.
#
# usage: test_compile_cache.sh GRADC SOURCE_DIR PYTHON     (ctest passes these)
# Prints one line per check and `N passed, M failed` last; exits 1 if any check failed.

. "$(dirname "$0")/lib/checks.sh"
# PYTHON is not needed here.
gradc=$1
src=$2
if [ $# -lt 2 ] || [ ! -x "$gradc" ] || [ ! -f "$src/bench/m2.gm" ]; then
    usage
fi
make_tmp
unset GRADC_CACHE_DIR XDG_CACHE_HOME
export HOME="$tmp/home" OPENBLAS_NUM_THREADS=1

i=0
while [ $i -lt 40 ]; do
    printf 'the quick brown fox jumps over the lazy dog %d. ' $i
    i=$((i + 1))
done >"$tmp/text.txt"
model="$src/bench/m2.gm"
shrink="--set vocab=256 --set ctx=8 --set dim=16 --set heads=2 --set batch=2 --set layers=2"
cache="$tmp/cache"

# obj NAME [OPTIONS...]: --emit obj of the training graph to $tmp/NAME.o, --verbose to $tmp/NAME.err
obj() {
    out=$1
    shift
    "$gradc" compile "$model" $shrink --emit obj -o "$tmp/$out.o" --verbose "$@" >"$tmp/$out.out" 2>"$tmp/$out.err"
}
# field NAME WHAT: the number before WHAT on the (first) kernels line of run NAME
field() {
    sed -n "s/^[a-z]* kernels: .*[ :]\([0-9][0-9]*\) $2.*/\1/p" "$tmp/$1.err" | head -1
}
entries() { find "$1" -name '*.o' | wc -l; }

# --- cold, then warm
check "a cold --emit obj compiles (exit 0)" obj cold --cache-dir "$cache"
distinct=$(sed -n 's/^train kernels: [0-9]* calls, \([0-9]*\) distinct.*/\1/p' "$tmp/cold.err")
check "--verbose counts the distinct kernels ($distinct)" [ -n "$distinct" ]
check "--verbose prints the compile phases" grep -q '^compile: frontend .* graphs .* codegen train .* ms, total .* ms$' "$tmp/cold.err"
check "--verbose prints the codegen phases" grep -q '^train: plan .* kernels .* entry points .* merge .* ms$' "$tmp/cold.err"
check "a cold compile compiles every distinct kernel" [ "$(field cold 'compiled by LLVM')" = "$distinct" ]
check "a cold compile compiles its entry points" grep -q 'entry points [0-9.]* ms, merge' "$tmp/cold.err"
check "a cold compile stores the kernels and the entry points" [ "$(entries "$cache")" -eq $((distinct + 1)) ]
check "a warm --emit obj compiles (exit 0)" obj warm --cache-dir "$cache"
check "a warm compile runs no LLVM on kernels: 0 compiled" [ "$(field warm 'compiled by LLVM')" = 0 ]
check "a warm compile reads every kernel from the cache" [ "$(field warm 'from the kernel cache')" = "$distinct" ]
check "a warm compile reads its entry points from the cache" grep -q 'entry points [0-9.]* ms (cached)' "$tmp/warm.err"
check "a warm compile writes the same object" cmp -s "$tmp/cold.o" "$tmp/warm.o"
check "no temporary files are left" [ -z "$(find "$cache" -name '*.tmp.*')" ]

# --- one object: only the entry points are global definitions
nm -g --defined-only "$tmp/cold.o" | awk '{print $3}' | sort >"$tmp/globals"
check "the object defines only model_init, model_step, model_update" \
    [ "$(tr '\n' ' ' <"$tmp/globals")" = "model_init model_step model_update " ]
check "the kernels are local symbols of the object" [ "$(nm "$tmp/cold.o" | grep -c ' t gc_t_')" -eq "$distinct" ]
if command -v cc >/dev/null 2>&1; then
    obj other --cache-dir "$cache" --prefix other_
    cat >"$tmp/two.c" <<'EOF'
#include <stdlib.h>
#include "cold.h"
#include "other.h"
int main(void) {
    char *a = aligned_alloc(64, (size_t)MODEL_ARENA_SIZE), *b = aligned_alloc(64, (size_t)OTHER_ARENA_SIZE);
    if (!a || !b) return 1;
    for (int64_t i = 0; i < MODEL_ARENA_SIZE; i++) a[i] = 0;
    for (int64_t i = 0; i < OTHER_ARENA_SIZE; i++) b[i] = 0;
    model_init(a, NULL);
    other_init(b, NULL);
    model_step(a, NULL);
    other_step(b, NULL);
    model_update(a, NULL);
    other_update(b, NULL);
    free(a);
    free(b);
    return 0;
}
EOF
    check "two objects of the same kernels link into one program and run" \
        sh -c "cc -O1 -I'$tmp' '$tmp/two.c' '$tmp/cold.o' '$tmp/other.o' -lopenblas -lm -o '$tmp/two' && '$tmp/two'"
fi

# --- corrupt and truncated entries: two kernels' and the entry points' (the one naming gc_step)
set -- $(find "$cache" -name '*.o' | sort)
count=$#
ep=$(grep -l gc_step "$@" | head -1)
check "the cache holds the entry points' object" [ -n "$ep" ]
kernels=$(grep -L gc_step "$@" | head -2)
set -- $kernels
for f in "$ep" "$1"; do
    printf 'garbage' | dd of="$f" bs=1 seek=200 conv=notrunc 2>/dev/null
done
head -c 100 "$2" >"$tmp/short" && cp "$tmp/short" "$2"
check "a compile over a corrupt cache succeeds (exit 0)" obj corrupt --cache-dir "$cache"
check "the corrupt and the truncated kernel are compiled again" [ "$(field corrupt 'compiled by LLVM')" = 2 ]
check "--verbose says the kernels' entries were rebuilt" grep -q "(2 corrupt or foreign entries rebuilt)" "$tmp/corrupt.err"
check "corrupt entry points are compiled again" grep -q 'entry points [0-9.]* ms, merge' "$tmp/corrupt.err"
check "a compile over a corrupt cache writes the same object" cmp -s "$tmp/cold.o" "$tmp/corrupt.o"
check "the rebuilt entries are whole again" obj rebuilt --cache-dir "$cache"
check "after a rebuild nothing is compiled" [ "$(field rebuilt 'compiled by LLVM')" = 0 ]
check "after a rebuild the entry points come from the cache" grep -q '(cached)' "$tmp/rebuilt.err"
check "the cache holds as many entries as before ($count)" [ "$(entries "$cache")" -eq "$count" ]

# --- trainers: warm and cold behave alike, and like gradc train, whose kernels they reuse
jit="$tmp/jitcache"
"$gradc" train "$model" $shrink --text "$tmp/text.txt" --steps 4 --no-shuffle --quiet --log "$tmp/jit.csv" \
    --cache-dir "$jit" >/dev/null 2>&1
check "gradc train fills its cache" [ "$(entries "$jit")" -gt 0 ]
"$gradc" compile "$model" $shrink -o "$tmp/T1" --verbose --cache-dir "$jit" >/dev/null 2>"$tmp/T1.err"
check "a trainer compiles (exit 0)" [ -x "$tmp/T1" ]
# (Not all: the trainer's layout lets elementwise kernels write into a dying operand's bytes,
# passes/plan.h operand_bytes, which the JIT's does not, and such kernels differ.)
check "the trainer reuses gradc train's kernels from the cache" \
    [ "$(sed -n 's/^train kernels: .* \([0-9][0-9]*\) from the kernel cache.*/\1/p' "$tmp/T1.err")" -gt 0 ]
"$gradc" compile "$model" $shrink -o "$tmp/T2" --verbose --cache-dir "$jit" >/dev/null 2>"$tmp/T2.err"
# Every program of the trainer: train, eval and the data-parallel train_dp (with gc_step_hooked).
check "a warm trainer compile runs no LLVM on kernels" \
    [ "$(grep -c 'kernels: .* 0 compiled by LLVM' "$tmp/T2.err")" = "$(grep -c 'kernels: ' "$tmp/T2.err")" ]
check "the warm trainer's data-parallel program comes from the cache too" \
    grep -q '^train_dp kernels: .* 0 compiled by LLVM' "$tmp/T2.err"
for t in T1 T2; do
    "$tmp/$t" train --text "$tmp/text.txt" --steps 4 --no-shuffle --quiet --log "$tmp/$t.csv" >/dev/null 2>&1
    cut -d, -f1-4 "$tmp/$t.csv" >"$tmp/$t.cut"
done
cut -d, -f1-4 "$tmp/jit.csv" >"$tmp/jit.cut"
check "a trainer compiled warm trains like one compiled cold" cmp -s "$tmp/T1.cut" "$tmp/T2.cut"
check "the trainers train bit-identically to gradc train" cmp -s "$tmp/T1.cut" "$tmp/jit.cut"
check "the logs have 4 steps" [ "$(wc -l <"$tmp/T1.cut")" -eq 5 ]

# --- the other graphs, and no cache
obj predict --cache-dir "$cache" --graph predict
obj predict2 --cache-dir "$cache" --graph predict
check "--graph predict compiles warm with no LLVM" [ "$(field predict2 'compiled by LLVM')" = 0 ]
check "--graph predict writes the same object warm" cmp -s "$tmp/predict.o" "$tmp/predict2.o"
check "--graph predict defines model_predict" sh -c "nm -g --defined-only '$tmp/predict.o' | grep -q ' T model_predict$'"
obj eval1 --cache-dir "$cache" --graph eval
obj eval2 --cache-dir "$cache" --graph eval
check "--graph eval compiles warm with no LLVM" [ "$(field eval2 'compiled by LLVM')" = 0 ]
check "--graph eval writes the same object warm" cmp -s "$tmp/eval1.o" "$tmp/eval2.o"
obj off --no-cache
check "--no-cache compiles every kernel" [ "$(field off 'compiled by LLVM')" = "$distinct" ]
check "--no-cache says so" grep -q '(cache off)' "$tmp/off.err"
check "--no-cache writes the same object" cmp -s "$tmp/cold.o" "$tmp/off.o"
check "--no-cache writes no cache (no ~/.cache)" [ ! -e "$HOME/.cache" ]

finish
