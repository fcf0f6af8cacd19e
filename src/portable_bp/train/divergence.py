"""Failing loudly: what ``fit`` does when training produces a non-finite cost or parameter.

The normal path synchronises with the device once per epoch, to read the training metrics, whose
cost is NaN as soon as any parameter is (``steps.make_metrics``): detecting a divergence costs no
extra host round-trip. Only when that check fails does :func:`locate` replay the epoch
deterministically — from the parameters and optimizer state saved at its start, with the same
sample order — checking each batch, to name the first bad batch and hand back the parameters
(and optimizer state) from just before it.

The optimizer state counts as much as the parameters: Adam's second moment v ← β₂ v + (1 − β₂) g²
overflows (g² beyond the dtype's range) while every parameter stays finite (m / √v is then 0), and
a state that is not finite is a state the parameters cannot go on with (nor a checkpoint hold). So
a step is bad when it makes a parameter OR a state slot non-finite, and the state goes back with the
parameters, to the last step where both were finite.
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


def state_finite(finite, state, backend):
    """Whether every array of the optimizer ``state``'s slots is finite (``finite`` the run's check)."""
    leaves = _leaves(state.slots)
    return not leaves or _backend.to_bool(finite((leaves, [])), backend)


def _leaves(tree):
    if tree is None:
        return []
    if isinstance(tree, (list, tuple)):
        return [leaf for child in tree for leaf in _leaves(child)]
    return [tree]


def locate(step, metrics, finite, start, batches, l2c, backend):
    """Replay one epoch from ``start`` = (params, state) over ``batches`` (the same (X_b, Y_b, w_b, u_b)
    the epoch used, read lazily).

    Returns ``(k, (params, state) before batch k, reason)`` for the first batch k (0-based) whose
    cost at the current parameters is not finite, or whose step gives non-finite parameters or
    optimizer state. If
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
        if not state_finite(finite, new[1], backend):
            return k, current, ("its gradient step gave a non-finite optimizer state (e.g. Adam's second moment "
                                "overflowed: the squared gradient is beyond the dtype's range)")
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
