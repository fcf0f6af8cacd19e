"""One network's inputs: X and Y checked at the public API and made arrays of its namespace, dtype
and device. The checks themselves (what is refused, with which message) are ``_validation``'s."""

from __future__ import annotations

from . import _backend
from . import _validation as check


class Inputs:
    """``X``, ``Y`` and ``XY`` for a network of widths ``sizes`` (arrays of namespace ``xp``, ``dtype``
    on ``device``): backend arrays that already fit are checked in place; anything else goes through
    the host checks and is converted."""

    def __init__(self, xp, backend, dtype, device, sizes, output_activation, loss):
        self.xp, self.backend, self.dtype, self.device = xp, backend, dtype, device
        self.dtype_name = _backend.dtype_name(dtype)
        self.n_in, self.n_out, self.output_activation, self.loss = sizes[0], sizes[-1], output_activation, loss
        self.device_key = _backend.device_key(self.asarray(0.0))

    def asarray(self, arr):
        return self.xp.asarray(_backend.for_backend(arr, self.backend), dtype=self.dtype, device=self.device)

    def _fits(self, X, width):
        """A backend array of our namespace, dtype and device with the right shape: check it in place."""
        return (
            _backend.same_namespace(X, self.xp)
            and X.dtype == self.dtype
            and (self.backend != "torch" or _backend.is_strided(X))  # a sparse tensor: refused by the host checks
            and _backend.device_key(X) == self.device_key  # another device: converted via the host
            and X.ndim == 2
            and X.shape[-1] == width
            and X.shape[0] > 0
        )

    def X(self, X, name="X", finite=True):
        if self._fits(X, self.n_in):
            if finite and not self._true(self._finite(X)):
                self._refuse_X(X, name)
            return _backend.detached(X)
        return self.asarray(check.inputs(X, self.n_in, name, dtype=self.dtype_name))

    def Y(self, Y, n_samples, name="Y", finite=True):
        if self._fits(Y, self.n_out):
            self._check_rows(Y, n_samples, name)
            if finite and not self._true(self._Y_ok(Y)):  # one host synchronisation
                self._refuse_Y(Y, n_samples, name)
            return _backend.detached(Y)
        return self.asarray(self._targets(Y, n_samples, name))

    def XY(self, X, Y, finite=True, names=("X", "Y")):
        if finite and self._fits(X, self.n_in) and self._fits(Y, self.n_out):
            self._check_rows(Y, X.shape[0], names[1])
            if not self._true(self.xp.logical_and(self._finite(X), self._Y_ok(Y))):  # ONE host read for both
                if not self._true(self._finite(X)):
                    self._refuse_X(X, names[0])
                self._refuse_Y(Y, X.shape[0], names[1])
            return _backend.detached(X), _backend.detached(Y)
        X = self.X(X, names[0], finite=finite)
        return X, self.Y(Y, X.shape[0], names[1], finite=finite)

    # -- the checks of arrays that already fit ---------------------------------------------------
    def _finite(self, A):
        """A 0-d bool array, True when every element of ``A`` is finite, from one reduction: a sum is
        finite only if every term is (NaN and ±inf propagate), without an N×d array of flags.
        A sum that overflows although every value is finite is looked at again, element by element."""
        with _backend.quiet_floating_point(self.backend):  # that overflow is no news for the user
            return self.xp.isfinite(self.xp.sum(A))

    def _Y_ok(self, Y):
        return self.xp.logical_and(self._finite(Y), self.targets_in_range(Y))

    def _true(self, flag):
        return _backend.to_bool(flag, self.backend)

    def _refuse_X(self, X, name):
        """The quick test failed: the exact one decides (a sum of huge finite values overflows)."""
        if not self._true(self.xp.all(self.xp.isfinite(X))):
            raise ValueError(f"{name} contains NaN or infinity; clean or impute it first")

    def _refuse_Y(self, Y, n_samples, name):
        """The quick test failed: the host checks name the problem (or pass an overflowing sum)."""
        if not self._true(self.xp.all(self.xp.isfinite(Y))) or not self._true(self.targets_in_range(Y)):
            self._targets(_backend.to_numpy(Y), n_samples, name)

    def _check_rows(self, Y, n_samples, name):
        if Y.shape[0] != n_samples:
            raise ValueError(f"X has {n_samples} samples but {name} has {Y.shape[0]}: they must match")

    def _targets(self, Y, n_samples, name):
        return check.targets(Y, self.n_out, n_samples, self.output_activation, name, self.loss, dtype=self.dtype_name)

    def targets_in_range(self, Y):
        """A 0-d boolean array: cross-entropy targets lie in [0, 1], Poisson targets are ≥ 0 (always
        True for other costs)."""
        if self.loss == "poisson":
            return self.xp.all(Y >= 0)
        if self.loss != "cross_entropy":
            return self.xp.asarray(True, device=self.device)
        return self.xp.all((Y >= 0) & (Y <= 1))
