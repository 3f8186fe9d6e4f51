"""make_data.py: writes data/*.npy for the breast_cancer_bce example from scikit-learn's copy of the
Breast Cancer Wisconsin (Diagnostic) data set (UCI; see README.md). Run once; outputs are committed.

569 tumours, 30 real-valued features of cell nuclei, label 1 = benign, 0 = malignant (sklearn's
coding). Rows are shuffled with a fixed seed and split 455 / 114 into train / test; features are
standardised with the training rows' mean and standard deviation.
Outputs (float32): train_x [455, 30], train_y [455, 1], test_x [114, 30], test_y [114, 1].

usage: /usr/bin/python3 make_data.py
"""
import os

import numpy as np

SKLEARN_DATA = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    # First line: "569,30,malignant,benign" (counts and class names), then 30 features and the class.
    table = np.loadtxt(os.path.join(SKLEARN_DATA, "breast_cancer.csv"), delimiter=",", skiprows=1)
    assert table.shape == (569, 31)
    x, y = table[:, :30], table[:, 30:]
    order = np.random.RandomState(0).permutation(len(x))
    x, y = x[order], y[order]
    n_train = 455
    x = (x - x[:n_train].mean(0)) / x[:n_train].std(0)
    out = os.path.join(HERE, "data")
    os.makedirs(out, exist_ok=True)
    for split, rows in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
        np.save(os.path.join(out, split + "_x.npy"), np.ascontiguousarray(x[rows], dtype=np.float32))
        np.save(os.path.join(out, split + "_y.npy"), np.ascontiguousarray(y[rows], dtype=np.float32))
    print("breast cancer: %d train (%d benign), %d test rows" % (n_train, int(y[:n_train].sum()),
                                                                  len(x) - n_train))


if __name__ == "__main__":
    main()
