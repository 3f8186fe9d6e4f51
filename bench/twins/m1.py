"""m1.py: the PyTorch twin of bench/m1.gm (MLP 784-1024-1024-10, ReLU, cross-entropy, plain SGD).

Same layers (nn.Linear, PyTorch's default init, which gradc's linear matches), same loss, same
optimizer (torch.optim.SGD, lr 0.01), same data files. See common.py for the timing and usage.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

args = common.parse_args("m1")
common.setup_threads(args.threads)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def main():
    c = args.consts
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(c["features"], c["hidden"]), nn.ReLU(),
                        nn.Linear(c["hidden"], c["hidden"]), nn.ReLU(),
                        nn.Linear(c["hidden"], c["classes"]))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    batches = common.load_batches(args.data_dir, ["x", "y"], c["batch"])
    common.run("m1", args, net, opt, batches, lambda m, b: F.cross_entropy(m(b["x"]), b["y"]))


if __name__ == "__main__":
    main()
