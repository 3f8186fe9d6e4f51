"""gen_safetensors.py: reference safetensors files for tests/unit/test_safetensors.c.

Usage:
  gen_safetensors.py OUT_DIR         writes OUT_DIR/st_reference.safetensors and
                                     OUT_DIR/st_reference.txt (what the file holds)
  gen_safetensors.py --check FILE    reads FILE (written by gradc from the same tensors plus the
                                     metadata in CHECK_METADATA) and exits 0 when it holds exactly them

The tensors come from PyTorch. When the `safetensors` package is installed its save_file writes
the file; Debian has no package for it, so otherwise the file is written here by hand following
the format's specification and the library's choices (tensors ordered by dtype, larger first, then
by name; compact JSON header with "__metadata__" first; spaces padding the header to a multiple of
8), which is what lets the C test compare gradc's bytes with these byte for byte.

The description (st_reference.txt) is line-based so the C test can read it without a JSON parser:
  writer library|hand
  meta KEY_HEX VALUE_HEX
  tensor NAME_HEX DTYPE RANK DIM...
  values V...        (one line after each tensor: repr() of each element in row-major order)
Names and strings are hex of their UTF-8 bytes, so any character survives.
"""
import json
import math
import os
import struct
import sys

import torch

DTYPES = {  # torch dtype -> (safetensors name, struct code, size)
    torch.float32: ("F32", "f", 4),
    torch.int32: ("I32", "i", 4),
    torch.float64: ("F64", "d", 8),
    torch.int64: ("I64", "q", 8),
}
# The library's Dtype enum order (a subset); it writes larger ones first.
LIBRARY_ORDER = {"I32": 0, "F32": 1, "F64": 2, "I64": 3}
FROM_NAME = {v[0]: k for k, v in DTYPES.items()}

METADATA = {"format": "pt"}
CHECK_METADATA = {"format": "pt", "gradc.step": "7", "note": 'ünïcode "quoted"\n\t\\ \x01'}


def reference_tensors():
    """Every dtype, a scalar, rank 6, an empty tensor, special floats and awkward names."""
    g = torch.Generator().manual_seed(20240607)
    t = {}
    t["fc1.weight"] = torch.randn(3, 4, generator=g, dtype=torch.float32)
    t["fc1.bias"] = torch.tensor(
        [-0.0, float("inf"), float("-inf"), float("nan"), 1e-45, 3.4028234663852886e38, 0.1],
        dtype=torch.float32)
    t["step"] = torch.tensor(2**40 + 3, dtype=torch.int64)
    t["tokens"] = torch.tensor([[-2147483648, 0, 2147483647], [-1, 7, 42]], dtype=torch.int32)
    t["emb.ñ"] = torch.tensor([1.0 / 3.0, 1e300, -5e-324], dtype=torch.float64)
    t["deep"] = torch.arange(8, dtype=torch.float32).reshape(1, 2, 1, 2, 1, 2)
    t['odd "name" \\ \t'] = torch.tensor([0.5], dtype=torch.float32)
    t["empty"] = torch.zeros(0, 3, dtype=torch.float32)
    t["ids"] = torch.tensor([-(2**62), 2**62, -1], dtype=torch.int64)
    return t


def tensor_bytes(x):
    name, code, _ = DTYPES[x.dtype]
    flat = x.contiguous().reshape(-1).tolist()
    return struct.pack("<%d%s" % (len(flat), code), *flat)


def serialize(tensors, metadata):
    """The file's bytes as the safetensors library lays them out."""
    items = sorted(tensors.items(), key=lambda kv: (-LIBRARY_ORDER[DTYPES[kv[1].dtype][0]], kv[0]))
    header = {}
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    offset = 0
    blobs = []
    for name, x in items:
        data = tensor_bytes(x)
        header[name] = {"dtype": DTYPES[x.dtype][0], "shape": list(x.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def parse(blob):
    """A reader with the library's checks: returns ({name: tensor}, metadata) or raises ValueError."""
    if len(blob) < 8:
        raise ValueError("too short")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError("header length past the end")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    entries = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    at = 0
    out = {}
    for name, info in entries:
        begin, end = info["data_offsets"]
        dtype = FROM_NAME[info["dtype"]]
        _, code, size = DTYPES[dtype]
        count = math.prod(info["shape"])
        if begin != at or end - begin != count * size:
            raise ValueError("bad offsets for %r" % name)
        at = end
        values = struct.unpack("<%d%s" % (count, code), data[begin:end])
        out[name] = torch.tensor(values, dtype=dtype).reshape(info["shape"])
    if at != len(data):
        raise ValueError("data not fully covered")
    return out, metadata


def same(a, b):
    if a.dtype != b.dtype or list(a.shape) != list(b.shape):
        return False
    return tensor_bytes(a) == tensor_bytes(b)  # bitwise: NaN and -0.0 included


def hexs(s):
    return s.encode("utf-8").hex()


def write(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    tensors = reference_tensors()
    path = os.path.join(out_dir, "st_reference.safetensors")
    try:
        from safetensors.torch import save_file
        save_file(tensors, path, metadata=METADATA)
        writer = "library"
    except ImportError:
        with open(path, "wb") as f:
            f.write(serialize(tensors, METADATA))
        writer = "hand"
    # Whoever wrote it, it must read back here with the library's rules.
    back, meta = parse(open(path, "rb").read())
    assert meta == METADATA and set(back) == set(tensors)
    assert all(same(back[k], tensors[k]) for k in tensors)

    lines = ["writer " + writer]
    for k, v in sorted(METADATA.items()):
        lines.append("meta %s %s" % (hexs(k), hexs(v)))
    for name, x in sorted(tensors.items()):
        dtype = DTYPES[x.dtype][0]
        lines.append("tensor %s %s %d %s" % (hexs(name), dtype, x.dim(), " ".join(str(d) for d in x.shape)))
        lines.append("values " + " ".join(repr(v) for v in x.reshape(-1).tolist()))
    with open(os.path.join(out_dir, "st_reference.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def check(path):
    blob = open(path, "rb").read()
    try:
        from safetensors.torch import load_file
        from safetensors import safe_open
        back = load_file(path)
        with safe_open(path, framework="pt") as f:
            meta = f.metadata()
    except ImportError:
        back, meta = parse(blob)
    want = reference_tensors()
    if meta != CHECK_METADATA:
        print("metadata differs: %r" % (meta,), file=sys.stderr)
        return 1
    if set(back) != set(want):
        print("names differ: %r" % sorted(back), file=sys.stderr)
        return 1
    for k in want:
        if not same(back[k], want[k]):
            print("tensor %r differs" % k, file=sys.stderr)
            return 1
    if blob != serialize(want, CHECK_METADATA):
        print("bytes differ from the library's layout", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    write(sys.argv[1])
