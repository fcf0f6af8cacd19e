"""What every network of one kind shares: its compiled functions.

A kind is a spec (namespace, activations, cost, kernel) on a backend and device; a run adds the
optimizer's configuration, L2 and dropout. Networks of one kind get the same function objects, so on
JAX each compiles once per shape for all of them (a second ``MLPClassifier`` on the same data trains
without compiling).
"""

from __future__ import annotations

import functools
import json
from types import SimpleNamespace

from . import _backend, train
from .backprop import all_finite, backprop, forward, sgd_step

#: the runs made so far, by kind: (Run, optimizer) — the optimizer kept alive for an identity key
_RUNS = {}
_MAX_RUNS = 32


def functions(spec, backend, device):
    """:func:`_functions` of this kind, shared — or the network's own when ``device`` cannot be hashed."""
    try:
        return _functions(spec, backend, device)
    except TypeError:  # a device object that cannot be hashed
        return _functions.__wrapped__(spec, backend, device)


@functools.lru_cache(maxsize=64)
def _functions(spec, backend, device):
    """The compiled functions of every network with this spec on this backend and device: gradients,
    one-pass metrics, the finiteness check, and update()'s SGD step with its validity flag (and, on JAX,
    forward/backprop fused with their input checks)."""
    xp, jit = spec.xp, spec.kernel.jittable
    compiled = lambda fn: _backend.jit(fn, backend) if jit else fn
    grads = lambda ws, bs, X, Y: backprop(spec, ws, bs, X, Y)
    params = lambda ws, bs: [*ws, *[b for b in bs if b is not None]]
    in_range = lambda Y: (xp.all((Y >= 0) & (Y <= 1)) if spec.loss == "cross_entropy"
                          else xp.asarray(True, device=device))
    # X and Y are valid: finite (checked together with any further arrays), in [0, 1] for cross-entropy
    valid = lambda X, Y, *more: xp.logical_and(all_finite(xp, X, Y, *more), in_range(Y))

    def checked_step(ws, bs, X, Y, lr):
        """update()'s step and ONE flag: the inputs were valid and the new parameters are finite."""
        new = sgd_step(spec, ws, bs, X, Y, lr)
        return new, valid(X, Y, *params(*new))

    checked = None
    if jit and _backend.has_jit(backend):
        checked = {"forward": compiled(lambda ws, bs, X: (forward(spec, ws, bs, X), all_finite(xp, X))),
                   "grads": compiled(lambda ws, bs, X, Y: (grads(ws, bs, X, Y), valid(X, Y)))}
    return SimpleNamespace(grads=compiled(grads), metrics=train.make_metrics(spec, backend),
                           finite=train.make_finite(spec, backend), checked_step=compiled(checked_step),
                           checked=checked)


def run_for(spec, backend, device, dtype_name, opt, l2, dropout, metrics, finite, asarray, record=False):
    """The compiled step, metrics and finiteness check of a run (``train.steps.Run``), made once per
    kind of network, optimizer configuration, L2 (on or off) and dropout ((width, rate) per hidden
    layer, or None) — and shared by every network of that kind. ``metrics``/``finite`` are the kind's
    own (:func:`functions`), ``asarray`` places dropout's draws; ``record``: steps that also give
    their batch's record for a running epoch cost."""
    try:
        what = json.dumps(opt.config(), sort_keys=True)
    except TypeError:  # a schedule of the user's: known by identity (kept alive in the cache below)
        what = (id(opt.lr), opt.name, json.dumps(opt.hyper, sort_keys=True, default=id))  # links: by identity
    key = (spec, backend, device, dtype_name, what, bool(l2), dropout, bool(record))
    try:
        hash(key)
    except TypeError:  # an unhashable device: key it by identity
        key = (*key[:2], id(device), *key[3:])
    if key not in _RUNS:
        if len(_RUNS) >= _MAX_RUNS:
            _RUNS.pop(next(iter(_RUNS)))
        if l2:
            metrics = train.make_metrics(spec, backend, l2=True)
        _RUNS[key] = (train.make_run(spec, opt, l2, backend, metrics, finite, dropout, asarray, record), opt)
    return _RUNS[key][0]
