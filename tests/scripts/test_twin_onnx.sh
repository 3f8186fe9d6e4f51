#!/bin/sh
# test_twin_onnx.sh: models exported by torch.onnx.export (training mode) train in gradc through
# the `onnx` layer like the PyTorch modules they came from (tests/twins/onnx_twin.py): the same
# loss per step from the file's own initializers, and a checkpoint torch loads with strict=True.
# Default models: an MLP (LayerNorm, GELU) on both backends, a TransformerEncoder and `finetune` (an
# exported conv/batch-norm backbone with a head written in .gm) on the JIT; test_twin_onnx_vision.sh
# runs ResNet-18 and MobileNetV2. The training step run in float64 (tests/onnx/onnx_train_f64.c)
# follows torch's module trained in float64 within 2e-4 relative per step over 20 steps; the float32
# losses follow torch's float32 ones within 2e-4, or, where float32 rounding alone moves torch
# further from its own float64 run (deep batch-norm nets on small batches are chaotic), within 4
# times that (onnx_twin.py prints how many steps).
# Skips (exit 77 -> reported as skipped) when torch's onnx or torchvision is unavailable.
# usage: test_twin_onnx.sh GRADC SOURCE_DIR PYTHON [MODEL...]
. "$(dirname "$0")/lib/checks.sh"
gradc=$1
src=$2
py=$3
if [ $# -lt 3 ] || [ ! -x "$gradc" ]; then
    echo "usage: $0 GRADC SOURCE_DIR PYTHON [MODEL...]" >&2
    exit 2
fi
shift 3
models=${*:-mlp finetune transformer}
skip_without_onnx
f64="$(dirname "$gradc")/tests/onnx_train_f64"
make_tmp
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
    # The 2e-4-per-step target, in float64 on both sides (float32 rounding makes deep batch-norm
    # nets on small batches chaotic; docs/onnx.md). finetune's head starts from --init: not here.
    [ "$name" = finetune ] && continue
    # Segments of the float64 run (onnx_twin.py F64_SEGMENTS): all 20 steps from the start for the
    # MLP and the Transformer; MobileNetV2, chaotic even in float64, in 3 segments of 6 or 7 steps,
    # the later ones restarted from torch's float64 state; the first 2 steps of ResNet-18 (seconds per step in the
    # interpreter; docs/onnx.md gives all 20, measured once).
    if [ ! -x "$f64" ]; then
        echo "FAIL $name: $f64 is missing"
        status=1
        continue
    fi
    : >"$dir/gradc_f64.csv"
    segments=$("$py" -B "$src/tests/twins/onnx_twin.py" segments "$name")
    echo "$segments" | {
        ok=0
        while read -r first steps; do
            state=
            [ "$first" -gt 0 ] && state="--state $dir/torch_f64_state_$first.safetensors --first $first"
            if ! "$f64" "$dir/model.gm" "$dir/x.npy" "$dir/y.npy" "$steps" "$dir/f64_$first.csv" $state >"$dir/f64.out" 2>&1; then
                echo "FAIL $name (float64): the training step failed after step $first:"
                sed 's/^/    | /' "$dir/f64.out" | head -20
                ok=1
                break
            fi
            if [ -s "$dir/gradc_f64.csv" ]; then tail -n +2 "$dir/f64_$first.csv" >>"$dir/gradc_f64.csv"
            else cat "$dir/f64_$first.csv" >"$dir/gradc_f64.csv"; fi
        done
        exit $ok
    } || { status=1; continue; }
    label="$name (float64, interpreter)"
    [ "$(echo "$segments" | wc -l)" -gt 1 ] && label="$name (float64, interpreter, $(echo "$segments" | wc -l) segments from torch's state)"
    "$py" -B "$src/tests/twins/onnx_twin.py" check_f64 "$name" "$dir" "$label" "$dir/gradc_f64.csv" || status=1
done
exit $status
