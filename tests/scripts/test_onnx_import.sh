#!/bin/sh
# test_onnx_import.sh: `gradc import` and the `onnx` layer on small ONNX files (docs/onnx.md): the
# IR and weights it writes, the eval graph, symbolic dims from --input and from the layer's
# arguments, and the errors: a truncated file, an unsupported operator named with its node and
# opset, a fixed dim that disagrees, external data read beside the model and refused outside it.
# Files come from tests/fuzz/corpus/onnx (torch exports) and from python3-onnx's helper at test
# time (skipped when the onnx module is missing).
# usage: test_onnx_import.sh GRADC SOURCE_DIR PYTHON
. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
skip_without_onnx
corpus="$src/tests/fuzz/corpus/onnx"
make_tmp
status=0
# Its own fail (not lib/checks.sh's): a failure sets the exit status; the script goes on.
fail() { echo "FAIL $*"; status=1; }
ok() { echo "ok $*"; }

# IR and weights.
if "$gradc" import "$corpus/mlp_layernorm_gelu.onnx" -o "$tmp/mlp.ir" 2>"$tmp/err" &&
    grep -q 'param "0.weight" : f32\[16, 8\]' "$tmp/mlp.ir" && [ -s "$tmp/mlp.safetensors" ]; then
    ok "import writes IR with the initializers as params and their values beside it"
else
    fail "import of the MLP:"; cat "$tmp/err"
fi
# The IR reads back through gradc opt unchanged.
if "$gradc" opt "$tmp/mlp.ir" >"$tmp/mlp2.ir" 2>"$tmp/err" && cmp -s "$tmp/mlp.ir" "$tmp/mlp2.ir"; then
    ok "the imported IR reparses and reprints unchanged"
else
    fail "gradc opt of the imported IR:"; cat "$tmp/err"
fi
# Training mode updates batch norm's buffers; --eval reads them only.
"$gradc" import "$corpus/conv_bn.onnx" >"$tmp/train.ir" 2>"$tmp/err" || fail "import conv_bn: $(cat "$tmp/err")"
"$gradc" import "$corpus/conv_bn.onnx" --eval >"$tmp/eval.ir" 2>"$tmp/err" || fail "import --eval: $(cat "$tmp/err")"
if grep -q 'update "1.running_var"' "$tmp/train.ir" && grep -q 'update "1.num_batches_tracked"' "$tmp/train.ir" &&
    ! grep -q update "$tmp/eval.ir" && grep -q 'buffer "1.running_mean"' "$tmp/eval.ir"; then
    ok "training-mode BatchNormalization updates running statistics and num_batches_tracked; --eval only reads them"
else
    fail "batch norm buffers in the imported graphs"
fi
# Symbolic dims: an error without --input, the given shape with it.
if "$gradc" import "$corpus/shapes.onnx" >/dev/null 2>"$tmp/err" || ! grep -q "symbolic" "$tmp/err"; then
    fail "a symbolic dim without --input is not reported: $(cat "$tmp/err")"
elif "$gradc" import "$corpus/shapes.onnx" --input 'x=f32[5, 3, 4]' >"$tmp/shapes.ir" 2>"$tmp/err" &&
    grep -q 'input "x" : f32\[5, 3, 4\]' "$tmp/shapes.ir" && ! grep -q gather "$tmp/shapes.ir"; then
    ok "--input sets symbolic dims; the Shape/Gather/Concat chain folds at import"
else
    fail "import with --input:"; cat "$tmp/err"
fi
# The layer: symbolic batch from the argument; a fixed dim that disagrees is a located error.
cp "$corpus/shapes.onnx" "$tmp/shapes.onnx"
printf 'input x: f32[7, 3, 4]\nparam w: f32[2] = ones()\ny = onnx("shapes.onnx", x)\noutput y = y\nloss = mean(y * w)\n' >"$tmp/ok.gm"
printf 'input x: f32[7, 3, 6]\ny = onnx("shapes.onnx", x)\nloss = mean(y)\n' >"$tmp/bad.gm"
if "$gradc" check "$tmp/ok.gm" >"$tmp/out" 2>&1; then ok "onnx() takes a symbolic batch from its argument"
else fail "onnx() with a symbolic batch:"; cat "$tmp/out"; fi
# The training and the eval graph are lowered separately (gradc check plans both): the file is
# read and decoded once.
reads=$("$(dirname "$gradc")/tests/onnx_read_count" "$tmp/ok.gm" 2>"$tmp/err")
if [ "$reads" = 1 ]; then ok "planning a trainer reads the ONNX file once for both graphs"
else fail "planning a trainer read the ONNX file '$reads' times: $(cat "$tmp/err")"; fi
if ! "$gradc" check "$tmp/bad.gm" >"$tmp/out" 2>&1 && grep -q "bad.gm:2:5: error: .*graph input 'x' has dim 2 = 4" "$tmp/out"; then
    ok "a fixed dim that disagrees with the argument is a located error naming the input and dim"
else
    fail "the dim mismatch error:"; cat "$tmp/out"
fi
# Truncated and corrupt files.
head -c 700 "$corpus/conv_bn.onnx" >"$tmp/trunc.onnx"
if ! "$gradc" import "$tmp/trunc.onnx" >/dev/null 2>"$tmp/err" && grep -q "truncated or corrupt" "$tmp/err"; then
    ok "a truncated file is an error"
else
    fail "truncated file: $(cat "$tmp/err")"
fi

if ! "$py" -c "import onnx" 2>/dev/null; then
    echo "skip: python's onnx module is missing (the generated-model checks)"
    exit $status
fi
"$py" - "$tmp" <<'PY'
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
out = sys.argv[1]
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])
w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "fc.weight")
g = helper.make_graph([helper.make_node("MatMul", ["x", "fc.weight"], ["h"], name="mm"),
                       helper.make_node("HardSigmoid", ["h"], ["y"], name="hs_1")], "g", [x], [y], [w])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), out + "/unsupported.onnx")
g = helper.make_graph([helper.make_node("MatMul", ["x", "fc.weight"], ["y"], name="mm")], "g", [x], [y], [w])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
onnx.save_model(m, out + "/external.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
                location="external.bin", size_threshold=0)
m = onnx.load(out + "/external.onnx", load_external_data=False)
for e in m.graph.initializer[0].external_data:
    if e.key == "location":
        e.value = "../outside.bin"
onnx.save(m, out + "/escape.onnx")
# A model over 2 GB keeps its weights in a file beside it: this one's data sits past 4 GiB of a
# sparse file (the reader must seek with 64-bit offsets, not read the file whole).
m = onnx.load(out + "/external.onnx", load_external_data=False)
big = 5 << 30
for e in m.graph.initializer[0].external_data:
    if e.key == "location":
        e.value = "big.bin"
    elif e.key == "offset":
        e.value = str(big)
if not any(e.key == "offset" for e in m.graph.initializer[0].external_data):
    m.graph.initializer[0].external_data.add(key="offset", value=str(big))
with open(out + "/big.bin", "wb") as f:
    f.seek(big)
    f.write((np.arange(12, dtype=np.float32) * 2).tobytes())
onnx.save(m, out + "/big.onnx")
# --format gm: a node the model language cannot spell (erf outside GELU) is an error naming it.
e = helper.make_tensor_value_info("e", TensorProto.FLOAT, [2, 3])
g = helper.make_graph([helper.make_node("Erf", ["x"], ["e"], name="erf_1")], "g", [x], [e])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), out + "/erf.onnx")
rng = np.random.default_rng(0)
np.save(out + "/x_mlp.npy", rng.normal(size=(16, 8)).astype(np.float32))
np.save(out + "/y_mlp.npy", rng.integers(0, 3, 16).astype(np.int32))
np.save(out + "/x_cb.npy", rng.normal(size=(8, 1, 4, 4)).astype(np.float32))
np.save(out + "/y_cb.npy", rng.integers(0, 2, 8).astype(np.int32))
PY
if ! "$gradc" import "$tmp/unsupported.onnx" >/dev/null 2>"$tmp/err" &&
    grep -q "unsupported.onnx: node 'hs_1' (HardSigmoid, opset 13): operator HardSigmoid is not supported" "$tmp/err"; then
    ok "an unsupported operator is an error naming the node, its op type and opset"
else
    fail "unsupported operator: $(cat "$tmp/err")"
fi
if "$gradc" import "$tmp/external.onnx" -o "$tmp/ext.ir" 2>"$tmp/err" &&
    "$py" - "$tmp/ext.safetensors" <<'PY'
import json, struct, sys, numpy as np
blob = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
info = json.loads(blob[8:8 + n])["fc.weight"]
b, e = info["data_offsets"]
w = np.frombuffer(blob[8 + n + b:8 + n + e], dtype=np.float32)
sys.exit(0 if info["shape"] == [3, 4] and (w == np.arange(12)).all() else 1)
PY
then
    ok "external data is read from the file beside the model"
else
    fail "external data: $(cat "$tmp/err")"
fi
if "$gradc" import "$tmp/big.onnx" -o "$tmp/big.ir" 2>"$tmp/err" &&
    "$py" - "$tmp/big.safetensors" <<'PY'
import json, struct, sys, numpy as np
blob = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
info = json.loads(blob[8:8 + n])["fc.weight"]
b, e = info["data_offsets"]
w = np.frombuffer(blob[8 + n + b:8 + n + e], dtype=np.float32)
sys.exit(0 if (w == 2 * np.arange(12)).all() else 1)
PY
then
    ok "external data at an offset past 4 GiB (a model over 2 GB) is read"
else
    fail "external data past 4 GiB: $(cat "$tmp/err")"
fi
rm -f "$tmp/big.bin"
# --format gm: one statement per node, layers named as the exporter named the modules; the .gm
# trained from the weights written beside it follows the onnx layer step for step.
cp "$corpus/mlp_layernorm_gelu.onnx" "$corpus/conv_bn.onnx" "$tmp/"
for case in "mlp_layernorm_gelu mlp x logits 4 linear(x, 16) as 0" \
            "conv_bn cb input_1 v17 2 batchnorm2d(v0_Conv_output_0) as 1"; do
    set -- $case
    model=$1 short=$2 in=$3 out=$4 batch=$5
    shift 5
    want="$*"
    if ! "$gradc" import "$tmp/$model.onnx" --format gm -o "$tmp/$model.gm" 2>"$tmp/err" || ! grep -qF "$want" "$tmp/$model.gm"; then
        fail "--format gm of $model (no '$want'): $(cat "$tmp/err")"
        continue
    fi
    train="input y: i32[$batch]\nloss = cross_entropy(%s, y)\ntrain {\n    optimizer = sgd(lr=0.1, momentum=0.9)\n}\n"
    { cat "$tmp/$model.gm"; printf "$train" "$out"; } >"$tmp/${short}_gm.gm"
    { grep "^input $in:" "$tmp/$model.gm"; printf "logits = onnx(\"$model.onnx\", $in)\n"; printf "$train" logits; } >"$tmp/${short}_layer.gm"
    for kind in gm layer; do
        init=
        [ $kind = gm ] && init="--init=$tmp/$model.safetensors"
        "$gradc" train "$tmp/${short}_$kind.gm" $init --no-shuffle --steps 6 --backend interp --data "$in=$tmp/x_$short.npy" \
            --data "y=$tmp/y_$short.npy" --log "$tmp/${short}_$kind.csv" --save "$tmp/${short}_$kind.ckpt.safetensors" \
            --quiet >"$tmp/err" 2>&1 || fail "training the $kind form of $model: $(cat "$tmp/err")"
    done
    if paste -d, "$tmp/${short}_gm.csv" "$tmp/${short}_layer.csv" | awk -F, 'NR > 1 { d = ($2 - $7) / $7; if (d < 0) d = -d; if (d > 1e-5) bad = 1; n++ }
            END { exit bad || n != 6 }' &&
        head -c 4000 "$tmp/${short}_gm.ckpt.safetensors" | grep -q '"0.weight"'; then
        ok "--format gm of $model spells layers ('$want'), trains like the onnx layer over 6 steps, keeps the exporter's names"
    else
        fail "--format gm of $model does not train like the onnx layer:"; paste -d' ' "$tmp/${short}_gm.csv" "$tmp/${short}_layer.csv"
    fi
done
if ! "$gradc" import "$tmp/erf.onnx" --format gm >/dev/null 2>"$tmp/err" &&
    grep -q "erf.onnx: node 'erf_1' (Erf, opset 13): the model language cannot spell erf outside" "$tmp/err"; then
    ok "--format gm names a node the model language cannot spell"
else
    fail "--format gm of a lone Erf: $(cat "$tmp/err")"
fi
if ! "$gradc" import "$tmp/escape.onnx" >/dev/null 2>"$tmp/err" && grep -q "must be a path inside the model's folder" "$tmp/err"; then
    ok "external data outside the model's folder is refused"
else
    fail "escaping external data: $(cat "$tmp/err")"
fi
exit $status
