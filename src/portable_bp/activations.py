"""Activation functions σ and their derivatives σ', as small tables (cf. scikit-learn's _base.py).

Each function takes the array namespace ``xp`` first and uses only the array API standard.
Derivatives receive both ``z`` and ``a = σ(z)`` so they can reuse the forward pass
(σ'(z) = a(1 − a) for the sigmoid, exactly network.py's ``sigmoid_prime``).
"""


def sigmoid(xp, z):
    return 1.0 / (1.0 + xp.exp(-z))


def tanh(xp, z):
    return xp.tanh(z)


def relu(xp, z):
    return xp.maximum(z, xp.zeros_like(z))


def identity(xp, z):
    return z


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


ACTIVATIONS = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "identity": identity,
    "softmax": softmax,
}

#: σ'(z) for the element-wise activations. Softmax has a full Jacobian instead; BP1 handles it.
DERIVATIVES = {
    "sigmoid": sigmoid_prime,
    "tanh": tanh_prime,
    "relu": relu_prime,
    "identity": identity_prime,
}

ALIASES = {"linear": "identity"}

#: activations allowed only on the output layer
OUTPUT_ONLY = {"softmax"}
