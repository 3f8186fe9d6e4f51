"""check_checkpoint.py LABEL TORCH_FINAL GRADC_CKPT: gradc's checkpoint fits the PyTorch twin.

What torch.nn.Module.load_state_dict(strict=True) checks, checked here without the twin's module
class: the checkpoint's tensors (apart from gradc's optimizer.* state) have exactly the names and
shapes of the twin's state_dict. Beyond that, after the same training the values agree: float32
differences compound over the steps, so the tolerance is loose next to the curves' (compare.py).
With GC_TWIN_PRECISION=bf16 the runs differ by bf16 roundings (compare.py), which Adam turns into
update differences of up to a whole step for any small gradient component: only the names and
shapes are checked then, the curves (compare.py) being the comparison.
"""
import os
import json
import struct
import sys

import numpy as np
import torch

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def comparable(name, shape):
    """Which elements' trained values can be compared. The key third of an attention layer's
    in_proj_bias has an exactly zero gradient (adding b to every key adds the same q.b to all of a
    query's scores, which softmax ignores), so what it receives is float32 rounding noise, and
    Adam scales noise up to full-size steps: both frameworks move it by amounts that mean nothing."""
    mask = np.ones(shape, dtype=bool)
    if name.endswith("in_proj_bias"):
        e = shape[0] // 3
        mask[e:2 * e] = False
    return mask


def main():
    label, torch_path, gradc_path = sys.argv[1:4]
    want = read_safetensors(torch_path)
    got = {k: v for k, v in read_safetensors(gradc_path).items() if not k.startswith("optimizer.")}
    missing, unexpected = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing or unexpected:
        print("FAIL %s: checkpoint names differ from the twin's state_dict: missing %s, unexpected %s"
              % (label, missing, unexpected))
        return 1
    # The real load, into tensors of the twin's shapes, as load_state_dict does it.
    state = {k: torch.zeros(want[k].shape) for k in want}
    for name, value in got.items():
        if tuple(value.shape) != tuple(want[name].shape):
            print("FAIL %s: %s has shape %s, the twin's %s" % (label, name, value.shape, want[name].shape))
            return 1
        state[name].copy_(torch.from_numpy(np.array(value, dtype=np.float32)))
        # Flat copies: a scalar (batch norm's num_batches_tracked) is compared like any tensor.
        diff = np.abs(value.astype(np.float64) - want[name].astype(np.float64)).reshape(-1)
        limit = (1e-4 + 1e-2 * np.abs(want[name].astype(np.float64))).reshape(-1)
        if os.environ.get("GC_TWIN_PRECISION", "f32") == "bf16":
            limit[:] = np.inf
        limit[~comparable(name, value.shape).reshape(-1)] = np.inf
        if not np.all(diff <= limit):
            i = int(np.argmax(diff - limit))
            print("FAIL %s: trained %s differs from the twin's at flat index %d: %r vs %r"
                  % (label, name, i, value.ravel()[i], want[name].ravel()[i]))
            return 1
    print("ok %s: the checkpoint holds the twin's %d state_dict tensors with its trained values"
          % (label, len(want)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
