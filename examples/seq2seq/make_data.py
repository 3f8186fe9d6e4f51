"""make_data.py: writes data/*.npy for the seq2seq example, a synthetic task: reverse a sequence
of 8 random digits. Run once; the outputs are committed.

Tokens: 0 is the start-of-sequence token that begins the decoder's input, 1 .. 10 are the digits
0 .. 9 (vocabulary of 11). For each example:
  src      the digits                                     e.g. 4 9 1 1 7 3 2 8
  tgt_out  the digits reversed: what the decoder predicts      8 2 3 7 1 1 9 4
  tgt_in   0 then tgt_out without its last token (teacher forcing)  0 8 2 3 7 1 1 9
Outputs (int32): train_{src,tgt_in,tgt_out} [2048, 8], test_{src,tgt_in,tgt_out} [256, 8], drawn
from numpy's RandomState(0).

usage: /usr/bin/python3 make_data.py
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
LENGTH, START, DIGITS = 8, 0, 10


def main():
    rng = np.random.RandomState(0)
    out = os.path.join(HERE, "data")
    os.makedirs(out, exist_ok=True)
    for split, count in (("train", 2048), ("test", 256)):
        src = rng.randint(0, DIGITS, size=(count, LENGTH)) + 1
        tgt_out = src[:, ::-1]
        tgt_in = np.concatenate([np.full((count, 1), START), tgt_out[:, :-1]], axis=1)
        for name, a in (("src", src), ("tgt_in", tgt_in), ("tgt_out", tgt_out)):
            np.save(os.path.join(out, "%s_%s.npy" % (split, name)), np.ascontiguousarray(a, dtype=np.int32))
    print("seq2seq: 2048 train, 256 test sequences of %d digits" % LENGTH)


if __name__ == "__main__":
    main()
