"""Data sets: small ones made in-process (circles, moons, the notebook's 1-D toy set, scikit-learn's
bundled 8x8 digits) and MNIST, downloaded once into a cache folder and checked (:func:`mnist`, the
standard 60k/10k IDX files; :func:`mnist_nielsen`, network.py's 50k/10k/10k ``mnist.pkl.gz``)."""

from __future__ import annotations

import numpy as np

from ._fetch import DataFileError, data_folder
from ._mnist import mnist, mnist_nielsen

__all__ = ["DATASETS", "DataFileError", "circles", "data_folder", "digits", "mnist", "mnist_nielsen", "moons", "toy1d"]


def circles(n=1000, noise=0.1, factor=0.3, seed=0):
    """Two concentric noisy circles (the seed notebook's make_circles(factor=0.3, noise=0.1)).

    Returns X (n, 2) float64 and integer labels y (n,): 0 for the outer circle, 1 for the inner.
    """
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    X = np.vstack(
        [np.c_[np.cos(t_out), np.sin(t_out)], factor * np.c_[np.cos(t_in), np.sin(t_in)]]
    )
    y = np.r_[np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)]
    X = X + rng.normal(scale=noise, size=X.shape)
    perm = rng.permutation(n)
    return X[perm], y[perm]


def moons(n=1000, noise=0.1, seed=0):
    """Two interleaving half circles. Returns X (n, 2) and labels y (n,) in {0, 1}."""
    rng = np.random.default_rng(seed)
    n_a = n // 2
    n_b = n - n_a
    t_a = np.linspace(0, np.pi, n_a)
    t_b = np.linspace(0, np.pi, n_b)
    X = np.vstack([np.c_[np.cos(t_a), np.sin(t_a)], np.c_[1 - np.cos(t_b), 0.5 - np.sin(t_b)]])
    y = np.r_[np.zeros(n_a, dtype=np.int64), np.ones(n_b, dtype=np.int64)]
    X = X + rng.normal(scale=noise, size=X.shape)
    perm = rng.permutation(n)
    return X[perm], y[perm]


def toy1d(n=1000):
    """The seed notebook's 1-D toy set: x on [-5, 5], label +1 for x > 0 and -1 otherwise.

    Returns X (n, 1) and Y (n, 1) float64 (targets in {-1, 1}, suited to a tanh output).
    """
    X = np.linspace(-5, 5, n).reshape(n, 1)
    Y = ((X > 0).astype(int) * 2 - 1).reshape(n, 1).astype(np.float64)
    return X, Y


def digits(test_size=0.25, seed=0):
    """scikit-learn's bundled 8x8 digits (1797 images), scaled to [0, 1], with a seeded split.

    Returns X_train, X_test, y_train, y_test (labels are integers 0-9).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            'the digits data set ships with scikit-learn: pip install "portable_bp[sklearn]"'
        ) from None
    data = load_digits()
    X = data.data / 16.0
    y = data.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_size * len(y)))
    test, train = perm[:n_test], perm[n_test:]
    return X[train], X[test], y[train], y[test]


DATASETS = {"circles": circles, "moons": moons, "toy1d": toy1d, "digits": digits, "mnist": mnist,
            "mnist_nielsen": mnist_nielsen}
