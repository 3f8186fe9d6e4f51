#!/bin/sh
# test_kernel_cache.sh: the JIT's kernel cache (docs/compile.md, "The kernel cache") and compile
# time that does not grow with depth. Every run here uses a cache directory of its own under a
# temporary directory (HOME too), never the user's.
#
# - a cold run compiles every distinct kernel and stores it; a warm run compiles none (LLVM is
#   skipped: `0 compiled by LLVM` in --verbose) and trains bit-identically;
# - corrupt, truncated and foreign entries are rebuilt, never trusted, and the run is unchanged;
# - --no-cache and GRADC_CACHE_DIR=off compile everything and write nothing;
# - --cache-dir, GRADC_CACHE_DIR, $XDG_CACHE_HOME/gradc and ~/.cache/gradc, created when missing;
# - two runs filling one cache at once both succeed and leave no temporary files;
# - GRADC_CACHE_MAX bounds the cache: stale entries and temporary files go, recent ones stay;
# - the number of distinct kernels of a Transformer does not change with its depth (from 3 layers
#   on: the first and last layers differ from the middle ones).
#
# usage: test_kernel_cache.sh GRADC SOURCE_DIR PYTHON     (ctest passes these)
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
export HOME="$tmp/home"

# M2's shape (bench/m2.gm) shrunk: two layers of a tiny GPT on a few bytes of text.
i=0
while [ $i -lt 40 ]; do
    printf 'the quick brown fox jumps over the lazy dog %d. ' $i
    i=$((i + 1))
done >"$tmp/text.txt"
model="$src/bench/m2.gm"
shrink="--set vocab=256 --set ctx=8 --set dim=16 --set heads=2 --set batch=2"

# train NAME [OPTIONS...]: 3 steps, log to $tmp/NAME.csv, --verbose to $tmp/NAME.err
train() {
    name=$1
    shift
    "$gradc" train "$model" $shrink --set layers=2 --text "$tmp/text.txt" --steps 3 --no-shuffle --quiet --verbose \
        --log "$tmp/$name.csv" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
}
# field NAME WHAT: the number before WHAT on the kernels: line of run NAME
field() {
    sed -n "s/^kernels: .*[ :]\([0-9][0-9]*\) $2.*/\1/p" "$tmp/$1.err"
}
losses() { cut -d, -f2 "$tmp/$1.csv"; }
same_losses() { [ "$(losses "$1")" = "$(losses "$2")" ] && [ -n "$(losses "$1")" ]; }
entries() { find "$1" -name '*.o' | wc -l; }

# --- cold, then warm
cache="$tmp/made/on/demand"
check "a cold run trains (exit 0)" train cold --cache-dir "$cache"
distinct=$(sed -n 's/^kernels: [0-9]* calls, \([0-9]*\) distinct.*/\1/p' "$tmp/cold.err")
check "--verbose counts the distinct kernels" [ -n "$distinct" ]
check "--verbose prints the codegen phases" grep -q '^codegen: partition .* ms, plan .* ms, .* link .* ms$' "$tmp/cold.err"
check "--verbose keeps its one-line summary" grep -q '^compile: frontend .* init .* ms, total .* ms$' "$tmp/cold.err"
check "a cold run compiles every distinct kernel" [ "$(field cold 'compiled by LLVM')" = "$distinct" ]
check "the cache directory is created with its parents" [ -d "$cache" ]
check "a cold run stores its kernels" [ "$(entries "$cache")" -gt 0 ]
check "warm run trains (exit 0)" train warm --cache-dir "$cache"
check "a warm run skips LLVM: 0 compiled" [ "$(field warm 'compiled by LLVM')" = 0 ]
check "a warm run reads every kernel from the cache" [ "$(field warm 'from the kernel cache')" = "$distinct" ]
check "a warm run trains bit-identically" same_losses cold warm
check "no temporary files are left" [ -z "$(find "$cache" -name '*.tmp.*')" ]

# --- corrupt, truncated and foreign entries
set -- $(find "$cache" -name '*.o' | sort)
if [ $# -ge 3 ]; then
    printf 'garbage' | dd of="$1" bs=1 seek=200 conv=notrunc 2>/dev/null # corrupt the object
    head -c 100 "$2" >"$tmp/short" && cp "$tmp/short" "$2"                # truncated
    cp "$1" "$3"                                                          # another entry's bytes
    check "a run over corrupt entries trains (exit 0)" train corrupt --cache-dir "$cache"
    check "corrupt, truncated and foreign entries are recompiled" [ "$(field corrupt 'compiled by LLVM')" = 3 ]
    check "--verbose says entries were rebuilt" grep -q '(3 corrupt or foreign entries rebuilt)' "$tmp/corrupt.err"
    check "a run over corrupt entries trains bit-identically" same_losses cold corrupt
    check "the rebuilt entries are whole again" train rebuilt --cache-dir "$cache"
    check "after a rebuild every kernel comes from the cache" [ "$(field rebuilt 'compiled by LLVM')" = 0 ]
else
    fail "the cold run stored at least 3 kernels (got $#)"
fi

# --- disabled
check "--no-cache trains (exit 0)" train off1 --no-cache
check "--no-cache compiles every kernel" [ "$(field off1 'compiled by LLVM')" = "$distinct" ]
check "--no-cache says so" grep -q '(cache off)' "$tmp/off1.err"
GRADC_CACHE_DIR=off train off2
check "GRADC_CACHE_DIR=off compiles every kernel" [ "$(field off2 'compiled by LLVM')" = "$distinct" ]
check "a disabled cache writes nothing (no ~/.cache)" [ ! -e "$HOME/.cache" ]
check "a disabled cache trains bit-identically" same_losses cold off2

# --- where the cache lives
GRADC_CACHE_DIR="$tmp/env" train env
check "GRADC_CACHE_DIR names the cache" [ "$(entries "$tmp/env")" -gt 0 ]
XDG_CACHE_HOME="$tmp/xdg" train xdg
check "\$XDG_CACHE_HOME/gradc is the default" [ "$(entries "$tmp/xdg/gradc")" -gt 0 ]
train home
check "~/.cache/gradc is the default without XDG_CACHE_HOME" [ "$(entries "$HOME/.cache/gradc")" -gt 0 ]
GRADC_CACHE_DIR="$tmp/env" train flag --cache-dir "$tmp/flag"
check "--cache-dir wins over GRADC_CACHE_DIR" [ "$(entries "$tmp/flag")" -gt 0 ]

# --- two runs filling one cache at once
train par1 --cache-dir "$tmp/shared" &
p1=$!
train par2 --cache-dir "$tmp/shared" &
p2=$!
s1=0
s2=0
wait $p1 || s1=$?
wait $p2 || s2=$?
check "two concurrent runs both succeed" [ $s1 = 0 -a $s2 = 0 ]
check "concurrent runs train bit-identically" same_losses par1 par2
check "concurrent runs leave no temporary files" [ -z "$(find "$tmp/shared" -name '*.tmp.*')" ]
train after --cache-dir "$tmp/shared"
check "what concurrent runs stored is whole" [ "$(field after 'compiled by LLVM')" = 0 ]

# --- distinct kernels do not grow with depth
for layers in 3 7; do
    "$gradc" train "$model" $shrink --set layers=$layers --text "$tmp/text.txt" --steps 0 --quiet --verbose \
        --cache-dir "$tmp/depth" >/dev/null 2>"$tmp/depth$layers.err"
done
d3=$(sed -n 's/^kernels: [0-9]* calls, \([0-9]*\) distinct.*/\1/p' "$tmp/depth3.err")
d7=$(sed -n 's/^kernels: [0-9]* calls, \([0-9]*\) distinct.*/\1/p' "$tmp/depth7.err")
c3=$(sed -n 's/^kernels: \([0-9]*\) calls.*/\1/p' "$tmp/depth3.err")
c7=$(sed -n 's/^kernels: \([0-9]*\) calls.*/\1/p' "$tmp/depth7.err")
check "7 layers have no more distinct kernels than 3 ($d3, $d7)" [ -n "$d3" -a "${d7:-999999}" -le "${d3:-0}" ]
check "7 layers make more kernel calls than 3 ($c3, $c7)" [ -n "$c3" -a "${c7:-0}" -gt "${c3:-0}" ]
check "7 layers compile nothing new after 3" [ "$(sed -n 's/^kernels: .* \([0-9]*\) compiled by LLVM.*/\1/p' "$tmp/depth7.err")" = 0 ]

# --- the size bound (GRADC_CACHE_MAX): least recently used entries go first
evict="$tmp/evict"
train fill --cache-dir "$evict"
train other --cache-dir "$tmp/other" --set heads=1
entries=$(find "$evict" -name '*.o' | wc -l)
bytes=$(find "$evict" "$tmp/other" -name '*.o' -exec cat {} + | wc -c)
# Ten stale entries of 1 MiB (valid names, an old mtime) and a temporary file of a killed writer.
k=0
while [ $k -lt 10 ]; do
    head -c 1048576 /dev/zero >"$evict/0000000000000000000000000000000$k.o"
    touch -d '2001-01-01' "$evict/0000000000000000000000000000000$k.o"
    k=$((k + 1))
done
head -c 100 /dev/zero >"$evict/ffffffffffffffffffffffffffffffff.o.tmp.1.abcdef"
touch -d '2001-01-01' "$evict/ffffffffffffffffffffffffffffffff.o.tmp.1.abcdef"
# A run that stores new entries, bounded above both runs' entries but far below the stale ones.
bound=$((bytes * 10 / 9 + 4096))
GRADC_CACHE_MAX=$bound train bound --cache-dir "$evict" --set heads=1
check "a run over the bound removes the least recently used entries" \
    [ -z "$(find "$evict" -name '0000000000000000000000000000000*.o')" ]
check "a run over the bound removes stale temporary files" [ -z "$(find "$evict" -name '*.tmp.*')" ]
check "the bound keeps the cache under it" [ "$(find "$evict" -name '*.o' -exec cat {} + | wc -c)" -le $bound ]
train again --cache-dir "$evict"
check "entries runs recently used survive eviction ($entries entries)" [ "$(field again 'compiled by LLVM')" = 0 ]
GRADC_CACHE_MAX=1M train unbounded --cache-dir "$tmp/small" 
check "GRADC_CACHE_MAX=1M keeps a small cache whole" [ "$(field unbounded 'compiled by LLVM')" != 0 -a -n "$(find "$tmp/small" -name '*.o')" ]

finish
