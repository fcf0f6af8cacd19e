"""Initial weights and biases, drawn on the host from ``numpy.random.default_rng(seed)``.

One seed gives one network on every backend: the parameters are drawn here as NumPy float64
arrays and moved to the backend afterwards. Biases are drawn first, then weights, layer by layer,
as network.py does; initialisers with zero biases draw none.

| init             | W^l (n_l × n_{l-1}), fan_in = n_{l-1}, fan_out = n_l | b^l          | suits              |
|------------------|-------------------------------------------------------|--------------|--------------------|
| "normal"         | N(0, 1)  (network.py)                                  | N(0, 1)      | the book's ch. 1   |
| "scaled_normal"  | N(0, 1/fan_in)  (network2.py; the default)            | N(0, 1)      | sigmoid, tanh      |
| "glorot_uniform" | U(±√(6/(fan_in+fan_out)))  (Keras, scikit-learn)       | 0            | tanh, sigmoid      |
| "he_normal"      | N(0, 2/fan_in)  (PyTorch's kaiming_normal_)           | 0            | relu               |
| "he_uniform"     | U(±√(6/fan_in))                                       | 0            | relu               |
| "torch"          | U(±1/√fan_in)  (nn.Linear's default)                  | U(±1/√fan_in) | any; as PyTorch   |
"""

from __future__ import annotations

import math

import numpy as np

from . import _checks


def _normal(rng, shape, std):
    return rng.standard_normal(shape) * std if std != 1.0 else rng.standard_normal(shape)


def _uniform(rng, shape, bound):
    return rng.uniform(-bound, bound, shape)


#: name -> (weight(rng, n_out, n_in), bias(rng, n_out, n_in) or None for zeros)
INITIALIZERS = {
    "normal": (lambda rng, n, m: rng.standard_normal((n, m)), lambda rng, n, m: rng.standard_normal((n, 1))),
    "scaled_normal": (lambda rng, n, m: rng.standard_normal((n, m)) / np.sqrt(m),
                      lambda rng, n, m: rng.standard_normal((n, 1))),
    "glorot_uniform": (lambda rng, n, m: _uniform(rng, (n, m), math.sqrt(6.0 / (m + n))), None),
    "he_normal": (lambda rng, n, m: _normal(rng, (n, m), math.sqrt(2.0 / m)), None),
    "he_uniform": (lambda rng, n, m: _uniform(rng, (n, m), math.sqrt(6.0 / m)), None),
    "torch": (lambda rng, n, m: _uniform(rng, (n, m), 1.0 / math.sqrt(m)),
              lambda rng, n, m: _uniform(rng, (n, 1), 1.0 / math.sqrt(m))),
}
INITS = tuple(INITIALIZERS)


def init_params(sizes, init="scaled_normal", seed=None, bias=True):
    """Weights and biases as NumPy float64 arrays drawn from ``numpy.random.default_rng(seed)``
    with initialiser ``init`` (see the table in this module's docstring)."""
    init = _checks.choice("init", init, INITIALIZERS, fold_case=True)
    _checks.parameter_memory("sizes", sizes)  # before drawing: a ValueError now, not a MemoryError later
    weight, bias_fn = INITIALIZERS[init]
    rng = np.random.default_rng(seed)
    shapes = list(zip(sizes[1:], sizes[:-1]))  # (n_l, n_{l-1})
    biases = [None if not bias else (np.zeros((n, 1)) if bias_fn is None else bias_fn(rng, n, m))
              for n, m in shapes]
    weights = [weight(rng, n, m) for n, m in shapes]
    return weights, biases
