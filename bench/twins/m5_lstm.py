"""m5_lstm.py: the PyTorch twin of bench/m5_lstm.gm (an LSTM over 256 steps, cross-entropy on its
final hidden state, plain SGD).

Same layers (nn.LSTM with batch_first=True, nn.Linear; PyTorch's default init, which gradc's lstm
and linear match), same loss, same optimizer (torch.optim.SGD, lr 0.01), same data files. PyTorch
runs at its best on CPU here: torch.set_flush_denormal(True) (a recurrence's gates drift towards
denormals), and bench/run.sh --twin-coretype SkylakeX gives OpenBLAS its AVX-512 kernel. See
common.py for the timing and usage.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

args = common.parse_args("m5_lstm")
common.setup_threads(args.threads)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class Net(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.lstm = nn.LSTM(c["features"], c["hidden"], batch_first=True)
        self.head = nn.Linear(c["hidden"], c["classes"])

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        return self.head(h_n.reshape(x.shape[0], -1))


def main():
    c = args.consts
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    net = Net(c)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    batches = common.load_batches(args.data_dir, ["x", "y"], c["batch"])
    common.run("m5_lstm", args, net, opt, batches, lambda m, b: F.cross_entropy(m(b["x"]), b["y"]))


if __name__ == "__main__":
    main()
