"""Activation functions σ and their derivatives σ', as small tables (cf. scikit-learn's _base.py).

Each function takes the array namespace ``xp`` first and uses only the array API standard
(``xp.where``, ``xp.exp``, ``xp.tanh``, ...), never an in-place write. Derivatives receive both
``z`` and ``a = σ(z)`` so they can reuse the forward pass (σ'(z) = a(1 − a) for the sigmoid,
exactly network.py's ``sigmoid_prime``).

| name         | σ(z)                                              | σ'(z)                                   |
|--------------|---------------------------------------------------|-----------------------------------------|
| sigmoid      | 1 / (1 + e^−z)  (scikit-learn's "logistic")        | a (1 − a)                               |
| tanh         | tanh z                                            | 1 − a²                                  |
| relu         | max(z, 0)                                         | 1 if z > 0 else 0                       |
| identity     | z                                                 | 1                                       |
| leaky_relu   | z if z > 0 else 0.01 z  (torch's default slope)   | 1 if z > 0 else 0.01                    |
| elu          | z if z > 0 else e^z − 1  (α = 1)                  | 1 if z > 0 else a + 1 (= e^z)           |
| softplus     | ln(1 + e^z), as logaddexp(0, z): no overflow       | e^(z − a) (= the sigmoid, stably)       |
| gelu         | ½ z (1 + tanh u), u = √(2/π)(z + 0.044715 z³)      | ½(1 + t) + ½ z (1 − t²) du/dz, t = tanh u |
| exp          | e^z  (the log link: the Poisson loss's output)     | a (= e^z)                               |
| softmax      | row-wise e^z / Σ e^z (output layer only)           | a full Jacobian: handled in BP1         |
"""

import math

LEAKY_SLOPE = 0.01
GELU_C = math.sqrt(2.0 / math.pi)
GELU_K = 0.044715


def sigmoid(xp, z):
    return 1.0 / (1.0 + xp.exp(-z))


def tanh(xp, z):
    return xp.tanh(z)


def relu(xp, z):
    return xp.maximum(z, xp.zeros_like(z))


def identity(xp, z):
    return z


def leaky_relu(xp, z):
    return xp.where(z > 0, z, LEAKY_SLOPE * z)


def elu(xp, z):
    # expm1 of min(z, 0): the branch where() discards never overflows (no warning for large z)
    return xp.where(z > 0, z, xp.expm1(xp.minimum(z, xp.zeros_like(z))))


def softplus(xp, z):
    return xp.logaddexp(xp.zeros_like(z), z)


def gelu(xp, z):
    """GELU, tanh form (torch's ``gelu(approximate="tanh")``, JAX's ``gelu(approximate=True)``)."""
    return 0.5 * z * (1.0 + xp.tanh(GELU_C * (z + GELU_K * z * z * z)))


def exp(xp, z):
    """e^z, scikit-learn's "exp" output (``MLPRegressor(loss="poisson")``: a positive rate, log link)."""
    return xp.exp(z)


def softmax(xp, z):
    """Row-wise softmax of a batch-first (N, n) array; the row max is subtracted for stability."""
    e = xp.exp(z - xp.max(z, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def sigmoid_prime(xp, z, a):
    return a * (1.0 - a)


def tanh_prime(xp, z, a):
    return 1.0 - a * a


def relu_prime(xp, z, a):
    return xp.astype(z > 0, z.dtype)


def identity_prime(xp, z, a):
    return xp.ones_like(z)


def leaky_relu_prime(xp, z, a):
    return LEAKY_SLOPE + (1.0 - LEAKY_SLOPE) * xp.astype(z > 0, z.dtype)


def elu_prime(xp, z, a):
    return xp.where(z > 0, xp.ones_like(z), a + 1.0)


def softplus_prime(xp, z, a):
    return xp.exp(z - a)  # σ(z) = e^z / (1 + e^z) = e^(z − softplus(z)); z − a ≤ 0, so no overflow


def gelu_prime(xp, z, a):
    z2 = z * z
    t = xp.tanh(GELU_C * (z + GELU_K * z2 * z))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * (GELU_C * (1.0 + 3.0 * GELU_K * z2))


def exp_prime(xp, z, a):
    return a


ACTIVATIONS = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "identity": identity,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "softplus": softplus,
    "gelu": gelu,
    "exp": exp,
    "softmax": softmax,
}

#: σ'(z) for the element-wise activations. Softmax has a full Jacobian instead; BP1 handles it.
DERIVATIVES = {
    "sigmoid": sigmoid_prime,
    "tanh": tanh_prime,
    "relu": relu_prime,
    "identity": identity_prime,
    "leaky_relu": leaky_relu_prime,
    "elu": elu_prime,
    "softplus": softplus_prime,
    "gelu": gelu_prime,
    "exp": exp_prime,
}

#: other names for the same functions (scikit-learn's "logistic" is the sigmoid)
ALIASES = {"linear": "identity", "logistic": "sigmoid"}

#: activations allowed only on the output layer
OUTPUT_ONLY = {"softmax"}
