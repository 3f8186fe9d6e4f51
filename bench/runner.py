"""runner.py: measures gradc against the PyTorch twins on the reference models (called by bench/run.sh).

For each model it generates the random inputs once (a cache directory keyed by the model's
consts), then runs R rounds, each round one `gradc train --backend jit --threads T` and one twin
run, their order swapped every round so a slow drift of the machine hits both alike. From each
run it keeps the median step time after the warmup steps (gradc: the log's `ms` column; twin:
time.perf_counter per step), the peak RSS (wait4's rusage of the child) and, for gradc, the
compile times `gradc train --verbose` reports (code generation: LLVM O3 and JIT; the whole
compile: frontend, autodiff, passes, codegen, initialisation) and the time from process start to
the first step (wall time minus the logged steps: the compile plus data loading and whatever
touching the step's memory costs). The table quotes medians over rounds and is printed and
written as Markdown.

FLOP per step count the matmuls as the spec's table does: 6 x (weights in matmuls) x tokens, less
the input gradient of a first layer fed by data, plus the attention's QK^T and AV products in
full (no causal halving). The share of sgemm is the rate over OpenBLAS's 100 GFLOP/s per thread.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(BENCH_DIR, "twins"))
import common  # noqa: E402

MODELS = ("m1", "m2", "m3", "m4", "m5_lstm")
SGEMM_GFLOPS_PER_THREAD = 100.0
DATA_BATCHES = 8  # distinct batches in the generated data; steps cycle through them
INPUTS = {"m1": ("x", "y"), "m2": ("tokens", "targets"), "m3": ("tokens", "targets"), "m4": ("x", "y"),
          "m5_lstm": ("x", "y")}


def resnet18_cifar_macs(c):
    """Multiply-adds of one image through M4's convolutions and head: (macs, the stem's share)."""
    w, size = c["width"], c["size"]
    stem = 3 * w * 9 * size * size
    macs, planes, side = stem, w, size
    for stage in range(4):
        out = w << stage
        if stage:
            side = (side + 1) // 2
            macs += planes * out * 9 * side * side + out * planes * side * side  # strided conv1, shortcut
        else:
            macs += planes * out * 9 * side * side
        macs += out * out * 9 * side * side * 3  # conv2, and the second block's two convs
        planes = out
    return macs + planes * c["classes"], stem


def flop_per_step(model, c):
    if model == "m4":
        # forward, input gradient and weight gradient 2 FLOP per multiply-add; the data needs no
        # input gradient. Batch norm, pooling and elementwise work are not counted.
        macs, stem = resnet18_cifar_macs(c)
        return c["batch"] * (6 * macs - 2 * stem)
    if model == "m1":
        b, f, h, k = c["batch"], c["features"], c["hidden"], c["classes"]
        # forward 2, weight gradient 2, input gradient 2 per multiply-add; the data needs no gradient
        return 2 * b * (3 * (h * h + h * k) + 2 * f * h)
    if model == "m5_lstm":
        # per step and sequence: 4h(f + h) multiply-adds forward, twice that backward (the input
        # projection's gradient for x is not needed: the data needs none), plus the head
        b, t, f, h, k = c["batch"], c["steps"], c["features"], c["hidden"], c["classes"]
        return 2 * b * t * 4 * h * (3 * h + 2 * f) + 6 * b * h * k
    b, t, d, layers, v = c["batch"], c["ctx"], c["dim"], c["layers"], c["vocab"]
    weights = layers * 12 * d * d + v * d  # qkv 3d^2, out d^2, fc 4d^2, proj 4d^2; head
    attention = layers * 3 * 4 * b * t * t * d  # QK^T and AV, forward and two backward products
    return 6 * weights * b * t + attention


def make_data(model, c, directory):
    """Random inputs of the model's shapes: DATA_BATCHES batches, written once per const set."""
    import numpy as np
    rng = np.random.default_rng(0)
    n = DATA_BATCHES * c["batch"]
    if model == "m1":
        arrays = {"x": rng.standard_normal((n, c["features"]), dtype=np.float32),
                  "y": rng.integers(0, c["classes"], n, dtype=np.int32)}
    elif model == "m4":
        arrays = {"x": rng.standard_normal((n, 3, c["size"], c["size"]), dtype=np.float32),
                  "y": rng.integers(0, c["classes"], n, dtype=np.int32)}
    elif model == "m5_lstm":
        arrays = {"x": rng.standard_normal((n, c["steps"], c["features"]), dtype=np.float32),
                  "y": rng.integers(0, c["classes"], n, dtype=np.int32)}
    else:
        arrays = {"tokens": rng.integers(0, c["vocab"], (n, c["ctx"]), dtype=np.int32),
                  "targets": rng.integers(0, c["vocab"], (n, c["ctx"]), dtype=np.int32)}
    os.makedirs(directory, exist_ok=True)
    for name, a in arrays.items():
        tmp = os.path.join(directory, name + ".npy.tmp")
        with open(tmp, "wb") as f:
            np.save(f, a)
        os.replace(tmp, os.path.join(directory, name + ".npy"))


def data_dir(cache, model, c):
    key = hashlib.sha1(json.dumps(c, sort_keys=True).encode()).hexdigest()[:12]
    d = os.path.join(cache, "%s-%s" % (model, key))
    if not all(os.path.exists(os.path.join(d, n + ".npy")) for n in INPUTS[model]):
        make_data(model, c, d)
    return d


def cpu_busy_seconds():
    """CPU time the whole machine has spent busy since boot (/proc/stat), or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(max_wait, threshold=0.3, sample=2.0):
    """Waits (up to max_wait s) until other processes keep less than `threshold` cores busy."""
    deadline = time.monotonic() + max_wait
    while True:
        b0 = cpu_busy_seconds()
        if b0 is None:
            return
        time.sleep(sample)
        busy = (cpu_busy_seconds() - b0) / sample
        if busy < threshold or time.monotonic() >= deadline:
            return


def run_child(argv, env=None):
    """Runs argv; returns (exit status, wall s, peak RSS KB, other cores busy, stdout, stderr).

    "Other cores busy" is the machine's busy CPU time during the run less the child's own, over
    the wall time: the average number of cores something else took, the measurement's noise.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        b0 = cpu_busy_seconds()
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        b1 = cpu_busy_seconds()
        other = None
        if b0 is not None and b1 is not None and wall > 0:
            other = max(0.0, (b1 - b0 - usage.ru_utime - usage.ru_stime) / wall)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return p.returncode, wall, usage.ru_maxrss, other, out.read().decode(errors="replace"), \
            err.read().decode(errors="replace")


def run_gradc(opts, model, sets, ddir, steps, warmup):
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "log.csv")
        argv = [opts.gradc, "train", os.path.join(BENCH_DIR, model + ".gm"), "--steps", str(warmup + steps),
                "--log", log, "--backend", "jit", "--threads", str(opts.threads), "--quiet", "--no-shuffle", "--verbose"]
        argv += ["--data=%s=%s" % (n, os.path.join(ddir, n + ".npy")) for n in INPUTS[model]]
        argv += ["--set=%s=%s" % kv for kv in sorted(sets.items())]
        argv += ["--precision", getattr(opts, "precision", "f32")]
        status, wall, rss, other, out, err = run_child(argv)
        if status != 0:
            raise RuntimeError("gradc failed on %s (exit %d):\n%s%s" % (model, status, out, err))
        with open(log, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
            rows = [line.strip().split(",") for line in f if line.strip()]
    col = header.index("ms")
    ms = [float(r[col]) for r in rows]
    if len(ms) != warmup + steps:
        raise RuntimeError("gradc's log of %s holds %d steps, not %d" % (model, len(ms), warmup + steps))
    compile_ms = {}
    line = re.search(r"^compile: (.*)$", err, re.M)
    if line:
        compile_ms = {k: float(v) for k, v in re.findall(r"([\w+]+) ([0-9.]+) ms", line.group(1))}
    return {"median_ms": statistics.median(ms[warmup:]), "peak_rss_kb": rss,
            "codegen_s": compile_ms["codegen"] / 1e3 if "codegen" in compile_ms else None,
            "compile_s": compile_ms["total"] / 1e3 if "total" in compile_ms else None,
            "startup_s": max(0.0, wall - sum(ms) / 1e3), "final_loss": float(rows[-1][header.index("loss")]),
            "other": other}


def run_twin(opts, model, sets, ddir, steps, warmup):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OPENBLAS_NUM_THREADS=str(opts.threads),
               OMP_NUM_THREADS=str(opts.threads))
    if not opts.twin_default_malloc:
        # Keep freed memory in the process: glibc otherwise maps every tensor above 32 MB afresh and
        # unmaps it when freed, and on this project's VMs touching fresh memory runs at about
        # 0.25 GB/s, which made M3's torch step 2.5x slower than its compute (docs/benchmarks.md).
        env.update(MALLOC_MMAP_MAX_="0", MALLOC_TRIM_THRESHOLD_=str(1 << 40))
    if opts.twin_coretype:
        # OpenBLAS 0.3.21 does not know every CPU (Zen 5, Emerald Rapids) and may pick a slow
        # kernel there; this forces another one, e.g. SkylakeX (AVX-512), for a twin with a faster sgemm.
        env.update(OPENBLAS_CORETYPE=opts.twin_coretype)
    elif not opts.twin_coretype_inherit:
        # The probe found OpenBLAS's own pick fastest: a coretype from the caller's environment
        # would not be what was measured.
        env.pop("OPENBLAS_CORETYPE", None)
    argv = [opts.python, os.path.join(BENCH_DIR, "twins", model + ".py"), "--data-dir", ddir,
            "--steps", str(steps), "--warmup", str(warmup), "--threads", str(opts.threads)]
    argv += ["--set=%s=%s" % kv for kv in sorted(sets.items())]
    argv += ["--precision", getattr(opts, "precision", "f32")]
    status, _, rss, other, out, err = run_child(argv, env)
    if status != 0:
        raise RuntimeError("the PyTorch twin failed on %s (exit %d):\n%s%s" % (model, status, out, err))
    r = json.loads(out.strip().splitlines()[-1])
    return {"median_ms": r["median_ms"], "peak_rss_kb": max(rss, r["peak_rss_kb"]), "final_loss": r["final_loss"],
            "other": other, "core": r.get("openblas_core"), "flush_denormal": r.get("flush_denormal")}


# OpenBLAS kernels a twin may run (OPENBLAS_CORETYPE): OpenBLAS 0.3.21 does not know every CPU it
# meets (not Zen 5, not Emerald Rapids) and then picks a slower kernel by itself. "" is its own pick.
CORETYPES = ("", "SkylakeX", "Cooperlake", "SapphireRapids", "Zen", "Haswell")

PROBE = r"""
import os, sys, time
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, sys.argv[2])
import torch
from common import openblas_core
torch.set_num_threads(int(sys.argv[1]))
torch.set_flush_denormal(True)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
best = None
for r in range(12):
    t = time.perf_counter()
    a @ b
    t = time.perf_counter() - t
    best = t if best is None or t < best else best
print(openblas_core(), 2 * 1024 ** 3 / best / 1e9)
"""


def probe_coretypes(opts):
    """The fastest OpenBLAS kernel for the twins here, timed on a 1024^3 sgemm through torch: (name, log).

    Each candidate runs in its own process (OPENBLAS_CORETYPE is read when OpenBLAS loads); one the CPU
    cannot run (an illegal instruction) or OpenBLAS does not know simply drops out. Best of 12 products
    each, in two rounds through the candidates, so a busy moment does not decide it.
    """
    best = {}
    for name in CORETYPES + CORETYPES:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(opts.threads), OMP_NUM_THREADS=str(opts.threads))
        env.pop("OPENBLAS_CORETYPE", None)
        if name:
            env["OPENBLAS_CORETYPE"] = name
        try:
            out = subprocess.run([opts.python, "-c", PROBE, str(opts.threads), os.path.join(BENCH_DIR, "twins")],
                                 env=env, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.SubprocessError):
            continue
        fields = out.stdout.split()
        if out.returncode != 0 or len(fields) != 2:
            continue
        if name not in best or float(fields[1]) > best[name][0]:
            best[name] = (float(fields[1]), name, fields[0])
        print("  OpenBLAS coretype %-15s runs %-15s %6.1f GFLOP/s (sgemm 1024^3, %d threads)" % (
            name or "(its own pick)", fields[0], float(fields[1]), opts.threads), file=sys.stderr, flush=True)
    results = list(best.values())
    if not results:
        return "", "no OpenBLAS kernel could be probed; the twins run OpenBLAS's own pick"
    gflops, name, core = max(results)
    log = ", ".join("%s %.0f" % (n or "own pick (%s)" % c, g) for g, n, c in results)
    return name, "%s (%s; GFLOP/s of a 1024^3 sgemm: %s)" % (name or "OpenBLAS's own pick", core, log)


def load_average():
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine():
    """The CPU model (name, and family/model/stepping, which tell apart CPUs a VM names alike), cores, RAM, OS."""
    cpu = platform.processor() or "?"
    info = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        pass
    if "model name" in info:
        cpu = "%s (%s family %s model %s stepping %s)" % (
            info["model name"], info.get("vendor_id", "?"), info.get("cpu family", "?"), info.get("model", "?"),
            info.get("stepping", "?"))
    mem = "?"
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            mem = "%.0f GiB" % (int(f.readline().split()[1]) / 2**20)
    except (OSError, ValueError, IndexError):
        pass
    return "%s, %d cores, %s RAM, %s" % (cpu, os.cpu_count() or 0, mem, platform.platform())


def source_version():
    """The commit of the measured tree, marked when the working tree differs from it."""
    src = os.path.dirname(BENCH_DIR)
    try:
        head = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "-C", src, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head:
        return "unknown"
    return head + (" with uncommitted changes" if dirty else "")


def gemm_kind():
    """Which GEMM gradc's f32 matmuls run here: its own AVX-512 kernel or OpenBLAS (runtime/gemm.h)."""
    if os.environ.get("GRADC_GEMM") == "openblas":
        return "OpenBLAS (GRADC_GEMM=openblas)"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            avx512 = " avx512f" in f.read()
    except OSError:
        return "?"
    return "gradc's AVX-512 kernel" if avx512 else "OpenBLAS (no AVX-512)"


def per_model(values, default, parser):
    """--steps 20 --steps m3=2: a global value and per-model overrides."""
    out = {m: default for m in MODELS}
    for v in values:
        model, _, n = v.rpartition("=")
        try:
            n = int(n)
        except ValueError:
            parser.error("expected N or MODEL=N, got %r" % v)
        if n < 0 or (model and model not in MODELS):
            parser.error("expected N or MODEL=N with MODEL in %s, got %r" % (",".join(MODELS), v))
        for m in ([model] if model else MODELS):
            out[m] = n
    return out


def model_sets(model, sets):
    """--set NAME=V applies to every model declaring NAME; --set m2.NAME=V to m2 only."""
    declared = common.read_consts(model, {})
    out = {}
    for key, value in sets:
        scope, _, name = key.rpartition(".")
        if (scope == model or not scope) and name in declared:
            out[name] = value
        elif scope == model:
            raise SystemExit("bench/%s.gm has no const %s" % (model, name))
    return out


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v):
    """Three significant digits or more: 0.0452, 4.52, 45.2, 452, 4521."""
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v == 0:
        return "0"
    return "%.3g" % v if v < 1 else ("%.2f" % v if v < 10 else "%.1f" % v)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gradc", required=True)
    p.add_argument("--python", default=sys.executable, help="the Python with torch that runs the twins")
    p.add_argument("--models", default="m1,m2,m3")
    p.add_argument("--steps", action="append", default=[], metavar="N|MODEL=N", help="measured steps (20)")
    p.add_argument("--warmup", action="append", default=[], metavar="N|MODEL=N", help="steps not measured (3)")
    p.add_argument("--rounds", action="append", default=[], metavar="R|MODEL=R", help="rounds per model (3)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="[MODEL.]NAME=VALUE")
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "gradc-bench-data"))
    p.add_argument("--twin-default-malloc", action="store_true",
                   help="run the twins with glibc's default malloc settings (fresh mappings for big tensors)")
    p.add_argument("--twin-coretype", default="auto", metavar="NAME",
                   help="run the twins with OPENBLAS_CORETYPE=NAME (e.g. SkylakeX: OpenBLAS's AVX-512 kernel); "
                        "auto (the default): the fastest of %s, probed first; none: OpenBLAS's own pick"
                        % ", ".join(c for c in CORETYPES if c))
    p.add_argument("--quiet-wait", type=float, default=0.0, metavar="S",
                   help="before each run, wait up to S seconds for the rest of the machine to go idle")
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "latest.md"))
    opts = p.parse_args()
    models = [m for m in opts.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            p.error("unknown model %r (models: %s)" % (m, ",".join(MODELS)))
    steps = per_model(opts.steps, 20, p)
    rounds = per_model(opts.rounds, 3, p)
    if any(rounds[m] < 1 for m in models) or opts.threads < 1:
        p.error("--rounds and --threads need at least 1")
    warmup = per_model(opts.warmup, 3, p)
    sets = []
    for s in opts.set:
        if "=" not in s:
            p.error("--set needs [MODEL.]NAME=VALUE, got %r" % s)
        sets.append(tuple(s.split("=", 1)))
    if any(steps[m] < 1 for m in models):
        p.error("--steps needs at least 1 measured step")

    opts.twin_coretype_inherit = opts.twin_coretype == "none"
    if opts.twin_coretype == "auto":
        opts.twin_coretype, coretype_note = probe_coretypes(opts)
    elif opts.twin_coretype == "none":
        opts.twin_coretype = ""
        coretype_note = "left to OpenBLAS and the environment (--twin-coretype none%s)" % (
            ", OPENBLAS_CORETYPE=%s" % os.environ["OPENBLAS_CORETYPE"] if os.environ.get("OPENBLAS_CORETYPE") else "")
    else:
        coretype_note = "%s (--twin-coretype)" % opts.twin_coretype
    print("  the twins run OpenBLAS kernel %s" % coretype_note, file=sys.stderr, flush=True)

    started = datetime.datetime.now().astimezone()
    rows = []
    for m in models:
        ms = model_sets(m, sets)
        c = common.read_consts(m, ms)
        ddir = data_dir(opts.cache, m, c)
        load_before = load_average()
        g_runs, t_runs = [], []
        for r in range(rounds[m]):
            order = ("gradc", "twin") if r % 2 == 0 else ("twin", "gradc")
            for who in order:
                if opts.quiet_wait > 0:
                    wait_for_quiet(opts.quiet_wait)
                if who == "gradc":
                    g_runs.append(run_gradc(opts, m, ms, ddir, steps[m], warmup[m]))
                else:
                    t_runs.append(run_twin(opts, m, ms, ddir, steps[m], warmup[m]))
                last = (g_runs if who == "gradc" else t_runs)[-1]
                print("  %s round %d %-5s %s ms/step" % (m, r + 1, who, fmt(last["median_ms"])), file=sys.stderr,
                      flush=True)
        flop = flop_per_step(m, c)
        g = statistics.median(x["median_ms"] for x in g_runs)
        t = statistics.median(x["median_ms"] for x in t_runs)
        peak = SGEMM_GFLOPS_PER_THREAD * opts.threads
        rows.append({
            "model": m, "sets": ms, "flop": flop, "gradc_ms": g, "torch_ms": t, "ratio": g / t,
            "gradc_gflops": flop / g / 1e6, "torch_gflops": flop / t / 1e6,
            "gradc_share": flop / g / 1e6 / peak, "torch_share": flop / t / 1e6 / peak,
            "gradc_rss_mb": max(x["peak_rss_kb"] for x in g_runs) / 1024,
            "torch_rss_mb": max(x["peak_rss_kb"] for x in t_runs) / 1024,
            "startup_s": statistics.median(x["startup_s"] for x in g_runs),
            "codegen_s": median_or_none(x["codegen_s"] for x in g_runs),
            "compile_s": median_or_none(x["compile_s"] for x in g_runs),
            "gradc_rounds": [fmt(x["median_ms"]) for x in g_runs],
            "torch_rounds": [fmt(x["median_ms"]) for x in t_runs],
            "gradc_loss": g_runs[-1]["final_loss"], "torch_loss": t_runs[-1]["final_loss"],
            "load": "%s / %s" % (load_before, load_average()), "steps": steps[m], "warmup": warmup[m],
            "twin_core": ", ".join(sorted({str(x["core"]) for x in t_runs})),
            "twin_flush": all(x["flush_denormal"] for x in t_runs),
            "other": max((x["other"] for x in g_runs + t_runs if x["other"] is not None), default=None),
        })

    lines = ["| model | FLOP/step | gradc ms/step | PyTorch ms/step | gradc/PyTorch | gradc GFLOP/s | "
             "PyTorch GFLOP/s | gradc % sgemm | PyTorch % sgemm | gradc peak RSS MB | PyTorch peak RSS MB | "
             "gradc codegen s | gradc compile s | gradc startup s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append("| %s | %.3g G | %s | %s | %s | %s | %s | %s%% | %s%% | %.0f | %.0f | %s | %s | %s |" % (
            r["model"], r["flop"] / 1e9, fmt(r["gradc_ms"]), fmt(r["torch_ms"]),
            fmt(r["ratio"]), fmt(r["gradc_gflops"]), fmt(r["torch_gflops"]),
            fmt(100 * r["gradc_share"]), fmt(100 * r["torch_share"]), r["gradc_rss_mb"],
            r["torch_rss_mb"], fmt(r["codegen_s"]), fmt(r["compile_s"]), fmt(r["startup_s"])))
    table = "\n".join(lines)
    print(table)

    detail = ["| model | consts set | rounds | steps (+warmup) | gradc ms per round | PyTorch ms per round | "
              "final loss gradc / PyTorch | other processes' cores, worst run | load avg before / after | "
              "PyTorch's OpenBLAS kernel, flush-denormal |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        detail.append("| %s | %s | %d | %d (+%d) | %s | %s | %.4f / %.4f | %s | %s | %s, %s |" % (
            r["model"], " ".join("%s=%s" % kv for kv in sorted(r["sets"].items())) or "(full size)",
            len(r["gradc_rounds"]), r["steps"], r["warmup"], ", ".join(r["gradc_rounds"]),
            ", ".join(r["torch_rounds"]), r["gradc_loss"], r["torch_loss"],
            "?" if r["other"] is None else "%.2f" % r["other"], r["load"], r["twin_core"],
            "yes" if r["twin_flush"] else "no"))
    version = subprocess.run([opts.gradc, "--version"], capture_output=True, text=True).stdout.strip()
    doc = ["# gradc vs PyTorch on the reference models", "",
           "Measured %s with bench/run.sh (%s, source tree at %s; %d threads each; medians of rounds, the rounds "
           "and steps of each model below)." % (started.strftime("%Y-%m-%d %H:%M %Z"), version or "gradc",
                                               source_version(), opts.threads),
           "The gradc binary: %s, built %s." % (opts.gradc, datetime.datetime.fromtimestamp(
               os.path.getmtime(opts.gradc)).astimezone().strftime("%Y-%m-%d %H:%M %Z")),
           "PyTorch ran with OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=%d torch.set_num_threads(%d)%s" % (
               opts.threads, opts.threads, " and glibc's default malloc" if opts.twin_default_malloc else
               " MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2^40 (freed memory stays in the process)") +
           (" and OPENBLAS_CORETYPE=%s" % opts.twin_coretype if opts.twin_coretype else "") +
           ", torch.set_flush_denormal(True); OpenBLAS kernel: %s" % coretype_note +
           ". gradc's sgemm: %s." % gemm_kind(),
           "Machine: %s." % machine(), "",
           table, "",
           "gradc codegen: LLVM O3 and JIT as `gradc train --verbose` reports it; compile: all of its "
           "compile phases (frontend, autodiff, passes, codegen, parameter initialisation); startup: process "
           "start to the first step (the compile, data loading, and first touches of the step's memory).", "",
           detail, ""]
    doc = "\n".join(x if isinstance(x, str) else "\n".join(x) for x in doc)
    if opts.out and opts.out != "-":
        os.makedirs(os.path.dirname(os.path.abspath(opts.out)), exist_ok=True)
        with open(opts.out + ".tmp", "w", encoding="utf-8") as f:
            f.write(doc)
        os.replace(opts.out + ".tmp", opts.out)
        print("written to %s" % opts.out, file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        print("bench: %s" % e, file=sys.stderr)
        sys.exit(1)
