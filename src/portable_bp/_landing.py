"""Where an unpickled network lands when the machine lacks the backend or the device it was pickled on.

A pickle holds the parameters (and optimizer state) as NumPy arrays, so it can be rebuilt anywhere;
what it names — a backend (cupy) and a device (torch's "cuda:0", a JAX GPU) — may not exist on the
machine that reads it (skorch's users meet this as "a model pickled on a GPU will not load on a
CPU"). The choice made here: land, and say so.

* backend missing: the network is rebuilt on ``$PORTABLE_BP_BACKEND`` (if set and available here),
  else NumPy, with a :class:`PickleFallbackWarning` naming the backend and why it is missing;
* backend here, device not (no GPU, fewer GPUs): on the backend's default device, with the warning.

The numbers are the same either way (every backend computes the same network). ``net.to(backend,
device)`` moves it back on a machine that has them; ``warnings.simplefilter("error",
portable_bp.PickleFallbackWarning)`` turns the landing into an error for those who want one.
Checkpoints (``net.save`` / ``pbp.load(path, backend=...)``) never had the problem: ``load``
builds the network on the backend it is given (default ``$PORTABLE_BP_BACKEND`` or numpy), not the
one it was saved from.
"""

from __future__ import annotations

import os
import warnings

from . import _backend


class PickleFallbackWarning(UserWarning):
    """An unpickled network (or estimator) was rebuilt on another backend or device than the one it
    was pickled on, which this machine lacks."""

    __module__ = "portable_bp"


def _fallback_backend():
    chosen = os.environ.get(_backend.ENV_VAR, "").strip().lower().replace("-", "_")
    if chosen in _backend.BACKENDS and _backend.unavailable_reason(chosen) is None:
        return chosen
    return "numpy"


def landing(backend, device, what="network", stacklevel=3):
    """``(backend, device)`` to rebuild a pickled network on here, from the backend name and the
    device name (or token) it was pickled with; warns when either is not what the pickle named."""
    reason = (_backend.unavailable_reason(backend) if backend in _backend.BACKENDS
              else f"portable_bp {_version()} knows no backend of that name")
    if reason is not None:
        target = _fallback_backend()
        where = "" if device is None else f" (device {device})"
        warnings.warn(
            f"this {what} was pickled on backend {backend!r}{where}, which is not available here ({reason}); "
            f"it has been unpickled on {target!r} instead, with the same parameters. Set "
            f"{_backend.ENV_VAR} to choose where such pickles land, and use .to({backend!r}) to move it back "
            f"where {backend!r} is installed"
            + (f" (est.net_ = est.net_.to({backend!r}); est.set_params(backend=...) before fitting again here)"
               if what == "estimator" else ""), PickleFallbackWarning, stacklevel=stacklevel)
        return target, None
    if device is None:
        return backend, None
    try:
        return backend, _backend.device_from_name(backend, device)
    except ValueError as exc:
        warnings.warn(
            f"this {what} was pickled on {backend!r} device {device!r}, which this machine lacks ({exc}); it has "
            f"been unpickled on {backend!r}'s default device instead, with the same parameters. Use "
            f".to({backend!r}, device=...) to move it back where that device exists", PickleFallbackWarning,
            stacklevel=stacklevel)
        return backend, None


def _version():
    from . import __version__

    return __version__
