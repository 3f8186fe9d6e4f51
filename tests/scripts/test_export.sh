#!/bin/sh
# test_export.sh: `gradc export` hands a checkpoint to PyTorch. A checkpoint of examples/digits_cnn
# (convolutions and batch norm: parameters and buffers, num_batches_tracked as I64) is exported,
# read with the ten-line reader of examples/pytorch_load, loaded into the PyTorch twin's module
# with load_state_dict(strict=True), and that module in eval mode gives gradc eval's loss on the
# held-out digits. Also: the export drops the optimizer state, keeps the metadata, and refuses
# bad usage with exit 1.
#
# usage: test_export.sh GRADC SOURCE_DIR PYTHON
# Prints one line per check and `N passed, M failed` last; exits 1 if any check failed.

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
[ -d "$src/examples/digits_cnn" ] || usage
make_tmp

data="$src/examples/digits_cce/data"
model="$src/examples/digits_cnn/model.gm"
if "$gradc" train "$model" --data x="$data/train_x.npy" --data y="$data/train_y.npy" --steps 25 \
        --save "$tmp/ckpt.safetensors" --quiet >"$tmp/train.out" 2>&1; then
    pass "gradc train writes a checkpoint"
else
    fail "gradc train writes a checkpoint"
    sed 's/^/    | /' "$tmp/train.out" | tail -5
fi

if "$gradc" export "$tmp/ckpt.safetensors" -o "$tmp/weights.safetensors" >"$tmp/export.out" 2>&1 &&
        grep -q "^exported 14 tensors to .*weights.safetensors (.* optimizer tensors left out)$" "$tmp/export.out"; then
    pass "gradc export writes the 14 tensors of the state_dict ($(cat "$tmp/export.out"))"
else
    fail "gradc export writes the 14 tensors of the state_dict"
    sed 's/^/    | /' "$tmp/export.out"
fi

"$gradc" eval "$model" --params "$tmp/weights.safetensors" --data x="$data/test_x.npy" \
    --data y="$data/test_y.npy" --json >"$tmp/eval.json" 2>"$tmp/eval.err"
if [ $? -eq 0 ]; then
    pass "gradc eval reads the exported weights"
else
    fail "gradc eval reads the exported weights"
    sed 's/^/    | /' "$tmp/eval.err"
fi

if "$py" -B - "$src" "$tmp" >"$tmp/torch.out" 2>&1 <<'PYEOF'
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

src, tmp = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(src, "examples", "pytorch_load"))
sys.path.insert(0, os.path.join(src, "tests", "twins"))
from load_safetensors import load_safetensors  # noqa: E402
import digits_cnn  # noqa: E402
import twin  # noqa: E402

state = load_safetensors(os.path.join(tmp, "weights.safetensors"))
assert not [k for k in state if k.startswith("optimizer.")], "optimizer state in the export"
assert state["bn1.num_batches_tracked"].dtype == torch.int64, state["bn1.num_batches_tracked"].dtype
assert int(state["bn1.num_batches_tracked"]) == 25, int(state["bn1.num_batches_tracked"])
model = digits_cnn.Net(twin.read_consts(os.path.join(src, "examples", "digits_cnn", "model.gm"), {}))
model.load_state_dict(state, strict=True)
model.eval()
data = os.path.join(src, "examples", "digits_cce", "data")
x = torch.from_numpy(np.load(os.path.join(data, "test_x.npy")))
y = torch.from_numpy(np.load(os.path.join(data, "test_y.npy")).astype(np.int64))
with torch.no_grad():
    torch_loss = float(F.cross_entropy(model(x), y))
gradc_loss = json.load(open(os.path.join(tmp, "eval.json")))["loss"]
rel = abs(torch_loss - gradc_loss) / abs(torch_loss)
print("torch eval loss %.8f, gradc eval loss %.8f, relative difference %.2e" % (torch_loss, gradc_loss, rel))
sys.exit(0 if rel < 1e-5 else 1)
PYEOF
then
    pass "load_state_dict(strict=True) of the export; torch's eval loss is gradc's ($(cat "$tmp/torch.out"))"
else
    fail "load_state_dict(strict=True) of the export; torch's eval loss is gradc's"
    sed 's/^/    | /' "$tmp/torch.out" | tail -8
fi

"$gradc" export "$tmp/missing.safetensors" -o "$tmp/x.safetensors" >/dev/null 2>"$tmp/err1"
status=$?
if [ $status -eq 1 ] && grep -q "missing.safetensors" "$tmp/err1" && [ ! -e "$tmp/x.safetensors" ]; then
    pass "a missing checkpoint is an error naming it (exit 1)"
else
    fail "a missing checkpoint is an error naming it (exit $status)"
fi
"$gradc" export "$tmp/ckpt.safetensors" >/dev/null 2>"$tmp/err2"
status=$?
if [ $status -eq 1 ] && grep -q "\-o WEIGHTS.safetensors" "$tmp/err2"; then
    pass "no -o is a usage error (exit 1)"
else
    fail "no -o is a usage error (exit $status)"
fi

finish
