"""The functions a training run calls on the device: one optimizer step, and the metrics of a data set.

Both are built once (per network, and per optimizer for the step) and compiled where the backend
compiles (``_backend.jit``: JAX); they are written with the numerics of ``backprop.py`` and the
optimizers of :mod:`portable_bp.optim` only, so they run unchanged on every backend.

A mini-batch is a tuple ``(X, Y, w, u)``: inputs, targets, per-sample weights (None: all equal)
and dropout's uniform draws (None without dropout; else (m, Σ n_l) for the hidden layers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from .. import _backend
from ..backprop import all_finite, backprop, cost_per_sample, forward
from ..losses import accuracy


class Run(NamedTuple):
    """The compiled functions of one kind of run (network, optimizer, L2 or not, dropout): ``step``
    (one mini-batch), ``steps`` (k stacked mini-batches: one compiled call on JAX), ``metrics``,
    ``finite``, and ``noise(rng, shape)``: dropout's draws for batches of ``shape`` (None without)."""

    step: Callable
    steps: Callable
    metrics: Callable
    finite: Callable
    backend: str
    noise: Callable


def make_run(spec, optimizer, l2, backend, metrics, finite, dropout=None, asarray=None, record=False):
    """A :class:`Run`; ``dropout`` is one rate per hidden layer (or None), ``asarray`` places host arrays,
    ``record``: every step also gives its batch's record (see :func:`make_step`)."""
    step = make_step(spec, optimizer, l2, backend, dropout, record)
    steps = _backend.scan_steps(step, backend if spec.kernel.jittable else None)
    width = 0 if not dropout else sum(n for n, _ in dropout)

    def noise(rng, shape):
        """Uniform draws for ``shape`` (k, m) or (m,) batches, one row per sample, from ``rng`` (NumPy):
        one generator gives the same masks on every backend, in compiled epochs or step by step."""
        return None if not width else asarray(rng.random((*shape, width)))

    return Run(step, steps, metrics, finite, backend, noise)


def dropout_keep(xp, u, dropout):
    """Inverted dropout's multipliers from the draws ``u`` (m, Σ n_l): per hidden layer of width n and
    rate p, (u ≥ p) / (1 − p) — 0 for a dropped unit, 1/(1 − p) for a kept one."""
    keep, start = [], 0
    for n, p in dropout:
        keep.append(xp.astype(u[:, start:start + n] >= p, u.dtype) * (1.0 / (1.0 - p)))
        start += n
    return keep


def make_step(spec, optimizer, l2, backend, dropout=None, record=False):
    """``step(params, state, batch, l2c) -> (params, state)``: one mini-batch step of ``optimizer``.

    The gradient is the batch MEAN (network.py's η/m Σ_x ∇C_x, with η applied by the optimizer), or
    with sample weights the weighted mean Σ_x w_x ∇C_x / Σ_x w_x (integer weights = repeated samples).
    With ``l2`` (network2.py's L2 regularisation, ``l2c`` = λ/n), the cost gains (λ/2n)·Σ‖W‖², so
    every weight gradient gains (λ/n)·W; biases are not regularised. ``dropout``: ((n_l, p_l), ...)
    for the hidden layers, the masks from the batch's draws.

    The optimizer's ``prescale`` (sgd: η_t) is folded into the same δ^L multiplication as 1/m, as
    network.py's η/m: BP2–BP4 being linear in δ, every gradient arrives scaled, and ``descend``
    finishes the update (sgd: p − g, one pass per parameter).

    ``record=True``: ``-> (params, state, rec)`` with rec = [c, R, s] for the running epoch cost, from
    the step's own forward pass, at the parameters before the update: c the batch's mean cost
    (weighted mean with sample weights), R = Σ‖W‖² (0 without ``l2``), s the batch's total weight
    (its size without sample weights).
    """
    xp = spec.xp
    prescale, descend = optimizer.prescale, optimizer.descend or optimizer.update

    def step(params, state, batch, l2c):
        (weights, biases), (X, Y, w, u) = params, batch
        gain = prescale(state)
        scale = gain * (1.0 / X.shape[0]) if w is None else gain * xp.reshape(w / xp.sum(w), (-1, 1))
        keep = None if u is None else dropout_keep(xp, u, dropout)
        grads = backprop(spec, weights, biases, X, Y, scale=scale, keep=keep, costs=record)
        grads_w, grads_b = grads[0], grads[1]
        if l2:
            grads_w = [g + (gain * l2c) * W for g, W in zip(grads_w, weights)]
        new = descend((grads_w, grads_b), state, params)
        if not record:
            return new
        costs = grads[2]
        s = xp.full_like(costs[0], X.shape[0]) if w is None else xp.sum(w)
        c = xp.sum(costs) / X.shape[0] if w is None else xp.sum(w * costs) / s
        R = sum(xp.sum(W * W) for W in weights) if l2 else xp.zeros_like(c)
        return (*new, xp.stack([c, R, s]))

    return _backend.jit(step, backend) if spec.kernel.jittable else step


def make_metrics(spec, backend, l2=False):
    """``metrics(params, X, Y, l2c, w=None)``: a 1-d array [mean cost, accuracy] from ONE forward pass
    (means weighted by ``w`` when given).

    The cost is the mean per-sample cost; with ``l2`` it is network2.py's ``total_cost``, which adds
    (λ/2n)·Σ‖W‖² with ``l2c`` = λ/n. It is NaN or infinite when any parameter is (``0·Σp`` adds ±0
    to a finite cost and NaN otherwise), so reading it also checks the parameters: one host
    synchronisation.
    """
    xp = spec.xp

    def metrics(params, X, Y, l2c, w=None):
        weights, biases = params
        zs, activations = forward(spec, weights, biases, X)
        costs = cost_per_sample(spec, zs, activations, Y)
        cost = xp.mean(costs) if w is None else xp.sum(w * costs) / xp.sum(w)
        if l2:
            cost = cost + (0.5 * l2c) * sum(xp.sum(W * W) for W in weights)
        for p in [*weights, *[b for b in biases if b is not None]]:
            cost = cost + 0.0 * xp.sum(p)
        hits = accuracy(xp, activations[-1], Y, spec.output_activation, w)
        return xp.stack([cost, hits])

    return _backend.jit(metrics, backend) if spec.kernel.jittable else metrics


def make_finite(spec, backend):
    """``finite(params)``: a 0-d bool array, True when every parameter is finite."""
    xp = spec.xp

    def finite(params):
        weights, biases = params
        return all_finite(xp, *weights, *[b for b in biases if b is not None])

    return _backend.jit(finite, backend) if spec.kernel.jittable else finite
