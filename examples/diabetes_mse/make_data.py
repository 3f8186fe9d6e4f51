"""make_data.py: writes data/*.npy for the diabetes_mse example from scikit-learn's copy of the
diabetes data (Efron et al., 2004; see README.md). Run once; the outputs are committed.

The raw CSVs (442 patients, 10 baseline variables, one progression score) are shuffled with a
fixed seed, split 360 / 82 into train / test, and standardised with the training rows' mean and
standard deviation (features and target), so an MLP with default initialisation trains well.
Outputs (float32): train_x [360, 10], train_y [360, 1], test_x [82, 10], test_y [82, 1].

usage: /usr/bin/python3 make_data.py
"""
import os

import numpy as np

SKLEARN_DATA = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    x = np.loadtxt(os.path.join(SKLEARN_DATA, "diabetes_data_raw.csv.gz"))
    y = np.loadtxt(os.path.join(SKLEARN_DATA, "diabetes_target.csv.gz")).reshape(-1, 1)
    assert x.shape == (442, 10) and y.shape == (442, 1)
    order = np.random.RandomState(0).permutation(len(x))
    x, y = x[order], y[order]
    n_train = 360
    mean_x, std_x = x[:n_train].mean(0), x[:n_train].std(0)
    mean_y, std_y = y[:n_train].mean(0), y[:n_train].std(0)
    x = (x - mean_x) / std_x
    y = (y - mean_y) / std_y
    out = os.path.join(HERE, "data")
    os.makedirs(out, exist_ok=True)
    for split, rows in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
        np.save(os.path.join(out, split + "_x.npy"), np.ascontiguousarray(x[rows], dtype=np.float32))
        np.save(os.path.join(out, split + "_y.npy"), np.ascontiguousarray(y[rows], dtype=np.float32))
    print("diabetes: %d train, %d test rows; target mean %.1f std %.1f" % (n_train, len(x) - n_train,
                                                                          mean_y[0], std_y[0]))


if __name__ == "__main__":
    main()
