"""``portable-bp check``: one small network on every backend, compared with numpy."""

from __future__ import annotations

import sys

import numpy as np

from .. import _backend
from ..gradcheck import gradcheck
from ..mlp import MLP

TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def _max_rel_dev(a, b):
    """max |a - b| / max(|b|, tiny), over a list of arrays."""
    worst = 0.0
    for x, y in zip(a, b):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        scale = max(np.max(np.abs(y)), np.finfo(np.float64).tiny)
        worst = max(worst, float(np.max(np.abs(x - y)) / scale))
    return worst


def check_network(backend, dtype, kernel="matmul", seed=0):
    """Outputs and gradients of a fixed small network (softmax + cross-entropy) as NumPy arrays."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((16, 3))
    y = rng.integers(0, 3, size=16)
    net = MLP([3, 5, 4, 3], activation="tanh", output_activation="softmax", loss="cross_entropy",
              backend=backend, dtype=dtype, kernel=kernel, seed=seed)
    gw, gb = net.backprop(X, y)
    arrays = [net.predict(X)] + list(gw) + list(gb)
    return net, X, y, [_backend.to_numpy(a) for a in arrays]


def check(args):
    """The table of every backend (``--backends``: those named) against numpy; a backend that is not
    available here is a "skipped" row with the reason and its install command. Exit code 1 when one
    disagrees, or when one named in --backends could not be checked."""
    names = list(dict.fromkeys(args.backends or _backend.BACKENDS))
    skipped = {name: _backend.unavailable_reason(name) for name in names}
    skipped = {name: reason for name, reason in skipped.items() if reason is not None}
    rows, ok = [], True
    for dtype in _backend.DTYPES:
        _, _, _, reference = check_network("numpy", dtype)
        for name in names:
            if name in skipped:
                continue
            net, X, y, arrays = check_network(name, dtype)
            dev = _max_rel_dev(arrays, reference)
            grad_err = gradcheck(net, X, y) if dtype == "float64" else None
            good = dev <= TOLERANCE[dtype] and (grad_err is None or grad_err < 1e-7)
            ok &= good
            device = _backend.device_of(net.weights[0])
            rows.append((name, device, dtype, f"{dev:.2e}", "-" if grad_err is None else f"{grad_err:.2e}",
                         "ok" if good else "DISAGREES"))
    for name, reason in skipped.items():
        rows.append((name, "-", "-", "-", "-", f"skipped: {reason} ({_backend.BACKENDS[name][0]})"))
    header = ("backend", "device", "dtype", "max rel. dev. vs numpy", "gradcheck", "verdict")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header) - 1)] + [0]
    for r in [header] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    print(f"tolerances: float64 {TOLERANCE['float64']:g}, float32 {TOLERANCE['float32']:g}; gradcheck < 1e-7")
    if args.backends and skipped:
        print(f"not checked, although named in --backends: {', '.join(skipped)}", file=sys.stderr)
        ok = False
    return 0 if ok else 1
