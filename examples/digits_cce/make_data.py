"""make_data.py: writes data/*.npy for the digits examples (digits_cce, digits_distill_kl and
transformer_classifier read them from here) from scikit-learn's copy of the UCI Optical
Recognition of Handwritten Digits test set (see README.md). Run once; the outputs are committed.

1797 images of 8x8 pixels (counts 0..16, scaled here to 0..1), labels 0..9. Rows are shuffled
with a fixed seed and split 1440 / 357 into train / test.
Outputs: train_x [1440, 64] float32, train_y [1440] int32, test_x [357, 64], test_y [357].

usage: /usr/bin/python3 make_data.py
"""
import os

import numpy as np

SKLEARN_DATA = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    table = np.loadtxt(os.path.join(SKLEARN_DATA, "digits.csv.gz"), delimiter=",")
    assert table.shape == (1797, 65)
    x, y = table[:, :64] / 16.0, table[:, 64]
    order = np.random.RandomState(0).permutation(len(x))
    x, y = x[order], y[order]
    n_train = 1440
    out = os.path.join(HERE, "data")
    os.makedirs(out, exist_ok=True)
    for split, rows in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
        np.save(os.path.join(out, split + "_x.npy"), np.ascontiguousarray(x[rows], dtype=np.float32))
        np.save(os.path.join(out, split + "_y.npy"), np.ascontiguousarray(y[rows], dtype=np.int32))
    print("digits: %d train, %d test images; train classes %s" % (
        n_train, len(x) - n_train, np.bincount(y[:n_train].astype(int)).tolist()))


if __name__ == "__main__":
    main()
