"""onnx_twin.py: PyTorch twins of ONNX-imported models (tests/scripts/test_twin_onnx.sh, docs/onnx.md).

  onnx_twin.py make NAME OUT   builds model NAME (mlp, resnet18, mobilenet_v2, transformer, finetune),
                               exports it with torch.onnx.export(training=TRAINING) to OUT/model.onnx,
                               writes OUT/model.gm (the `onnx` layer, a loss, the train block), the data
                               OUT/x.npy, OUT/y.npy, then trains the module 20 steps on the batches
                               gradc reads with --no-shuffle: OUT/torch.csv and OUT/torch_final.npz, and
                               in float64 from the same weights: OUT/torch_f64.csv.
                               Exits 77 when torchvision or onnx is missing (the test skips).
  onnx_twin.py segments NAME   prints the float64 comparison's segments, "FIRST STEPS" per line: the
                               run after FIRST steps restarts from OUT/torch_f64_state_FIRST.safetensors.
  onnx_twin.py check_f64 NAME OUT LABEL GRADC_F64_LOG
                               gradc's training step run in float64 (tests/onnx/onnx_train_f64.c) within
                               2e-4 relative of torch's module trained in float64, step for step.
  onnx_twin.py check NAME OUT LABEL GRADC_LOG GRADC_CKPT
                               gradc's float32 losses within 2e-4 relative of torch's float32 ones step
                               for step (or 4x torch's own float32-vs-float64 deviation where that is
                               larger: chaotic models), and its checkpoint (minus optimizer.*) loads into the exported module with
                               load_state_dict(strict=True) and holds torch's trained values.
gradc initialises from the ONNX file's initializers (no --init), except `finetune`, whose head is
written in .gm and whose initial weights come from OUT/init.safetensors.
"""
import csv
import json
import os
import struct
import sys

import numpy as np

STEPS = 20
CODES = {"float32": ("F32", "f"), "float64": ("F64", "d"), "int32": ("I32", "i"), "int64": ("I64", "q")}
# The float64 comparison (check_f64) in segments: (first step, steps). MobileNetV2 at CIFAR size is
# chaotic even in float64: torch's own run from weights perturbed by 1e-13 leaves it by more than
# 2e-4 after 5 steps, gradc's (1e-15 apart at step 1) after 6 (1e-7 at step 6, 3e-3 at step 7).
# Each later segment starts from torch's float64 state after its first step
# (OUT/torch_f64_state_N.safetensors), so every one of the 20 steps is compared, each within 7 steps
# of a shared state (the segments from steps 6 and 13 stay within 1e-9). The suite runs the first 2
# steps of ResNet-18 (seconds per step in the interpreter; docs/onnx.md has all 20, from step 0).
F64_SEGMENTS = {"mobilenet_v2": [(0, 6), (6, 7), (13, 7)], "resnet18": [(0, 2)]}
DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def build(name):
    import torch
    from torch import nn
    torch.manual_seed(0)
    if name == "mlp":
        model = nn.Sequential(nn.Linear(20, 32), nn.LayerNorm(32), nn.GELU(), nn.Linear(32, 32), nn.GELU(),
                              nn.LayerNorm(32), nn.Linear(32, 5))
        return model, (16, 20), 5, "sgd(lr=0.1, momentum=0.9)", dict(lr=0.1, momentum=0.9)
    if name == "finetune":
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                              nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                                              nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
                self.head = nn.Linear(8, 4)

            def forward(self, x):
                return self.head(self.backbone(x))
        return Net(), (8, 3, 16, 16), 4, "sgd(lr=0.05, momentum=0.9)", dict(lr=0.05, momentum=0.9)
    if name == "transformer":
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0,
                                                   batch_first=True)
                self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
                self.head = nn.Linear(16, 3)

            def forward(self, x):
                return self.head(self.encoder(x).mean(1))
        return Net(), (8, 6, 16), 3, "sgd(lr=0.05, momentum=0.9)", dict(lr=0.05, momentum=0.9)
    import torchvision
    if name == "resnet18":
        return (torchvision.models.resnet18(num_classes=10), (8, 3, 32, 32), 10, "sgd(lr=0.002, momentum=0.9)",
                dict(lr=0.002, momentum=0.9))
    if name == "mobilenet_v2":
        # Without the classifier's dropout: gradc draws dropout masks from its own generator, not
        # torch's, so with it the two runs differ from the first step on by the masks alone.
        return (torchvision.models.mobilenet_v2(num_classes=10, dropout=0.0), (8, 3, 32, 32), 10,
                "sgd(lr=0.002, momentum=0.9)", dict(lr=0.002, momentum=0.9))
    raise SystemExit("unknown model " + name)


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        x = np.array(tensors[name], order="C")
        dtype, code = CODES[str(x.dtype)]
        data = x.tobytes()
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
            out[name] = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def make(name, out):
    try:
        import torch
        import onnx  # noqa: F401  (torch.onnx.export needs it for checks)
        if name in ("resnet18", "mobilenet_v2"):
            import torchvision  # noqa: F401
    except ImportError as e:
        print("skip: %s" % e)
        return 77
    from torch import nn
    torch.set_num_threads(1)
    model, shape, classes, gm_opt, opt_args = build(name)
    batch = shape[0]
    examples = batch * 4
    rng = np.random.default_rng(0)
    x = rng.normal(size=(examples,) + shape[1:]).astype(np.float32)
    y = rng.integers(0, classes, size=examples).astype(np.int32)
    np.save(os.path.join(out, "x.npy"), x)
    np.save(os.path.join(out, "y.npy"), y)
    dims = ", ".join(str(d) for d in shape)
    model.train()
    sample = torch.from_numpy(x[:batch])
    if name == "finetune":
        torch.onnx.export(model.backbone, sample, os.path.join(out, "backbone.onnx"),
                          training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False, opset_version=13)
        body = ('h = onnx("backbone.onnx", x) as backbone\nlogits = linear(h, %d) as head\n' % classes)
    else:
        torch.onnx.export(model, sample, os.path.join(out, "model.onnx"), training=torch.onnx.TrainingMode.TRAINING,
                          do_constant_folding=False, opset_version=13)
        body = 'logits = onnx("model.onnx", x)\n'
    # Tracing ran the module forward (batch norm's running statistics moved): start torch from the
    # values the file holds, with num_batches_tracked 0 as gradc starts it.
    import onnx
    from onnx import numpy_helper
    onnx_file = os.path.join(out, "backbone.onnx" if name == "finetune" else "model.onnx")
    prefix = "backbone." if name == "finetune" else ""
    state = model.state_dict()
    for t in onnx.load(onnx_file).graph.initializer:
        if prefix + t.name in state:
            state[prefix + t.name].copy_(torch.from_numpy(numpy_helper.to_array(t).copy()))
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            v.zero_()
    if name == "finetune":
        write_safetensors(os.path.join(out, "init.safetensors"),
                          {k: v.detach().numpy().astype(np.int64 if "num_batches" in k else np.float32)
                           for k, v in state.items()})
    with open(os.path.join(out, "model.gm"), "w") as f:
        f.write("input x: f32[%s]\ninput y: i32[%d]\n%sloss = cross_entropy(logits, y)\n"
                "train {\n    optimizer = %s\n    seed = 1\n}\n" % (dims, batch, body, gm_opt))
    xs, ys = torch.from_numpy(x), torch.from_numpy(y).long()
    # The same module trained in float64: the reference gradc's float64 run of the same step
    # (tests/onnx/onnx_train_f64.c) is compared with, and the measure of how far float32 rounding
    # alone moves torch from exact arithmetic (deep batch-norm networks on small batches are
    # chaotic: a relative difference of 1e-7 grows past 2e-4 within a few steps).
    import copy
    exact = copy.deepcopy(model).double()
    for net, dtype, csv_name in ((exact, torch.float64, "torch_f64.csv"), (model, torch.float32, "torch.csv")):
        net.train()
        opt = torch.optim.SGD(net.parameters(), foreach=False, **opt_args)
        rows = []
        restarts = [first for first, _ in F64_SEGMENTS.get(name, []) if first] if dtype == torch.float64 else []
        for s in range(STEPS):
            if s in restarts:
                save_state(net, opt, s, os.path.join(out, "torch_f64_state_%d.safetensors" % s))
            begin = (s % (examples // batch)) * batch
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(net(xs[begin:begin + batch].to(dtype)), ys[begin:begin + batch])
            loss.backward()
            opt.step()
            rows.append((s + 1, float(loss)))
        with open(os.path.join(out, csv_name), "w") as f:
            f.write("step,loss\n" + "".join("%d,%r\n" % r for r in rows))
    np.savez(os.path.join(out, "torch_final.npz"), **{k: v.numpy() for k, v in model.state_dict().items()})
    return 0


def save_state(net, opt, steps, path):
    """torch's training state after `steps` steps as gradc names it: the state dict (float64;
    num_batches_tracked I64), optimizer.<param>.momentum_buffer and optimizer.step."""
    tensors = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    tensors["optimizer.step"] = np.array(float(steps))
    for k, p in net.named_parameters():
        buf = opt.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            tensors["optimizer.%s.momentum_buffer" % k] = buf.detach().numpy().copy()
    write_safetensors(path, tensors)


def losses(path):
    with open(path) as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def step_losses(path):
    with open(path) as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}


def check_f64(out, label, log):
    """gradc's training step in float64 against torch's module in float64: 2e-4 relative per step, over
    the steps gradc ran (by step number: segments restarted from torch's state, F64_SEGMENTS)."""
    want, got = step_losses(os.path.join(out, "torch_f64.csv")), step_losses(log)
    if not got or not set(got) <= set(want):
        print("FAIL %s: gradc logged steps %s, torch %d" % (label, sorted(got), len(want)))
        return 1
    worst = 0.0
    for s in sorted(got):
        rel = abs(got[s] - want[s]) / abs(want[s])
        worst = max(worst, rel)
        if rel > 2e-4:
            print("FAIL %s: step %d: loss %r, torch %r (relative %.2e)" % (label, s, got[s], want[s], rel))
            return 1
    print("ok %s: %d losses in float64 match torch's float64 run within 2e-4 (largest relative difference %.2e)"
          % (label, len(got), worst))
    return 0


def check(name, out, label, log, ckpt):
    import torch
    want, got = losses(os.path.join(out, "torch.csv")), losses(log)
    if len(got) != len(want):
        print("FAIL %s: gradc logged %d steps, torch %d" % (label, len(got), len(want)))
        return 1
    self_diff = [abs(a - w) / abs(w) for a, w in zip(losses(os.path.join(out, "torch_f64.csv")), want)]
    # float32 against torch's float32: 2e-4 relative, or where float32 rounding alone already moved
    # torch further from its own float64 run (chaotic models), 4 times the largest such deviation
    # so far. The 2e-4 target itself is checked in float64 (check_f64).
    worst, widened, chaos = 0.0, 0, 0.0
    for s, (a, b) in enumerate(zip(got, want)):
        rel = abs(a - b) / abs(b)
        worst = max(worst, rel)
        chaos = max(chaos, self_diff[s])
        tol = max(2e-4, 4 * chaos)
        widened += tol > 2e-4
        if rel > tol:
            print("FAIL %s: step %d: loss %r, torch %r (relative %.2e; tolerance %.2e, torch float32 vs float64 %.2e)"
                  % (label, s + 1, a, b, rel, tol, self_diff[s]))
            return 1
    saved = read_safetensors(ckpt)
    state = {k: torch.from_numpy(v.copy()) for k, v in saved.items() if not k.startswith("optimizer.")}
    model = build(name)[0]
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        print("FAIL %s: the checkpoint does not load with strict=True: %s" % (label, e))
        return 1
    final = np.load(os.path.join(out, "torch_final.npz"))
    # Trained values are compared where the run is not chaotic (they follow the losses).
    for k in final.files if chaos <= 5e-5 else [k for k in final.files if "num_batches" in k]:
        a, b = state[k].numpy(), final[k]
        if "num_batches" in k:
            if int(a) != int(b):
                print("FAIL %s: %s is %d, torch's %d" % (label, k, int(a), int(b)))
                return 1
        elif not np.allclose(a, b, rtol=1e-2, atol=1e-3):
            print("FAIL %s: trained %s differs from torch's (max abs %.3g)" % (label, k, float(np.abs(a - b).max())))
            return 1
    print("ok %s: %d losses match torch's (largest relative difference %.2e; %d steps within 2e-4, %d within 4x "
          "torch's own float32-vs-float64 deviation, at most %.2e); the checkpoint loads with strict=True "
          "(%d tensors)" % (label, len(want), worst, len(want) - widened, widened, chaos, len(state)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make":
        sys.exit(make(sys.argv[2], sys.argv[3]))
    if len(sys.argv) == 7 and sys.argv[1] == "check":
        sys.exit(check(*sys.argv[2:]))
    if len(sys.argv) == 3 and sys.argv[1] == "segments":
        print("\n".join("%d %d" % seg for seg in F64_SEGMENTS.get(sys.argv[2], [(0, STEPS)])))
        sys.exit(0)
    if len(sys.argv) == 6 and sys.argv[1] == "check_f64":
        sys.exit(check_f64(*sys.argv[3:]))
    sys.exit(__doc__)
