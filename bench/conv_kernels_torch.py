#!/usr/bin/python3
"""conv_kernels_torch.py: GFLOP/s of PyTorch's conv2d forward, input grad and weight grad at the
shapes bench/conv_kernels.c measures (run with OMP_WAIT_POLICY=PASSIVE OPENBLAS_CORETYPE=SkylakeX).

usage: conv_kernels_torch.py [threads] [repeats]
"""
import os
import sys
import time

import torch
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
torch.set_num_threads(threads)
torch.set_flush_denormal(True)
SHAPES = [
    ("64ch 32x32 3x3", 32, 64, 32, 64, 3, 1, 1), ("128ch 16x16 3x3", 32, 128, 16, 128, 3, 1, 1),
    ("256ch 8x8 3x3", 32, 256, 8, 256, 3, 1, 1), ("512ch 4x4 3x3", 32, 512, 4, 512, 3, 1, 1),
    ("64->128 32x32 3x3 s2", 32, 64, 32, 128, 3, 2, 1), ("64->128 1x1 s2", 32, 64, 32, 128, 1, 2, 0),
    ("128->256 1x1 s2", 32, 128, 16, 256, 1, 2, 0), ("256->512 1x1 s2", 32, 256, 8, 512, 1, 2, 0),
]


# GC_BENCH_CPUTIME: the process's CPU time divided by the threads, as bench/conv_kernels.c measures
# on a busy machine (OMP_WAIT_POLICY=PASSIVE keeps idle threads from spinning).
clock = (lambda: time.process_time() / threads) if os.environ.get("GC_BENCH_CPUTIME") else time.perf_counter


def best(fn):
    fn()
    t = 1e30
    for _ in range(repeats):
        t0 = clock()
        fn()
        t = min(t, clock() - t0)
    return t


print("| shape | forward GFLOP/s | input grad GFLOP/s | weight grad GFLOP/s |\n|---|---|---|---|")
for name, n, c, h, o, k, s, p in SHAPES:
    x = torch.randn(n, c, h, h)
    w = torch.randn(o, c, k, k)
    y = F.conv2d(x, w, stride=s, padding=p)
    dy = torch.randn_like(y)
    flops = 2.0 * n * o * c * k * k * y.shape[2] * y.shape[3]
    with torch.no_grad():
        tf = best(lambda: F.conv2d(x, w, stride=s, padding=p))
    # What autograd runs for conv2d's backward (mkldnn on this CPU), one gradient at a time.
    def back(mask):
        return lambda: torch.ops.aten.convolution_backward(dy, x, w, None, [s, s], [p, p], [1, 1], False, [0, 0], 1,
                                                           mask)
    ti = best(back([True, False, False]))
    tw = best(back([False, True, False]))
    print(f"| {name} | {flops / tf * 1e-9:.0f} | {flops / ti * 1e-9:.0f} | {flops / tw * 1e-9:.0f} |")
