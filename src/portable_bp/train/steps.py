"""The functions a training run calls on the device: one optimizer step, and the metrics of a data set.

Both are built once (per network, and per optimizer for the step) and compiled where the backend
compiles (``_backend.jit``: JAX); they are written with the numerics of ``backprop.py`` and the
optimizers of :mod:`portable_bp.optim` only, so they run unchanged on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from .. import _backend
from ..backprop import all_finite, backprop, cost_per_sample, forward
from ..losses import accuracy


class Run(NamedTuple):
    """The compiled functions of one kind of run (network, optimizer, with or without L2): ``step``
    (one mini-batch), ``steps`` (k stacked mini-batches: one compiled call on JAX), ``metrics``,
    ``finite``."""

    step: Callable
    steps: Callable
    metrics: Callable
    finite: Callable
    backend: str


def make_run(spec, optimizer, l2, backend, metrics, finite):
    step = make_step(spec, optimizer, l2, backend)
    steps = _backend.scan_steps(step, backend) if spec.kernel.jittable else _backend.scan_steps(step, None)
    return Run(step, steps, metrics, finite, backend)


def make_step(spec, optimizer, l2, backend):
    """``step(params, state, X, Y, l2c) -> (params, state)``: one mini-batch step of ``optimizer``.

    The gradient is the batch MEAN (network.py's η/m Σ_x ∇C_x, with η applied by the optimizer).
    With ``l2`` (network2.py's L2 regularisation, ``l2c`` = λ/n), the cost gains (λ/2n)·Σ‖W‖², so
    every weight gradient gains (λ/n)·W; biases are not regularised.
    """

    def step(params, state, X, Y, l2c):
        weights, biases = params
        grads_w, grads_b = backprop(spec, weights, biases, X, Y, scale=1.0 / X.shape[0])
        if l2:
            grads_w = [g + l2c * W for g, W in zip(grads_w, weights)]
        return optimizer.update((grads_w, grads_b), state, params)

    return _backend.jit(step, backend) if spec.kernel.jittable else step


def make_metrics(spec, backend, l2=False):
    """``metrics(params, X, Y, l2c)``: a 1-d array [mean cost, accuracy] from ONE forward pass.

    The cost is the mean per-sample cost; with ``l2`` it is network2.py's ``total_cost``, which adds
    (λ/2n)·Σ‖W‖² with ``l2c`` = λ/n. It is NaN or infinite when any parameter is (``0·Σp`` adds ±0
    to a finite cost and NaN otherwise), so reading it also checks the parameters: one host
    synchronisation.
    """
    xp = spec.xp

    def metrics(params, X, Y, l2c):
        weights, biases = params
        zs, activations = forward(spec, weights, biases, X)
        cost = xp.mean(cost_per_sample(spec, zs, activations, Y))
        if l2:
            cost = cost + (0.5 * l2c) * sum(xp.sum(W * W) for W in weights)
        for p in [*weights, *[b for b in biases if b is not None]]:
            cost = cost + 0.0 * xp.sum(p)
        hits = accuracy(xp, activations[-1], Y, spec.output_activation)
        return xp.stack([cost, hits])

    return _backend.jit(metrics, backend) if spec.kernel.jittable else metrics


def make_finite(spec, backend):
    """``finite(params)``: a 0-d bool array, True when every parameter is finite."""
    xp = spec.xp

    def finite(params):
        weights, biases = params
        return all_finite(xp, *weights, *[b for b in biases if b is not None])

    return _backend.jit(finite, backend) if spec.kernel.jittable else finite
