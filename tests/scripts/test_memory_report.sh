#!/bin/sh
# test_memory_report.sh: `gradc check` reports the planned memory of a model from the plan alone,
# without allocating it (a 60,000-wide MLP, a 54 GiB step, answers at once), and a run that
# cannot allocate its step fails with exit 1 naming the size, its largest parts and
# --memory-budget (the address space is limited with ulimit -v so that the allocation fails).
#
# usage: test_memory_report.sh GRADC SOURCE_DIR PYTHON     (ctest passes these)
. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp
cat >"$tmp/wide.gm" <<'EOF'
input x: f32[64, 60000]
input y: i32[64]
h = relu(linear(x, 60000) as fc1)
loss = cross_entropy(linear(h, 10) as fc2, y)
train {
    optimizer = adamw(lr=1e-3)
}
EOF
# 4 GB of address space: far below the 54 GiB the step needs. (Its workspace holds gc_sgemm's
# shared packing of x, 64 x 60000, as fc1's A and as its weight gradient's B: about 31 MiB.)
if (ulimit -v 4000000 && "$gradc" check "$tmp/wide.gm") >"$tmp/out" 2>"$tmp/err" &&
    grep -q '^  peak  *5500[0-9]\.[0-9][0-9] MiB$' "$tmp/out" && grep -q '^  parameters  *13735\.43 MiB$' "$tmp/out"; then
    pass "check reports a 54 GiB step in 4 GB of address space"
else
    fail "check reports a 54 GiB step in 4 GB of address space"
fi
(ulimit -v 4000000 && "$gradc" train "$tmp/wide.gm" --allow-unbound x --allow-unbound y --steps 1 --quiet) \
    >"$tmp/out" 2>"$tmp/err"
status=$?
if [ $status -eq 1 ] && grep -q '^gradc: error: out of memory: .* the training step needs 53\.[0-9]* GiB (parameters 13\.41 GiB, .*optimizer state 26\.83 GiB.*--memory-budget' "$tmp/err"; then
    pass "a step that cannot be allocated: exit 1, its size in GiB, its parts, --memory-budget"
else
    echo "exit $status" >>"$tmp/out"
    fail "a step that cannot be allocated: exit 1, its size in GiB, its parts, --memory-budget"
fi
# --memory-budget and train { memory_budget }: a budget below the smallest planned peak is an
# error stating that peak; a budget that fits changes nothing.
expect "--memory-budget below the smallest peak: an error stating that peak" 1 \
    'the memory budget of 8\.00 GiB \(--memory-budget\) cannot be met: the smallest planned peak of the training step is 53\.7[0-9] GiB' \
    "$gradc" check "$tmp/wide.gm" --memory-budget 8GiB
sed 's/lr=1e-3)/lr=1e-3)\n    memory_budget = "20GB"/' "$tmp/wide.gm" >"$tmp/wide_budget.gm"
expect "train { memory_budget } below the smallest peak: the same error" 1 \
    "the memory budget of 18\.63 GiB \(the train block's memory_budget\) cannot be met" "$gradc" check "$tmp/wide_budget.gm"
sed 's/lr=1e-3)/lr=1e-3)\n    memory_budget = "lots"/' "$tmp/wide.gm" >"$tmp/wide_bad.gm"
expect "a memory_budget that is not a size: a located error" 1 \
    'wide_bad\.gm:7:21: error: memory_budget must be a size such as "2GiB"' "$gradc" check "$tmp/wide_bad.gm"
expect "a budget that fits: the report as without one" 0 '^  peak  *5500[0-9]\.[0-9][0-9] MiB$' \
    "$gradc" check "$tmp/wide.gm" --memory-budget 60GiB
finish
