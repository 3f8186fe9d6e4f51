#!/usr/bin/env python3
"""make_mlp_data.py: inputs for examples/ir/mlp_forward.ir, and NumPy's answer to check gradc's.

    make_mlp_data.py DIR               writes x.npy, labels.npy and the four parameters to DIR
    make_mlp_data.py --check DIR OUT   recomputes the forward pass (and the gradients, when OUT
                                       has grad.*.npy files) in float64 NumPy from the files in
                                       DIR and compares gradc's OUT/*.npy with them

The seed is fixed, so every run writes the same files. Labels are saved as int64 (NumPy's default
integer), which gradc narrows to i32.
"""
import os
import sys

import numpy as np

SHAPES = {"x": (4, 8), "fc1.weight": (16, 8), "fc1.bias": (16,), "fc2.weight": (3, 16), "fc2.bias": (3,)}


def write_inputs(d):
    rng = np.random.default_rng(1234)
    os.makedirs(d, exist_ok=True)
    for name, shape in SHAPES.items():
        # Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) as nn.Linear initialises; x is standard normal.
        if name == "x":
            a = rng.standard_normal(shape)
        else:
            bound = 1 / np.sqrt(8 if name.startswith("fc1") else 16)
            a = rng.uniform(-bound, bound, shape)
        np.save(os.path.join(d, name + ".npy"), a.astype(np.float32))
    np.save(os.path.join(d, "labels.npy"), rng.integers(0, 3, size=4).astype(np.int64))


def reference(d):
    v = {name: np.load(os.path.join(d, name + ".npy")).astype(np.float64) for name in SHAPES}
    labels = np.load(os.path.join(d, "labels.npy"))
    z1 = v["x"] @ v["fc1.weight"].T + v["fc1.bias"]
    h = np.maximum(z1, 0)
    logits = h @ v["fc2.weight"].T + v["fc2.bias"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    loss = -logp[rows, labels].mean()
    # Backward by hand: d loss / d logits = (softmax - onehot) / batch.
    dlogits = np.exp(logp)
    dlogits[rows, labels] -= 1
    dlogits /= len(labels)
    dz1 = (dlogits @ v["fc2.weight"]) * (z1 > 0)
    return {
        "logits": logits,
        "probs": np.exp(logp),
        "loss": np.array(loss),
        "grad.fc2.weight": dlogits.T @ h,
        "grad.fc2.bias": dlogits.sum(axis=0),
        "grad.fc1.weight": dz1.T @ v["x"],
        "grad.fc1.bias": dz1.sum(axis=0),
    }


def check(d, out):
    failed = 0
    for name, want in reference(d).items():
        path = os.path.join(out, name + ".npy")
        if name.startswith("grad.") and not os.path.exists(path):
            continue
        got = np.load(path)
        err = float(np.max(np.abs(got - want))) if want.size else 0.0
        ok = got.shape == want.shape and np.allclose(got, want, rtol=1e-5, atol=1e-6)
        print(f"{name}: shape {list(got.shape)}, max |gradc - numpy| = {err:.2e} {'ok' if ok else 'MISMATCH'}")
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 2:
        write_inputs(sys.argv[1])
    elif len(sys.argv) == 4 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
