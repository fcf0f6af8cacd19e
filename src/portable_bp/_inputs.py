"""One network's inputs: X and Y checked at the public API and made arrays of its namespace, dtype
and device. The checks themselves (what is refused, with which message) are ``_validation``'s."""

from __future__ import annotations

from . import _backend
from . import _validation as check


class Inputs:
    """``X``, ``Y`` and ``XY`` for a network of widths ``sizes`` (arrays of namespace ``xp``, ``dtype``
    on ``device``): backend arrays that already fit are checked in place; anything else goes through
    the host checks and is converted."""

    def __init__(self, xp, dtype, device, sizes, output_activation, loss):
        self.xp, self.dtype, self.device = xp, dtype, device
        self.dtype_name = _backend.dtype_name(dtype)
        self.n_in, self.n_out, self.output_activation, self.loss = sizes[0], sizes[-1], output_activation, loss
        self.device_key = _backend.device_key(self.asarray(0.0))

    def asarray(self, arr):
        return self.xp.asarray(arr, dtype=self.dtype, device=self.device)

    def _fits(self, X, width):
        """A backend array of our namespace, dtype and device with the right shape: check it in place."""
        return (
            _backend.same_namespace(X, self.xp)
            and X.dtype == self.dtype
            and _backend.device_key(X) == self.device_key  # another device: converted via the host
            and X.ndim == 2
            and X.shape[-1] == width
            and X.shape[0] > 0
        )

    def X(self, X, name="X", finite=True):
        if self._fits(X, self.n_in):
            if finite and not bool(self.xp.all(self.xp.isfinite(X))):
                raise ValueError(f"{name} contains NaN or infinity; clean or impute it first")
            return _backend.detached(X)
        return self.asarray(check.inputs(X, self.n_in, name, dtype=self.dtype_name))

    def Y(self, Y, n_samples, name="Y", finite=True):
        targets = lambda Y: check.targets(Y, self.n_out, n_samples, self.output_activation, name, self.loss,
                                          dtype=self.dtype_name)
        if self._fits(Y, self.n_out):
            if Y.shape[0] != n_samples:
                raise ValueError(f"X has {n_samples} samples but {name} has {Y.shape[0]}: they must match")
            if finite:
                ok = self.xp.logical_and(self.xp.all(self.xp.isfinite(Y)), self.targets_in_range(Y))
                if not bool(ok):  # one host synchronisation; the slow path names the problem
                    targets(_backend.to_numpy(Y))
            return _backend.detached(Y)
        return self.asarray(targets(Y))

    def XY(self, X, Y, finite=True, names=("X", "Y")):
        X = self.X(X, names[0], finite=finite)
        return X, self.Y(Y, X.shape[0], names[1], finite=finite)

    def targets_in_range(self, Y):
        """A 0-d boolean array: cross-entropy targets lie in [0, 1] (always True for other costs)."""
        if self.loss != "cross_entropy":
            return self.xp.asarray(True, device=self.device)
        return self.xp.all((Y >= 0) & (Y <= 1))
