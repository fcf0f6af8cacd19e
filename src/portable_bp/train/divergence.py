"""Failing loudly: what ``fit`` does when training produces a non-finite cost or parameter.

The normal path synchronises with the device once per epoch, to read the training metrics, whose
cost is NaN as soon as any parameter is (``steps.make_metrics``): detecting a divergence costs no
extra host round-trip. Only when that check fails does :func:`locate` replay the epoch
deterministically — from the parameters and optimizer state saved at its start, with the same
sample order — checking each batch, to name the first bad batch and hand back the parameters
(and optimizer state) from just before it.
"""

from __future__ import annotations

import math

from .. import _backend


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


def locate(step, metrics, finite, start, batches, l2c, backend):
    """Replay one epoch from ``start`` = (params, state) over ``batches`` (the same (X_b, Y_b, w_b, u_b)
    the epoch used, read lazily).

    Returns ``(k, (params, state) before batch k, reason)`` for the first batch k (0-based) whose
    cost at the current parameters is not finite, or whose step gives non-finite parameters. If
    every batch passes, the epoch-end cost on the whole training set was the non-finite one: the
    last batch is blamed and the parameters from before it returned.
    """
    current = prev = start
    k = -1
    for k, batch in enumerate(batches):
        c = float(_backend.to_numpy(metrics(current[0], *batch[:2], 0.0, batch[2]))[0])
        if not math.isfinite(c):
            return k, current, f"the cost of this batch was {c}"
        new = step(*current, batch, l2c)[:2]  # (params, state); a running cost's record is not needed
        if not _backend.to_bool(finite(new[0]), backend):
            return k, current, "its gradient step gave non-finite parameters (a non-finite or overflowing gradient)"
        prev, current = current, new
    return k, prev, "after its step the cost on the training set was not finite"


def error(epoch, k, n_batches, reason, lr, history):
    smaller = f" (e.g. lr={lr / 10:g})" if isinstance(lr, float) else ""
    message = (
        f"training diverged in epoch {epoch + 1}, batch {k + 1} of {n_batches}: {reason}. "
        f"The network keeps its last finite parameters, from just before that batch. "
        f"Try a smaller learning rate than lr={lr if not isinstance(lr, float) else format(lr, 'g')}{smaller}, "
        f"or scale the inputs and targets."
    )
    return DivergenceError(message, epoch=epoch + 1, batch=k + 1, n_batches=n_batches, lr=lr, history=history)
