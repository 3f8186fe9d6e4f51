#!/bin/sh
# test_bench_smoke.sh: bench/run.sh runs end to end on the reference models shrunk to toy sizes
# (every model file lowers and trains with the JIT, every PyTorch twin runs on the same data) and
# produces its table with numbers in every cell. It asserts no speed: figures of a 2-step toy run
# on a shared machine mean nothing.
#
# usage: test_bench_smoke.sh GRADC SOURCE_DIR PYTHON     (ctest passes these; PYTHON has torch)
# Prints one line per check and `N passed, M failed` last; exits 1 if any check failed.

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
[ -d "$src/bench" ] || usage
make_tmp

# Toy sizes: every const the models declare, shrunk (a const a model lacks is skipped).
if sh "$src/bench/run.sh" --gradc "$gradc" --python "$py" --models m1,m2,m3,m4 --steps 2 --warmup 1 --rounds 1 \
        --set batch=4 --set features=24 --set hidden=32 --set classes=5 \
        --set vocab=48 --set ctx=8 --set dim=16 --set heads=2 --set layers=1 --set width=4 --set size=8 \
        --twin-coretype none --out "$tmp/result.md" --cache "$tmp/cache" >"$tmp/stdout" 2>"$tmp/stderr"; then
    pass "bench/run.sh exits 0"
else
    fail "bench/run.sh exits 0 (status $?)"
    sed 's/^/    | /' "$tmp/stderr" | tail -20
fi

# A model row: | mN | FLOP | gradc ms | torch ms | ratio | GFLOP/s x2 | share x2 | RSS x2 | codegen |
# compile | startup |
# The FLOP per step of the toy sizes are exact: M1 2*4*(3*(32*32 + 32*5) + 2*24*32) = 40704, the
# GPTs 6*(12*16*16 + 48*16)*4*8 + 3*4*4*8*8*16 = 786432 (the same for M2 and M3: tying the head
# changes the parameters, not the matmuls). M4 (ResNet-18 at width 4 on 8x8 images, 5 classes):
# 4 * (6 * 141728 - 2 * 1728) multiply-add FLOP = 3358464.
check_row() {
    model=$1
    flop=$2
    row=$(grep "^| $model |" "$tmp/stdout")
    if [ -z "$row" ]; then
        fail "$model: a row in the table"
        return
    fi
    if echo "$row" | awk -F'|' -v flop="$flop" '
        function num(s) { gsub(/[ %]/, "", s); return s ~ /^[0-9]+(\.[0-9]+)?$/ }
        {
            if (NF != 16) exit 1
            f = $3; gsub(/ /, "", f)
            if (f != flop) exit 1
            for (i = 4; i <= 15; i++) if (!num($i)) exit 1
            if ($4 + 0 <= 0 || $5 + 0 <= 0 || $6 + 0 <= 0 || $12 + 0 <= 0 || $13 + 0 <= 0) exit 1
        }'; then
        pass "$model: a row of numbers ($row)"
    else
        fail "$model: a row of numbers with FLOP/step $flop, got: $row"
    fi
}
check_row m1 "4.07e-05G"
check_row m2 "0.000786G"
check_row m3 "0.000786G"
check_row m4 "0.00336G"

# The probe of OpenBLAS kernels is skipped above (--twin-coretype none: a dozen torch imports);
# the twins still report the kernel they ran and that they flushed denormals.
if grep -q '^| m1 | .*, yes |$' "$tmp/result.md" && grep -q '^Machine: .* family ' "$tmp/result.md"; then
    pass "the result file records the twin's OpenBLAS kernel, flush-denormal and the CPU model"
else
    fail "the result file records the twin's OpenBLAS kernel, flush-denormal and the CPU model"
fi

if [ -s "$tmp/result.md" ] && grep -q '^| m3 |' "$tmp/result.md" && grep -q '^Machine: ' "$tmp/result.md"; then
    pass "the result file holds the table and the machine"
else
    fail "the result file holds the table and the machine"
fi
if grep -q '(full size)' "$tmp/result.md"; then
    fail "the toy sizes reached every model (a row says full size)"
else
    pass "the toy sizes reached every model"
fi

finish
