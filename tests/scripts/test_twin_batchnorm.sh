#!/bin/sh
# test_twin_batchnorm.sh: batch norm (1d on [N, C] and [N, C, L], 2d, affine or not), group norm
# and RMSNorm train like their PyTorch twins (tests/twins/batchnorm.py) on both backends: losses
# step for step, running statistics and num_batches_tracked, a checkpoint torch loads with
# load_state_dict(strict=True), and `gradc eval` (running statistics) equal to model.eval().
# Then: --init from a state_dict cast to F32 as a whole (num_batches_tracked F32) trains the same
# as from torch's dtypes (I64), and --resume halfway continues bit for bit; `gradc sample` (batch
# 1, eval graph) loads a language model's buffers and needs them.
# usage: test_twin_batchnorm.sh GRADC SOURCE_DIR PYTHON
. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
model="$src/tests/twins/batchnorm.gm"
twin="$src/tests/twins/batchnorm.py"
make_tmp

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
# gradc sample compiles the model with batch 1 ([1, C] batch norm: fine in eval, as torch) and
# evaluates with the checkpoint's running statistics: without them the checkpoint is refused.
cat >"$tmp/lm.gm" <<'MODEL'
const batch = 4
const context = 8
input tokens: i32[batch, context]
input targets: i32[batch, context]
h = embedding(tokens, 256, 16) as wte
h = swapaxes(batchnorm1d(swapaxes(h, 1, 2)) as bn, 1, 2)
pooled = batchnorm1d(mean(h, 1)) as pool_bn
logits = linear(h, 256) as head + reshape(linear(pooled, 256) as pool_head, [batch, 1, 256])
output logits = logits
loss = cross_entropy(logits, targets)
MODEL
"$py" -c 'print("the quick brown fox jumps over the lazy dog. " * 30)' >"$tmp/text.txt"
if ! "$gradc" train "$tmp/lm.gm" --text "$tmp/text.txt" --steps 5 --save "$tmp/lm.safetensors" --quiet \
        >"$tmp/gradc.out" 2>&1 ||
    ! "$gradc" sample "$tmp/lm.gm" --params "$tmp/lm.safetensors" --prompt "the " --length 20 --temperature 0 \
        >"$tmp/sample.out" 2>&1; then
    echo "FAIL batchnorm: gradc sample of a language model with batch norm failed:"
    sed 's/^/    | /' "$tmp/gradc.out" "$tmp/sample.out" | head -20
    status=1
else
    "$py" - "$tmp/lm.safetensors" "$tmp/params_only.safetensors" <<'PY'
import json, struct, sys
blob = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header, data = json.loads(blob[8:8 + n]), blob[8 + n:]
keep, parts, offset = {}, [], 0
for name, info in header.items():
    if name == "__metadata__" or "running" in name or "num_batches" in name:
        continue
    begin, end = info["data_offsets"]
    keep[name] = dict(info, data_offsets=[offset, offset + end - begin])
    parts.append(data[begin:end])
    offset += end - begin
text = json.dumps(keep).encode()
text += b" " * ((8 - len(text) % 8) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + b"".join(parts))
PY
    if "$gradc" sample "$tmp/lm.gm" --params "$tmp/params_only.safetensors" --length 5 >"$tmp/sample.out" 2>&1 ||
        ! grep -q "pool_bn.running_mean" "$tmp/sample.out"; then
        echo "FAIL batchnorm: gradc sample did not ask for the buffers a checkpoint lacks:"
        sed 's/^/    | /' "$tmp/sample.out" | head -5
        status=1
    else
        echo "ok batchnorm: gradc sample (batch 1) runs on the running statistics and refuses a checkpoint without them"
    fi
fi
exit $status
