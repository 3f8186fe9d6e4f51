#!/bin/sh
# run_twin.sh: trains one example with gradc and with its PyTorch twin and compares the curves.
#
# usage: run_twin.sh NAME GRADC SOURCE_DIR PYTHON
#
# The twin (tests/twins/NAME.py) writes the initial weights, its per-step log and the arguments
# gradc needs (--steps, --set, --data); gradc then trains examples/NAME/model.gm from the same
# weights on the same batches (--no-shuffle) with each backend (the interpreter and the JIT;
# GC_TWIN_BACKENDS="interp" picks some), compare.py checks the two logs step by step, and
# check_checkpoint.py that gradc's checkpoint loads into the twin: the same keys and shapes as the
# twin's state_dict, and the same trained values.
# Exits 0 when every backend matches, 1 otherwise, 2 on bad usage.

name=$1
gradc=$2
src=$3
py=$4
if [ $# -ne 4 ] || [ ! -x "$gradc" ] || [ ! -d "$src/examples/$name" ]; then
    echo "usage: $0 NAME GRADC SOURCE_DIR PYTHON" >&2
    exit 2
fi
backends=${GC_TWIN_BACKENDS:-interp jit}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gc_twin_$name.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

if ! "$py" -B "$src/tests/twins/$name.py" "$tmp" >"$tmp/twin.out" 2>&1; then
    echo "FAIL $name: the PyTorch twin failed"
    sed 's/^/    | /' "$tmp/twin.out"
    exit 1
fi

# Under bf16 the twin also runs in float32, so compare.py can bound gradc's deviation by torch's
# own mixed-precision drift (see compare.py).
reference=
if [ "${GC_TWIN_PRECISION:-f32}" = bf16 ]; then
    mkdir "$tmp/f32"
    if ! GC_TWIN_PRECISION=f32 "$py" -B "$src/tests/twins/$name.py" "$tmp/f32" >"$tmp/twin_f32.out" 2>&1; then
        echo "FAIL $name: the PyTorch twin failed in float32"
        sed 's/^/    | /' "$tmp/twin_f32.out"
        exit 1
    fi
    reference=$tmp/f32/torch.csv
fi

# The twin's gradc arguments, one a line (paths may hold spaces).
set --
while IFS= read -r arg; do
    set -- "$@" "$arg"
done <"$tmp/gradc_args"

status=0
for backend in $backends; do
    label="$name ($backend)"
    if ! "$gradc" train "$src/examples/$name/model.gm" --init "$tmp/init.safetensors" --no-shuffle \
            --log "$tmp/gradc_$backend.csv" --save "$tmp/gradc_$backend.safetensors" --backend "$backend" \
            --quiet "$@" >"$tmp/gradc.out" 2>&1; then
        echo "FAIL $label: gradc train failed:"
        sed 's/^/    | /' "$tmp/gradc.out" | head -20
        status=1
        continue
    fi
    "$py" -B "$src/tests/twins/compare.py" "$label" "$tmp/torch.csv" "$tmp/gradc_$backend.csv" $reference || status=1
    "$py" -B "$src/tests/twins/check_checkpoint.py" "$label" "$tmp/torch_final.safetensors" \
        "$tmp/gradc_$backend.safetensors" || status=1
done
exit $status
