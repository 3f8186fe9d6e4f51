#!/bin/sh
# test_twin_batchnorm.sh: batch norm (1d on [N, C] and [N, C, L], 2d, affine or not), group norm
# and RMSNorm train like their PyTorch twins (tests/twins/batchnorm.py) on both backends: losses
# step for step, running statistics and num_batches_tracked, a checkpoint torch loads with
# load_state_dict(strict=True), and `gradc eval` (running statistics) equal to model.eval().
# Then: --init from a state_dict cast to F32 as a whole (num_batches_tracked F32) trains the same
# as from torch's dtypes (I64), and --resume halfway continues bit for bit.
# usage: test_twin_batchnorm.sh GRADC SOURCE_DIR PYTHON
gradc=$1
src=$2
py=$3
if [ $# -ne 3 ] || [ ! -x "$gradc" ]; then
    echo "usage: $0 GRADC SOURCE_DIR PYTHON" >&2
    exit 2
fi
model="$src/tests/twins/batchnorm.gm"
twin="$src/tests/twins/batchnorm.py"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gc_twin_batchnorm.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

if ! "$py" -B "$twin" make "$tmp" >"$tmp/twin.out" 2>&1; then
    echo "FAIL batchnorm: the PyTorch twin failed"
    sed 's/^/    | /' "$tmp/twin.out"
    exit 1
fi

train() { # OUT_NAME BACKEND INIT STEPS [more flags]
    name=$1 backend=$2 init=$3 steps=$4
    shift 4
    if ! "$gradc" train "$model" $init --no-shuffle --steps "$steps" --data "x=$tmp/x.npy" --data "y=$tmp/y.npy" \
            --log "$tmp/$name.csv" --save "$tmp/$name.safetensors" --backend "$backend" --quiet "$@" \
            >"$tmp/gradc.out" 2>&1; then
        echo "FAIL batchnorm ($name): gradc train failed:"
        sed 's/^/    | /' "$tmp/gradc.out" | head -20
        exit 1
    fi
}

status=0
for backend in interp jit; do
    train "gradc_$backend" "$backend" "--init=$tmp/init.safetensors" 20
    if ! "$gradc" eval "$model" --params "$tmp/gradc_$backend.safetensors" --data "x=$tmp/xe.npy" \
            --data "y=$tmp/ye.npy" --json --backend "$backend" >"$tmp/eval_$backend.json" 2>"$tmp/gradc.out"; then
        echo "FAIL batchnorm ($backend): gradc eval failed:"
        sed 's/^/    | /' "$tmp/gradc.out" | head -20
        status=1
        continue
    fi
    "$py" -B "$twin" check "$tmp" "batchnorm ($backend)" "$tmp/gradc_$backend.csv" "$tmp/gradc_$backend.safetensors" \
        "$tmp/eval_$backend.json" || status=1
done

# A state_dict cast to float as a whole: the same run, to the bit.
train f32_init jit "--init=$tmp/init_f32.safetensors" 20
if ! cmp -s "$tmp/f32_init.safetensors" "$tmp/gradc_jit.safetensors"; then
    echo "FAIL batchnorm: --init from an F32 state_dict trains differently from the I64 one"
    status=1
else
    echo "ok batchnorm: --init from an all-F32 state_dict (num_batches_tracked F32) gives the same checkpoint"
fi

# --resume after 8 steps continues bit for bit: buffers come back from the checkpoint (I64 -> i32).
train half jit "--init=$tmp/init.safetensors" 8
train resumed jit "--resume=$tmp/half.safetensors" 12
if ! cmp -s "$tmp/resumed.safetensors" "$tmp/gradc_jit.safetensors"; then
    echo "FAIL batchnorm: 8 steps, --resume, 12 steps differs from 20 steps"
    status=1
else
    echo "ok batchnorm: --resume continues bit for bit"
fi
exit $status
