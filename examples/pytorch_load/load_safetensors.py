"""load_safetensors.py: reads a safetensors file (gradc export's output) into a dict of torch
tensors, for machines without the `safetensors` module (Debian has none). Usage:

    from load_safetensors import load_safetensors
    model.load_state_dict(load_safetensors("weights.safetensors"), strict=True)
"""
import json
import struct

import numpy as np
import torch

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header, data = json.loads(f.read(n)), f.read()
    header.pop("__metadata__", None)
    return {name: torch.from_numpy(np.frombuffer(data[a:b], dtype=DTYPES[t["dtype"]]).reshape(t["shape"]).copy())
            for name, t in header.items() for a, b in [t["data_offsets"]]}
