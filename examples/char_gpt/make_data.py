"""make_data.py: writes the char_gpt example's token arrays from data/genesis_1-20.txt, the first
twenty chapters of Genesis in the King James Version (public domain; see README.md for where the
text comes from and how it was extracted). Run once; the outputs are committed.

Characters are numbered in sorted order (data/vocab.json lists them: token i is vocab[i]). The
text is cut into consecutive windows of `ctx` characters; each window's targets are the same
characters shifted by one, so position t learns to predict character t + 1:
  tokens[i]  = text[i*ctx     .. i*ctx + ctx - 1]
  targets[i] = text[i*ctx + 1 .. i*ctx + ctx]
Outputs (int32): tokens [N, ctx], targets [N, ctx] with N = (len - 1) // ctx, and vocab.json.

usage: /usr/bin/python3 make_data.py
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CTX = 32        # the model's ctx
VOCAB = 60      # the model's vocab: must hold every character of the text


def main():
    with open(os.path.join(HERE, "data", "genesis_1-20.txt"), encoding="ascii") as f:
        text = f.read()
    chars = sorted(set(text))
    assert len(chars) <= VOCAB, "the text has %d characters, the model's vocab is %d" % (len(chars), VOCAB)
    index = {ch: i for i, ch in enumerate(chars)}
    ids = np.array([index[ch] for ch in text], dtype=np.int32)
    n = (len(ids) - 1) // CTX
    tokens = ids[:n * CTX].reshape(n, CTX)
    targets = ids[1:n * CTX + 1].reshape(n, CTX)
    out = os.path.join(HERE, "data")
    np.save(os.path.join(out, "tokens.npy"), np.ascontiguousarray(tokens))
    np.save(os.path.join(out, "targets.npy"), np.ascontiguousarray(targets))
    with open(os.path.join(out, "vocab.json"), "w", encoding="ascii") as f:
        json.dump(chars, f)
        f.write("\n")
    print("char_gpt: %d characters, %d distinct, %d windows of %d" % (len(text), len(chars), n, CTX))


if __name__ == "__main__":
    main()
