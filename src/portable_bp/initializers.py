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

from . import _validation as check


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


def available_memory():
    """Bytes of memory available to new allocations (Linux's MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(sizes, bias=True):
    """Refuse at once a network whose float64 parameters would not fit in the available memory
    (rather than spending seconds allocating before NumPy's MemoryError)."""
    count = sum(n * m + (n if bias else 0) for m, n in zip(sizes[:-1], sizes[1:]))
    need, have = 8 * count, available_memory()
    if have is not None and need > have:
        raise MemoryError(
            f"a network with sizes {sizes[:6]}{'...' if len(sizes) > 6 else ''} has {count:,} parameters: "
            f"{need / 2**30:.1f} GiB in float64 to draw them, but only {have / 2**30:.1f} GiB of memory is "
            f"available. Use fewer or narrower layers"
        )


def init_params(sizes, init="scaled_normal", seed=None, bias=True):
    """Weights and biases as NumPy float64 arrays drawn from ``numpy.random.default_rng(seed)``
    with initialiser ``init`` (see the table in this module's docstring)."""
    init = check.check_choice("init", init, INITIALIZERS)
    check_memory(sizes, bias)
    weight, bias_fn = INITIALIZERS[init]
    rng = np.random.default_rng(seed)
    shapes = list(zip(sizes[1:], sizes[:-1]))  # (n_l, n_{l-1})
    biases = [None if not bias else (np.zeros((n, 1)) if bias_fn is None else bias_fn(rng, n, m))
              for n, m in shapes]
    weights = [weight(rng, n, m) for n, m in shapes]
    return weights, biases
