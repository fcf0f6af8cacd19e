"""Per-sample costs C_x and their gradients ∇_a C_x, as small tables.

Every cost takes ``(xp, z, a, y, output_activation)`` for a batch-first output layer (z = z^L, a = a^L) and
returns the (N,) vector of per-sample costs; the gradient functions return ∇_a C_x, (N, n_L).
Cross-entropy is computed from z for stability and never needs its gradient: with a softmax
or sigmoid output BP1 reduces to δ^L = a^L − y. So does the Poisson loss with an exp output (its
log link): ∇_a C = 1 − y/a and σ'(z) = a give δ^L = a − y (``CANONICAL_OUTPUTS``).
"""


def mse(xp, z, a, y, output_activation=None):
    """Quadratic cost C_x = ½‖a − y‖² (network.py)."""
    d = a - y
    return 0.5 * xp.sum(d * d, axis=-1)


def l1(xp, z, a, y, output_activation=None):
    """C_x = Σ_j |a_j − y_j|."""
    return xp.sum(xp.abs(a - y), axis=-1)


def cross_entropy(xp, z, a, y, output_activation):
    """−Σ y ln a (softmax output) or −Σ [y ln a + (1−y) ln(1−a)] (sigmoid output), from z."""
    if output_activation == "softmax":
        m = xp.max(z, axis=-1, keepdims=True)
        log_a = z - m - xp.log(xp.sum(xp.exp(z - m), axis=-1, keepdims=True))
        return -xp.sum(y * log_a, axis=-1)
    # sigmoid: -ln σ(z) = ln(1 + e^{-z}),  -ln(1 - σ(z)) = ln(1 + e^{z})
    zero = xp.zeros_like(z)
    return xp.sum(y * xp.logaddexp(zero, -z) + (1.0 - y) * xp.logaddexp(zero, z), axis=-1)


def poisson(xp, z, a, y, output_activation):
    """Half the Poisson deviance, C_x = Σ_j [y_j ln(y_j / a_j) − y_j + a_j] (0 ln 0 = 0; a is the
    predicted rate): scikit-learn's ``MLPRegressor(loss="poisson")``. Needs y ≥ 0 and a > 0; with
    the exp output ln a is z itself, so no log of an underflowed rate."""
    positive = y > 0
    y_ln_y = xp.where(positive, y * xp.log(xp.where(positive, y, xp.ones_like(y))), xp.zeros_like(y))
    ln_a = z if output_activation == "exp" else xp.log(a)
    return xp.sum(y_ln_y - y * ln_a - y + a, axis=-1)


def mse_gradient(xp, a, y):
    """∇_a C_x for the quadratic cost: network.py's ``cost_derivative``, a − y."""
    return a - y


def l1_gradient(xp, a, y):
    return xp.sign(a - y)


def poisson_gradient(xp, a, y):
    """∇_a C_x of the half Poisson deviance, 1 − y/a (BP1 uses it only for a softplus output)."""
    return 1.0 - y / a


LOSSES = {"mse": mse, "l1": l1, "cross_entropy": cross_entropy, "poisson": poisson}

#: ∇_a C_x; cross-entropy has none here because BP1 uses its shortcut δ^L = a^L − y.
LOSS_GRADIENTS = {"mse": mse_gradient, "l1": l1_gradient, "poisson": poisson_gradient}

ALIASES = {"quadratic": "mse", "ce": "cross_entropy", "log_loss": "cross_entropy"}

#: output activations cross-entropy is defined for
CROSS_ENTROPY_OUTPUTS = {"softmax", "sigmoid"}

#: the output activations a loss needs (a loss not listed takes any): the Poisson loss a positive rate
OUTPUTS = {"cross_entropy": ("softmax", "sigmoid"), "poisson": ("exp", "softplus")}

#: (loss, output activation) pairs of a canonical link, for which BP1 is δ^L = a^L − y
CANONICAL_OUTPUTS = {"cross_entropy": CROSS_ENTROPY_OUTPUTS, "poisson": {"exp"}}


def accuracy(xp, a, y, output_activation, w=None):
    """0-d array: the fraction of samples classified correctly, by argmax over the outputs, or for one
    output by a threshold (0.5; 0 for a tanh output); weighted by the per-sample ``w`` when given."""
    if a.shape[-1] == 1:
        threshold = 0.0 if output_activation == "tanh" else 0.5
        hits = (a > threshold) == (y > threshold)
    else:
        hits = xp.argmax(a, axis=1) == xp.argmax(y, axis=1)
    hits = xp.astype(hits, a.dtype)
    if w is None:
        return xp.mean(hits)
    if hits.ndim == 2:  # one output: (N, 1)
        hits = hits[:, 0]
    return xp.sum(w * hits) / xp.sum(w)
