"""make_data.py: writes data/teacher_logits.npy for the digits_distill_kl example: the logits a
teacher model gives each training image of examples/digits_cce/data (run that make_data.py first).

The teacher is scikit-learn's multinomial logistic regression (lbfgs, deterministic) fitted on the
training images; its decision_function is the logit vector of softmax regression. The student
(model.gm) learns from these soft targets through kl_div and from the labels through
cross_entropy. Outputs (float32): train_teacher [1440, 10], test_teacher [357, 10].

usage: /usr/bin/python3 make_data.py
"""
import os

import numpy as np
from sklearn.linear_model import LogisticRegression

HERE = os.path.dirname(os.path.abspath(__file__))
DIGITS = os.path.join(HERE, "..", "digits_cce", "data")


def main():
    x, y = np.load(os.path.join(DIGITS, "train_x.npy")), np.load(os.path.join(DIGITS, "train_y.npy"))
    test_x, test_y = np.load(os.path.join(DIGITS, "test_x.npy")), np.load(os.path.join(DIGITS, "test_y.npy"))
    teacher = LogisticRegression(C=1.0, max_iter=2000).fit(x.astype(np.float64), y)
    out = os.path.join(HERE, "data")
    os.makedirs(out, exist_ok=True)
    for split, inputs in (("train", x), ("test", test_x)):
        logits = teacher.decision_function(inputs.astype(np.float64))
        np.save(os.path.join(out, split + "_teacher.npy"), np.ascontiguousarray(logits, dtype=np.float32))
    print("teacher accuracy: train %.4f, test %.4f; logit range %.1f .. %.1f" % (
        teacher.score(x, y), teacher.score(test_x, test_y), logits.min(), logits.max()))


if __name__ == "__main__":
    main()
