"""batchnorm.py: the PyTorch twin of tests/twins/batchnorm.gm (tests/scripts/test_twin_batchnorm.sh).

  batchnorm.py make OUT    writes OUT/{x,y,xe,ye}.npy (training and held-out data), the initial
                           state_dict as OUT/init.safetensors (buffers in torch's dtypes:
                           num_batches_tracked I64) and OUT/init_f32.safetensors (the whole
                           state_dict cast to float), then trains 20 steps on the batches gradc
                           reads with --no-shuffle and writes OUT/torch.csv, OUT/torch_final.npz
                           and OUT/torch_eval.txt (the model.eval() loss over the held-out data).
  batchnorm.py check OUT LABEL GRADC_LOG GRADC_CKPT GRADC_EVAL_JSON
                           gradc's losses within 1e-4 relative of torch's step for step, its
                           checkpoint (minus optimizer.*) loads into the twin with
                           load_state_dict(strict=True), its running statistics and counts equal
                           torch's, and the loaded twin's model.eval() loss equals gradc eval's.
The initial weights, buffers included, are random (not the modules' defaults) so that loading
them is tested; num_batches_tracked starts at 5.
"""
import csv
import json
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

STEPS, BATCH, EXAMPLES, HELD_OUT = 20, 8, 64, 32
CODES = {torch.float32: ("F32", "f"), torch.int32: ("I32", "i"), torch.int64: ("I64", "q")}
DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


class RMSNorm(nn.Module):
    """LLaMA's RMSNorm."""

    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 24)
        self.bn1 = nn.BatchNorm1d(24)
        self.bn2 = nn.BatchNorm1d(4, momentum=0.3)
        self.bn3 = nn.BatchNorm2d(2, eps=1e-3)
        self.bn4 = nn.BatchNorm2d(2, affine=False)
        self.gn = nn.GroupNorm(2, 4)
        self.rms = RMSNorm(6)
        self.fc2 = nn.Linear(24, 3)

    def forward(self, x):
        b = x.shape[0]
        h = torch.relu(self.bn1(self.fc1(x)))
        h = self.bn2(h.reshape(b, 4, 6))
        h = self.bn4(self.bn3(h.reshape(b, 2, 3, 4)))
        h = self.rms(self.gn(h.reshape(b, 4, 6)))
        return self.fc2(h.reshape(b, 24))


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        x = tensors[name].detach().contiguous()
        dtype, code = CODES[x.dtype]
        flat = x.reshape(-1).tolist()
        data = struct.pack("<%d%s" % (len(flat), code), *flat)
        header[name] = {"dtype": dtype, "shape": list(x.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        if name != "__metadata__":
            begin, end = info["data_offsets"]
            out[name] = (info["dtype"], np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"]))
    return out


def eval_loss(model, out):
    x, y = torch.from_numpy(np.load(os.path.join(out, "xe.npy"))), np.load(os.path.join(out, "ye.npy"))
    model.eval()
    with torch.no_grad():
        losses = [float(nn.functional.cross_entropy(model(x[i:i + BATCH]), torch.from_numpy(y[i:i + BATCH]).long()))
                  for i in range(0, HELD_OUT, BATCH)]
    return sum(losses) / len(losses)


def make(out):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    np.save(os.path.join(out, "x.npy"), rng.normal(size=(EXAMPLES, 12)).astype(np.float32))
    np.save(os.path.join(out, "y.npy"), rng.integers(0, 3, size=EXAMPLES).astype(np.int32))
    np.save(os.path.join(out, "xe.npy"), rng.normal(size=(HELD_OUT, 12)).astype(np.float32))
    np.save(os.path.join(out, "ye.npy"), rng.integers(0, 3, size=HELD_OUT).astype(np.int32))
    model = Net()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(5)
            elif name.endswith("running_var"):
                t.uniform_(0.5, 1.5)
            elif name.endswith(("running_mean", "bias")) and not name.startswith("fc"):
                t.normal_(0.0, 0.2)
            elif name.endswith("weight") and not name.startswith("fc"):
                t.uniform_(0.5, 1.5)
    state = model.state_dict()
    write_safetensors(os.path.join(out, "init.safetensors"), state)
    write_safetensors(os.path.join(out, "init_f32.safetensors"), {k: v.float() for k, v in state.items()})

    x, y = torch.from_numpy(np.load(os.path.join(out, "x.npy"))), torch.from_numpy(np.load(os.path.join(out, "y.npy")))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01, foreach=False)
    rows = []
    model.train()
    for s in range(STEPS):
        begin = (s % (EXAMPLES // BATCH)) * BATCH
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x[begin:begin + BATCH]), y[begin:begin + BATCH].long())
        loss.backward()
        opt.step()
        rows.append((s + 1, float(loss)))
    with open(os.path.join(out, "torch.csv"), "w") as f:
        f.write("step,loss\n" + "".join("%d,%r\n" % r for r in rows))
    np.savez(os.path.join(out, "torch_final.npz"), **{k: v.numpy() for k, v in model.state_dict().items()})
    with open(os.path.join(out, "torch_eval.txt"), "w") as f:
        f.write("%r\n" % eval_loss(model, out))


def fail(label, message):
    print("FAIL %s: %s" % (label, message))
    return 1


def check(out, label, log, ckpt, eval_json):
    with open(os.path.join(out, "torch.csv")) as f:
        want = [float(r["loss"]) for r in csv.DictReader(f)]
    with open(log) as f:
        got = [float(r["loss"]) for r in csv.DictReader(f)]
    if len(got) != len(want):
        return fail(label, "gradc logged %d steps, torch %d" % (len(got), len(want)))
    for s, (a, b) in enumerate(zip(got, want)):
        if abs(a - b) > 1e-4 * abs(b):
            return fail(label, "step %d: loss %r, torch %r" % (s + 1, a, b))

    saved = read_safetensors(ckpt)
    optimizer = sorted(k for k in saved if k.startswith("optimizer."))
    state = {k: torch.from_numpy(v.copy()) for k, (_, v) in saved.items() if not k.startswith("optimizer.")}
    for k, (dtype, _) in saved.items():
        if k.endswith("num_batches_tracked") and dtype != "I64":
            return fail(label, "%s is %s in the checkpoint, not torch's I64" % (k, dtype))
    model = Net()
    model.load_state_dict(state, strict=True)  # raises on any missing or unexpected key
    final = np.load(os.path.join(out, "torch_final.npz"))
    for name in final.files:
        a, b = state[name].numpy(), final[name]
        if name.endswith("num_batches_tracked"):
            if int(a) != int(b) or int(a) != 5 + STEPS:
                return fail(label, "%s is %d, torch's %d" % (name, int(a), int(b)))
        elif name.startswith("bn") and "running" in name:
            if not np.allclose(a, b, rtol=1e-4, atol=1e-6):
                return fail(label, "%s differs: %r vs torch's %r" % (name, a, b))
        elif not np.allclose(a, b, rtol=1e-2, atol=1e-4):
            return fail(label, "trained %s differs: %r vs torch's %r" % (name, a, b))

    with open(eval_json) as f:
        gradc_eval = json.load(f)["loss"]
    loaded = eval_loss(model, out)  # torch's model.eval() on gradc's trained state
    with open(os.path.join(out, "torch_eval.txt")) as f:
        torch_eval = float(f.read())
    if abs(gradc_eval - loaded) > 1e-4 * abs(loaded):
        return fail(label, "gradc eval's loss %r, the loaded twin's model.eval() loss %r" % (gradc_eval, loaded))
    if abs(gradc_eval - torch_eval) > 1e-3 * abs(torch_eval):
        return fail(label, "gradc eval's loss %r, torch's trained model.eval() loss %r" % (gradc_eval, torch_eval))
    print("ok %s: %d losses match; the checkpoint (%d tensors, %d optimizer.* entries dropped) loads with "
          "strict=True; eval loss %.6f vs torch %.6f" % (label, len(want), len(state), len(optimizer), gradc_eval,
                                                         torch_eval))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        sys.exit(make(sys.argv[2]))
    if len(sys.argv) == 7 and sys.argv[1] == "check":
        sys.exit(check(*sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
