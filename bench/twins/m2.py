"""m2.py: the PyTorch twin of bench/m2.gm (see gpt.py for the model, common.py for timing and usage)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

args = common.parse_args("m2")
common.setup_threads(args.threads)
import gpt  # noqa: E402

if __name__ == "__main__":
    gpt.train("m2", args, tied=False)
