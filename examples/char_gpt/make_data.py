"""make_data.py: writes the char_gpt example's token arrays from data/genesis_1-20.txt, the first
twenty chapters of Genesis in the King James Version (public domain; see README.md for where the
text comes from and how it was extracted). Run once; the outputs are committed.

Tokens are bytes (0-255; the text is ASCII), and the text is cut into consecutive windows of
`ctx` bytes whose targets are the same bytes shifted by one, so position t learns to predict
byte t + 1:
  tokens[i]  = text[i*ctx     .. i*ctx + ctx - 1]
  targets[i] = text[i*ctx + 1 .. i*ctx + ctx]
This is exactly what `gradc train --text data/genesis_1-20.txt` makes of the text (the bytes that
do not fill a last window are dropped), so the arrays and the text train the same model.
Outputs (int32): tokens [N, ctx], targets [N, ctx] with N = (len - 1) // ctx.

usage: /usr/bin/python3 make_data.py
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CTX = 32        # the model's ctx


def main():
    with open(os.path.join(HERE, "data", "genesis_1-20.txt"), "rb") as f:
        text = f.read()
    assert max(text) < 128, "the text should be ASCII"
    ids = np.frombuffer(text, dtype=np.uint8).astype(np.int32)
    n = (len(ids) - 1) // CTX
    tokens = ids[:n * CTX].reshape(n, CTX)
    targets = ids[1:n * CTX + 1].reshape(n, CTX)
    out = os.path.join(HERE, "data")
    np.save(os.path.join(out, "tokens.npy"), np.ascontiguousarray(tokens))
    np.save(os.path.join(out, "targets.npy"), np.ascontiguousarray(targets))
    print("char_gpt: %d bytes, %d distinct, %d windows of %d" % (len(text), len(set(text)), n, CTX))


if __name__ == "__main__":
    main()
