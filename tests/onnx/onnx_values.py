"""onnx_values.py: values the ONNX importer computes, checked against numpy (tests/scripts/test_onnx_values.sh).

  onnx_values.py GRADC TMPDIR

Builds small ONNX files with python3-onnx's helper (Debian's onnx 1.12 has no onnx.reference, so the
expected values are numpy's), imports each with `gradc import`, evaluates it with `gradc run` and
compares:
  - Dropout's mask output: in training (opset 13's training_mode input, opset 10's mask output) the
    output is x * mask / (1 - ratio) with the mask the kept elements, about 1 - ratio of them, drawn
    anew each step; with ratio 0, training_mode false, no training_mode, or `gradc import --eval`
    the output is x and the mask all true;
  - Gather with negative indices (they count from the end): constant indices on either axis and of
    rank 2, indices that are a graph input or computed from one, and a Shape -> Gather(-1) chain
    that folds at import;
  - float attributes as the exporter wrote them: BatchNormalization's epsilon (float32 in the file)
    is torch's 1e-5 in float64 (a channel whose variance is below eps shows the difference), and
    the running statistics move by torch's momentum 0.1 exactly.
Exits 77 when python's onnx module is missing.
"""
import os
import subprocess
import sys

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    print("skip: %s" % e)
    sys.exit(77)

GRADC, TMP = sys.argv[1], sys.argv[2]
failures = 0


def report(ok, what, detail=""):
    global failures
    print("%s %s%s" % ("ok" if ok else "FAIL", what, "" if ok else ": " + detail))
    failures += not ok


def save(name, nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    path = os.path.join(TMP, name + ".onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


def run(model, bindings, eval_mode=False, precision="f32"):
    """Imports MODEL, binds the named arrays, evaluates the graph: {output name: array}, or an error text."""
    base = os.path.splitext(model)[0] + ("_eval" if eval_mode else "")
    ir = base + ".ir"
    cmd = [GRADC, "import", model, "-o", ir] + (["--eval"] if eval_mode else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        return "gradc import: " + p.stderr
    outdir = base + "_out"
    cmd = [GRADC, "run", ir, "--output-dir", outdir, "--precision", precision]
    for name, value in bindings.items():
        path = os.path.join(TMP, "%s_%s.npy" % (os.path.basename(base), name.replace(".", "_")))
        np.save(path, value)
        cmd += ["--input", "%s=%s" % (name, path)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        return "gradc run: " + p.stderr
    return {f[:-4]: np.load(os.path.join(outdir, f)) for f in os.listdir(outdir) if f.endswith(".npy")}


rng = np.random.default_rng(0)
x = rng.normal(size=(4, 250)).astype(np.float32)
xv = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 250])
yv = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 250])
mv = helper.make_tensor_value_info("mask", TensorProto.BOOL, [4, 250])
step = lambda s: np.array(s, dtype=np.int32)  # noqa: E731


def dropout_file(name, ratio, training, opset=13):
    inits, ins = [], ["x"]
    if opset < 12:
        node = helper.make_node("Dropout", ["x"], ["y", "mask"], name="drop", ratio=ratio)
    else:
        if ratio is not None:
            inits.append(numpy_helper.from_array(np.array(ratio, dtype=np.float32), "ratio"))
            ins.append("ratio")
        if training is not None:
            inits.append(numpy_helper.from_array(np.array(training), "training_mode"))
            ins += [""] * (ratio is None) + ["training_mode"]
        node = helper.make_node("Dropout", ins, ["y", "mask"], name="drop")
    return save(name, [node], [xv], [yv, mv], inits, opset)


# Training: out == x * mask / (1 - p), the mask keeps about 1 - p, and the next step draws another.
for name, ratio, opset in (("dropout_train", 0.3, 13), ("dropout_opset10", 0.25, 10)):
    model = dropout_file(name, ratio, True, opset)
    got = [run(model, {"x": x, "rng.step": step(s)}) for s in (0, 1)]
    if any(isinstance(g, str) for g in got):
        report(False, name, next(g for g in got if isinstance(g, str)))
        continue
    mask, y = got[0]["mask"], got[0]["y"]
    kept = float(mask.mean())
    ok = (set(np.unique(mask)) <= {0.0, 1.0} and abs(kept - (1 - ratio)) < 0.05 and
          np.allclose(y, x * mask / np.float32(1 - ratio), rtol=1e-6, atol=0) and
          np.array_equal(y != 0, mask != 0) and not np.array_equal(mask, got[1]["mask"]) and
          np.allclose(got[1]["y"], x * got[1]["mask"] / np.float32(1 - ratio), rtol=1e-6, atol=0))
    report(ok, "%s (opset %d, ratio %g): the output is x * mask / (1 - ratio), the mask keeps %.3f, the next step "
           "draws another mask" % (name, opset, ratio, kept), "kept %.3f, max |y - x*mask/(1-p)| %.3g"
           % (kept, float(np.abs(y - x * mask / np.float32(1 - ratio)).max())))

# No dropout: the identity and an all-true mask.
cases = [("dropout_ratio0", 0.0, True, False, "ratio 0 in training"),
         ("dropout_eval", 0.3, False, False, "training_mode false"),
         ("dropout_default", None, None, False, "no ratio, no training_mode"),
         ("dropout_train", 0.3, True, True, "gradc import --eval of a training-mode file")]
for name, ratio, training, eval_mode, what in cases:
    model = os.path.join(TMP, name + ".onnx") if eval_mode else dropout_file(name, ratio, training)
    bind = {"x": x}
    if not eval_mode and training and ratio:
        bind["rng.step"] = step(0)
    got = run(model, bind, eval_mode=eval_mode)
    if isinstance(got, str):
        report(False, "Dropout, " + what, got)
        continue
    report(np.array_equal(got["y"], x) and (got["mask"] == 1).all(), "Dropout, %s: the identity, the mask all true" % what,
           "y == x: %s, mask all true: %s" % (np.array_equal(got["y"], x), bool((got["mask"] == 1).all())))

# Gather: negative indices count from the end.
data = rng.normal(size=(4, 5)).astype(np.float32)
dv = helper.make_tensor_value_info("data", TensorProto.FLOAT, [4, 5])


def gather_case(name, axis, idx, computed=None):
    idx = np.array(idx, dtype=np.int64)
    out_shape = list(np.take(data, idx, axis=axis).shape)
    ov = helper.make_tensor_value_info("out", TensorProto.FLOAT, out_shape)
    if computed is None:
        nodes = [helper.make_node("Constant", [], ["idx"], value=numpy_helper.from_array(idx, "c")),
                 helper.make_node("Gather", ["data", "idx"], ["out"], axis=axis)]
        return save(name, nodes, [dv], [ov]), {"data": data}
    iv = helper.make_tensor_value_info("i", TensorProto.INT64, list(idx.shape))
    if computed == "input":
        nodes = [helper.make_node("Gather", ["data", "i"], ["out"], axis=axis)]
        return save(name, nodes, [dv, iv], [ov]), {"data": data, "i": idx.astype(np.int32)}
    # idx = i - 5 with i a graph input: computed by the graph, negative where i < 5.
    nodes = [helper.make_node("Constant", [], ["five"], value=numpy_helper.from_array(np.array(5, np.int64), "c")),
             helper.make_node("Sub", ["i", "five"], ["idx"]),
             helper.make_node("Gather", ["data", "idx"], ["out"], axis=axis)]
    return save(name, nodes, [dv, iv], [ov]), {"data": data, "i": (idx + 5).astype(np.int32)}


for name, axis, idx, computed, what in (
        ("gather_const0", 0, [-1, 0, -4, 2], None, "constant indices, axis 0"),
        ("gather_const1", 1, [[-5, -1], [3, -2]], None, "constant rank-2 indices, axis 1"),
        ("gather_constneg", -1, [-3, 4], None, "constant indices, axis -1"),
        ("gather_input", 0, [-1, 2, -4, -4], "input", "indices that are a graph input"),
        ("gather_computed", 1, [-5, -1, 0, 4, -3], "computed", "indices computed by the graph (i - 5)")):
    model, bind = gather_case(name, axis, idx, computed)
    got = run(model, bind)
    want = np.take(data, np.array(idx), axis=axis)
    if isinstance(got, str):
        report(False, "Gather, " + what, got)
        continue
    report(got["out"].shape == want.shape and np.array_equal(got["out"], want),
           "Gather, %s %s: numpy's take" % (what, idx), "got %s, want %s" % (got["out"], want))

# Shape -> Gather(-1) -> Unsqueeze -> Concat([-1], .) -> Reshape: folds at import to [6, 4].
x3 = rng.normal(size=(2, 3, 4)).astype(np.float32)
nodes = [helper.make_node("Shape", ["x3"], ["s"]),
         helper.make_node("Constant", [], ["last"], value=numpy_helper.from_array(np.array(-1, np.int64), "c")),
         helper.make_node("Gather", ["s", "last"], ["d"], axis=0),
         helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array([0], np.int64), "c")),
         helper.make_node("Unsqueeze", ["d", "zero"], ["du"]),
         helper.make_node("Constant", [], ["minus1"], value=numpy_helper.from_array(np.array([-1], np.int64), "c")),
         helper.make_node("Concat", ["minus1", "du"], ["shape"], axis=0),
         helper.make_node("Reshape", ["x3", "shape"], ["out"])]
model = save("gather_shape", nodes, [helper.make_tensor_value_info("x3", TensorProto.FLOAT, [2, 3, 4])],
             [helper.make_tensor_value_info("out", TensorProto.FLOAT, [6, 4])])
got = run(model, {"x3": x3})
report(not isinstance(got, str) and np.array_equal(got["out"], x3.reshape(6, 4)),
       "Gather(-1) of a Shape folds at import: Reshape to [-1, last dim]", str(got))

# BatchNormalization's epsilon and momentum as torch's module holds them, seen in float64: channel 1
# has a running variance of 0 (eval) or a batch variance far below eps (training), where the output
# is (x - mean) / sqrt(eps): float32's eps (9.99999975e-06) would be 1.3e-8 off.
C = 3
xb = rng.normal(size=(8, C, 2, 2))
xb[:, 1] = 0.25 + 1e-4 * xb[:, 1]
xb = xb.astype(np.float32)
xbv = helper.make_tensor_value_info("xb", TensorProto.FLOAT, [8, C, 2, 2])
ybv = helper.make_tensor_value_info("yb", TensorProto.FLOAT, [8, C, 2, 2])
stats = {"bn.weight": rng.uniform(0.5, 1.5, C), "bn.bias": rng.normal(size=C), "bn.running_mean": rng.normal(size=C),
         "bn.running_var": np.array([0.7, 0.0, 1.3])}
stats = {k: v.astype(np.float32) for k, v in stats.items()}
inits = [numpy_helper.from_array(v, k) for k, v in stats.items()]
names = ["xb", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"]
shape = lambda v: v.reshape(1, C, 1, 1).astype(np.float64)  # noqa: E731
x64 = xb.astype(np.float64)
for mode in ("eval", "training"):
    outs = [ybv]
    if mode == "training":
        outs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, [C]) for n in ("new_mean", "new_var")]
    node = helper.make_node("BatchNormalization", names, [o.name for o in outs], epsilon=1e-5, momentum=0.9)
    model = save("bn_" + mode, [node], [xbv], outs, inits, 13)
    bind = dict(stats, xb=xb)
    if mode == "training":
        bind["bn.num_batches_tracked"] = np.array(0, dtype=np.int32)
    got = run(model, bind, precision="f64")
    if isinstance(got, str):
        report(False, "BatchNormalization (%s) in float64" % mode, got)
        continue
    if mode == "eval":
        mean, var = shape(stats["bn.running_mean"]), shape(stats["bn.running_var"])
    else:
        mean, var = x64.mean(axis=(0, 2, 3), keepdims=True), x64.var(axis=(0, 2, 3), keepdims=True)
    want = (x64 - mean) / np.sqrt(var + 1e-5) * shape(stats["bn.weight"]) + shape(stats["bn.bias"])
    err = float(np.abs(got["yb"] - want).max() / np.abs(want).max())
    ok = err < 1e-12
    detail = "largest relative difference %.2e" % err
    if mode == "training":
        n = x64.size / C
        want_mean = 0.9 * stats["bn.running_mean"].astype(np.float64) + 0.1 * mean.ravel()
        want_var = 0.9 * stats["bn.running_var"].astype(np.float64) + 0.1 * var.ravel() * n / (n - 1)
        got_mean, got_var = got["update.bn.running_mean"], got["update.bn.running_var"]
        rel = max(float(np.abs(got_mean - want_mean).max() / np.abs(want_mean).max()),
                  float(np.abs(got_var - want_var).max() / np.abs(want_var).max()))
        ok = ok and rel < 1e-12
        detail += ", running statistics %.2e" % rel
    report(ok, "BatchNormalization (%s) in float64 uses torch's eps=1e-5%s (%s)"
           % (mode, " and momentum 0.1" if mode == "training" else "", detail), detail)

sys.exit(1 if failures else 0)
