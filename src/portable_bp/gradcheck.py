"""Gradient checking by central differences, as in the seed notebook (ε = 1e-7)."""

from __future__ import annotations

import numpy as np

from . import _backend
from .backprop import cost_per_sample, forward


def gradcheck(net, X, Y, eps=1e-7):
    """Relative error ‖num − ana‖ / (‖num‖ + ‖ana‖) between backprop and central differences.

    The numerical gradient of the summed cost Σ_x C_x is
    (C(θ_i + ε) − C(θ_i − ε)) / 2ε for every parameter θ_i; ``net.backprop`` gives the analytic
    one. Values below ~1e-7 (float64) mean backprop is right. Use float64: in float32 the
    differences drown in rounding.
    """
    from .mlp import MLP

    if not isinstance(net, MLP):
        raise TypeError(f"gradcheck needs a portable_bp.MLP as its first argument; got {type(net).__name__}")
    if not (isinstance(eps, float) and eps > 0):
        raise ValueError(f"eps must be a positive float; got {eps!r}")
    X, Y = net.to_backend(X, Y)
    grads_w, grads_b = net.backprop(X, Y)
    weights, biases = net.params_numpy()
    analytic, numeric = [], []

    xp, spec = net.xp, net.spec

    def total_cost(ws, bs):  # Σ_x C_x, the quantity backprop differentiates
        zs, activations = forward(spec, ws, bs, X)
        return float(xp.sum(cost_per_sample(spec, zs, activations, Y)))

    for group, grads in (("w", grads_w), ("b", grads_b)):
        for l, g in enumerate(grads):
            if g is None:
                continue
            analytic.append(_backend.to_numpy(g).ravel())
            base = weights[l] if group == "w" else biases[l]
            num = np.empty(base.size)
            for i in range(base.size):
                costs = []
                for sign in (1.0, -1.0):
                    p = base.copy()
                    p.flat[i] += sign * eps
                    moved = xp.asarray(p, dtype=net.dtype, device=net.device)
                    ws = [moved if (group == "w" and k == l) else W for k, W in enumerate(net.weights)]
                    bs = [moved if (group == "b" and k == l) else b for k, b in enumerate(net.biases)]
                    costs.append(total_cost(ws, bs))
                num[i] = (costs[0] - costs[1]) / (2 * eps)
            numeric.append(num)
    ana, num = np.concatenate(analytic), np.concatenate(numeric)
    denom = np.linalg.norm(num) + np.linalg.norm(ana)
    return 0.0 if denom == 0 else float(np.linalg.norm(num - ana) / denom)
