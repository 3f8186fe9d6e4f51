#!/bin/sh
# test_twin_onnx.sh: models exported by torch.onnx.export (training mode) train in gradc through
# the `onnx` layer like the PyTorch modules they came from (tests/twins/onnx_twin.py): the same
# loss per step from the file's own initializers, and a checkpoint torch loads with strict=True.
# Default models: an MLP (LayerNorm, GELU) on both backends, a TransformerEncoder and `finetune` (an
# exported conv/batch-norm backbone with a head written in .gm) on the JIT; test_twin_onnx_vision.sh
# runs ResNet-18 and MobileNetV2. Losses agree within 2e-4 relative per step, or, where torch itself
# strays further from a run whose weights differ by 1e-6 relative (deep batch-norm nets on batches
# of 8 are chaotic after a few steps), within 4 times that (onnx_twin.py prints how many steps).
# Skips (exit 77 -> reported as skipped) when torch's onnx or torchvision is unavailable.
# usage: test_twin_onnx.sh GRADC SOURCE_DIR PYTHON [MODEL...]
gradc=$1
src=$2
py=$3
if [ $# -lt 3 ] || [ ! -x "$gradc" ]; then
    echo "usage: $0 GRADC SOURCE_DIR PYTHON [MODEL...]" >&2
    exit 2
fi
shift 3
models=${*:-mlp finetune transformer}
if "$gradc" import --help >/dev/null 2>&1 && "$gradc" import /dev/null 2>&1 | grep -q "built without protobuf-c"; then
    echo "skip: gradc was built without ONNX support"
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gc_twin_onnx.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
status=0
for name in $models; do
    dir="$tmp/$name"
    mkdir -p "$dir"
    "$py" -B "$src/tests/twins/onnx_twin.py" make "$name" "$dir" >"$dir/twin.out" 2>&1
    rc=$?
    if [ $rc -eq 77 ]; then
        echo "skip $name: $(tail -1 "$dir/twin.out")"
        continue
    elif [ $rc -ne 0 ]; then
        echo "FAIL $name: the PyTorch twin failed"
        sed 's/^/    | /' "$dir/twin.out" | tail -20
        status=1
        continue
    fi
    backends=jit
    [ "$name" = mlp ] && backends="interp jit"
    init=
    [ "$name" = finetune ] && init="--init=$dir/init.safetensors"
    for backend in $backends; do
        if ! "$gradc" train "$dir/model.gm" $init --no-shuffle --steps 20 --data "x=$dir/x.npy" --data "y=$dir/y.npy" \
                --log "$dir/gradc_$backend.csv" --save "$dir/gradc_$backend.safetensors" --backend "$backend" \
                --quiet >"$dir/gradc.out" 2>&1; then
            echo "FAIL $name ($backend): gradc train failed:"
            sed 's/^/    | /' "$dir/gradc.out" | head -20
            status=1
            continue
        fi
        "$py" -B "$src/tests/twins/onnx_twin.py" check "$name" "$dir" "$name ($backend)" "$dir/gradc_$backend.csv" \
            "$dir/gradc_$backend.safetensors" || status=1
    done
done
exit $status
