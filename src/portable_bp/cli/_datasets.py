"""The built-in data sets as ``train`` uses them: the train/test split, and how it is described."""

from __future__ import annotations

import numpy as np

from .. import datasets


def load_dataset(name, seed):
    """(X_train, Y_train, X_test, Y_test) for a data set name; the test samples are always held out."""
    if name == "digits":  # one fixed split for every training seed, so test accuracies compare
        X_tr, X_te, y_tr, y_te = datasets.digits()
        return X_tr, y_tr, X_te, y_te
    if name == "mnist":  # the standard split: 60000 train, the 10000 test images held out
        (X_tr, y_tr), (X_te, y_te) = datasets.mnist()
        return X_tr, y_tr, X_te, y_te
    if name == "mnist_nielsen":  # network.py's: train on his 50000, test on the 10000 test images as he does
        (X_tr, y_tr), _validation, (X_te, y_te) = datasets.mnist_nielsen()
        return X_tr, y_tr, X_te, y_te
    if name == "toy1d":  # the notebook's grid of 1000 points on [-5, 5]: every 4th point is held out
        X, Y = datasets.toy1d()
        test = np.arange(len(X)) % 4 == 3
        return X[~test], Y[~test], X[test], Y[test]
    X, y = datasets.DATASETS[name](n=1000, seed=seed)
    n_train = 750
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]



#: how each data set is split (printed after the sample counts)
SPLITS = {"toy1d": "; test = every 4th point of the notebook's grid, held out",
          "mnist": "; test = MNIST's 10000 test images", "mnist_nielsen": "; test = MNIST's 10000 test images "
          "(Nielsen's 10000 validation images unused)",
          "digits": "; test = a fixed 25 % split, the same for every seed"}
#: metrics.json's ``test_set``
TEST_SETS = {"toy1d": "held out: every 4th point of datasets.toy1d()'s grid of 1000 (250), the other 750 train",
             "digits": "held out: datasets.digits()'s fixed 25 % split",
             "mnist": "held out: MNIST's standard 10000 test images (t10k)",
             "mnist_nielsen": "held out: the 10000 test images of Nielsen's mnist.pkl.gz (network.py's test_data)",
             "circles": "held out: the last 250 of 1000 samples", "moons": "held out: the last 250 of 1000 samples"}
