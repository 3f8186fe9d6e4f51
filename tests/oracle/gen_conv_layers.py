"""gen_conv_layers.py OUTDIR: PyTorch's answers for the convolution layers (tests/unit/test_conv_layers.c),
in gen_layers.py's format: OUTDIR/layers/<case>/ holds src.<name>.npy for every source (the weights
under their state_dict names, the input x, the output weights w), y.npy, and grad.<name>.npy, the
gradient of sum(y * w) for every parameter and for x. Weights are redrawn from a fixed seed.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

torch.manual_seed(1)
torch.set_num_threads(1)
OUT = os.path.join(sys.argv[1], "layers")


def save(case, tensors):
    d = os.path.join(OUT, case)
    os.makedirs(d, exist_ok=True)
    for name, t in tensors.items():
        np.save(os.path.join(d, name + ".npy"), np.ascontiguousarray(t.detach().numpy().astype(np.float32)))


def run(case, module, shape):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    x = torch.randn(*shape).requires_grad_(True)
    y = module(x)
    w = torch.randn_like(y)
    (y * w).sum().backward()
    t = {"src.x": x, "src.w": w, "y": y, "grad.x": x.grad}
    for name, p in module.named_parameters():
        t["src." + name] = p
        t["grad." + name] = p.grad
    save(case, t)


# Keep in step with the table in tests/unit/test_conv_layers.c.
run("conv2d_basic", nn.Conv2d(3, 4, 3), (2, 3, 7, 6))
run("conv2d_lists", nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2)), (2, 4, 9, 8))
run("conv2d_same_even_kernel", nn.Conv2d(3, 4, 4, padding="same"), (2, 3, 6, 7))
run("conv2d_same_dilated", nn.Conv2d(3, 4, (3, 2), padding="same", dilation=(2, 3)), (2, 3, 8, 7))
run("conv2d_valid_groups", nn.Conv2d(4, 6, 3, padding="valid", groups=2), (2, 4, 6, 6))
run("conv2d_depthwise_nobias", nn.Conv2d(4, 8, 3, padding=1, groups=4, bias=False), (2, 4, 5, 6))
run("conv2d_unbatched", nn.Conv2d(3, 4, 3, stride=2), (3, 7, 7))
run("conv1d_stride_pad", nn.Conv1d(3, 5, 3, stride=2, padding=1), (2, 3, 11))
run("conv1d_same_dilated", nn.Conv1d(3, 4, 4, padding="same", dilation=2), (2, 3, 10))
run("conv_transpose2d", nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), (2, 4, 4, 5))
run("conv_transpose2d_groups_dilated",
    nn.ConvTranspose2d(4, 6, (3, 2), stride=(1, 2), padding=(0, 1), groups=2, bias=False, dilation=(2, 1)),
    (2, 4, 5, 4))
