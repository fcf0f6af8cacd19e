"""What ``MLP.fit`` needs to fail loudly and stop early, kept out of the hot loop.

The normal path of ``fit`` synchronises with the device once per epoch (the training cost it
already reports). :func:`checked_cost` folds a check of every parameter into that same number, so
detecting a divergence costs no extra host round-trip. Only when the check fails does
:func:`locate_divergence` replay the epoch deterministically, from the parameters saved at its
start and with the same sample order, checking each batch, to name the first bad batch and hand
back the parameters from just before it.
"""

from __future__ import annotations

import math

from .backprop import cost_per_sample, forward


class DivergenceError(FloatingPointError):
    """Training produced a non-finite cost or gradient.

    A ``FloatingPointError`` (as NumPy's ``np.errstate(all="raise")`` would raise), because the
    arguments were valid: the arithmetic overflowed. Attributes: ``epoch`` and ``batch`` (1-based),
    ``n_batches`` (per epoch), ``lr`` and ``history`` (the per-epoch history of the epochs that
    completed). The network keeps its last finite parameters, those from just before ``batch``.
    """

    def __init__(self, message, *, epoch, batch, n_batches, lr, history):
        super().__init__(message)
        self.epoch, self.batch, self.n_batches, self.lr, self.history = epoch, batch, n_batches, lr, history


def mean_cost(spec, weights, biases, X, Y):
    """The mean per-sample cost as a 0-d backend array (no host synchronisation)."""
    zs, activations = forward(spec, weights, biases, X)
    return spec.xp.mean(cost_per_sample(spec, zs, activations, Y))


def checked_cost(spec, weights, biases, X, Y):
    """The mean cost as a float that is NaN/inf if the cost or ANY parameter is not finite.

    ``0 * Σ p`` is ±0 for finite parameters (leaving the cost bit-for-bit unchanged) and NaN as
    soon as one entry is NaN or ±inf, so one ``float()`` checks everything.
    """
    xp = spec.xp
    total = mean_cost(spec, weights, biases, X, Y)
    for p in list(weights) + [b for b in biases if b is not None]:
        total = total + 0.0 * xp.sum(p)
    return float(total)


def locate_divergence(net, start, batches, lr):
    """Replay one epoch from ``start`` = (weights, biases) over ``batches`` (an iterable giving the
    same (X_b, Y_b) the epoch used, read lazily), with the network's own step function.

    Returns ``(k, params_before_k, reason)`` for the first batch k (0-based) whose cost at the
    current parameters is not finite, or whose step gives non-finite parameters (a non-finite or
    overflowing gradient). If every batch passes, the epoch-end cost on the whole training set was
    the non-finite one: the last batch is blamed and the parameters from before it returned.
    """
    spec = net._spec
    params = prev = start
    k = -1
    for k, (Xb, Yb) in enumerate(batches):
        c = float(mean_cost(spec, *params, Xb, Yb))
        if not math.isfinite(c):
            return k, params, f"the cost of this batch was {c}"
        new = net._step(*params, Xb, Yb, lr)
        if not bool(net._finite(*new)):
            return k, params, "its gradient step gave non-finite parameters (a non-finite or overflowing gradient)"
        prev, params = params, new
    return k, prev, "after its step the cost on the training set was not finite"


def divergence_error(epoch, k, n_batches, reason, lr, history):
    message = (
        f"training diverged in epoch {epoch + 1}, batch {k + 1} of {n_batches}: {reason}. "
        f"The network keeps its last finite parameters, from just before that batch. "
        f"Try a smaller learning rate than lr={lr:g} (e.g. lr={lr / 10:g}), or scale the inputs and targets."
    )
    return DivergenceError(message, epoch=epoch + 1, batch=k + 1, n_batches=n_batches, lr=lr, history=history)
