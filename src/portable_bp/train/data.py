"""Data adapters: the training loop's one view of its data, whatever kind it is.

The kind of data is decided once, when the adapter is made (as Keras's ``get_data_adapter``
does); the loop then only calls

* ``groups(batch_size, rng)`` — one epoch of mini-batches (X_b, Y_b, w_b; w_b None without sample
  weights), in the order of ``rng.permutation(n)`` (or in order without ``rng``), the last batch
  shorter if n does not divide, as groups of stacked batches (k, m, ·) that ``Run.steps`` runs as
  one call each (one compiled call on JAX); ``batches(batch_size, rng)`` — the same mini-batches
  one at a time (the divergence replay);
* ``evaluate(metrics, params, l2)`` — the data set's [mean cost, accuracy] from one pass of
  ``metrics`` (see ``steps.make_metrics``), as a NumPy array: the one host synchronisation;
* ``place(tree)`` / ``home(tree)`` — put parameters or optimizer state where the batches are
  (replicated over a device mesh) and bring them back;
* ``n`` — the number of samples, and ``split(fraction)`` for ``validation_split``.

:class:`Arrays` holds X and Y as backend arrays; :class:`Streamed` reads them a block at a time
(NumPy memory maps, Dask arrays, and the host data of data-parallel training: ``_data.Stream``).
"""

from __future__ import annotations

import functools

import array_api_compat
import numpy as np

from .. import _backend

_same = lambda tree: tree


class Arrays:
    """X (N, n_in), Y (N, n_out) and optional per-sample weights w (N,) as backend arrays of the
    network's namespace, dtype and device (``device``: the network's, None for the backend's default:
    on JAX a default-device array stays uncommitted, so every step of an epoch hits one compiled
    version). Batches are ``(X_b, Y_b, w_b)``, w_b None without weights."""

    place = home = staticmethod(_same)

    def __init__(self, X, Y, device=None, w=None, backend=None):
        self.X, self.Y, self.w, self.device, self.backend = X, Y, w, device, backend
        self.n = X.shape[0]
        self._xp = array_api_compat.array_namespace(X)
        self._gather = _gatherer(backend)

    def _shuffled(self, rng):
        arrays = (self.X, self.Y, self.w)
        if rng is None:
            return arrays
        perm = self._xp.asarray(rng.permutation(self.n), device=self.device)
        return tuple(None if a is None else self._xp.take(a, perm, axis=0) for a in arrays)

    def batches(self, batch_size, rng=None):
        arrays, n = self._shuffled(rng), self.n
        for k in range(0, n, batch_size):
            stop = min(k + batch_size, n)  # the standard leaves out-of-bounds slice stops undefined
            yield tuple(None if a is None else a[k:stop, ...] for a in arrays)

    def groups(self, batch_size, rng=None):
        """The epoch's mini-batches stacked: (k, batch_size, ·) for the k full batches, then (1, r, ·)
        for a last partial batch of r samples: what ``Run.steps`` runs as one call each.

        Shuffled, each group is gathered straight from X, Y (and w) by its rows of the permutation:
        one compiled gather on JAX (eager take, slice and reshape there are three copies of X)."""
        k = self.n // batch_size
        full = k * batch_size
        if rng is not None:
            order = rng.permutation(self.n)
            parts = [order[:full].reshape(k, batch_size)] if k else []
            parts += [order[full:][None]] if full < self.n else []
            for rows in parts:
                yield self._gather((self.X, self.Y, self.w), self._xp.asarray(rows, device=self.device))
            return
        arrays, xp = (self.X, self.Y, self.w), self._xp
        if k:
            yield tuple(None if a is None else xp.reshape(a[:full, ...], (k, batch_size, *a.shape[1:]))
                        for a in arrays)
        if full < self.n:
            yield tuple(None if a is None else xp.expand_dims(a[full:, ...], axis=0) for a in arrays)

    def evaluate(self, metrics, params, l2=0.0):
        return _backend.to_numpy(metrics(params, self.X, self.Y, l2 / self.n, self.w))

    def split(self, fraction):
        """(train, validation): the last ``fraction`` of the samples held out, before shuffling (as Keras)."""
        n_val = int(round(fraction * self.n))
        if not (fraction < 1 and 1 <= n_val < self.n):
            raise ValueError(
                f"validation_split={fraction} must be in (0, 1) and leave at least one sample on each side; "
                f"with {self.n} samples it gives {n_val} for validation"
            )
        k, w, b = self.n - n_val, self.w, self.backend
        return (Arrays(self.X[:k, ...], self.Y[:k, ...], self.device, None if w is None else w[:k, ...], b),
                Arrays(self.X[k:, ...], self.Y[k:, ...], self.device, None if w is None else w[k:, ...], b))


def gather(arrays, rows):
    """The rows ``rows`` (a (k, m) integer array) of each array in the tuple ``arrays`` (None stays
    None), stacked as (k, m, ·): k mini-batches of m samples."""
    xp = array_api_compat.array_namespace(rows)
    flat = xp.reshape(rows, (-1,))
    return tuple(None if a is None else xp.reshape(xp.take(a, flat, axis=0), (*rows.shape, *a.shape[1:]))
                 for a in arrays)


@functools.cache
def _gatherer(backend):
    """``gather``, compiled where the backend compiles (one per backend: one compilation per shape)."""
    return _backend.jit(gather, backend)


class Streamed:
    """A ``_data.Stream``: read a block of rows at a time, checked as read; ``place``/``home`` move
    parameters to and from a device mesh (identity without one)."""

    def __init__(self, stream, place=_same, home=_same):
        self.stream, self.n = stream, stream.n
        self.place, self.home = place, home

    def batches(self, batch_size, rng=None):
        for Xb, Yb in self.stream.batches(batch_size, rng):
            yield Xb, Yb, None

    def groups(self, batch_size, rng=None):
        """Each mini-batch as a group of one, (1, m, ·), as it is read."""
        for Xb, Yb in self.stream.batches(batch_size, rng):
            xp = array_api_compat.array_namespace(Xb)
            yield xp.expand_dims(Xb, axis=0), xp.expand_dims(Yb, axis=0), None

    def evaluate(self, metrics, params, l2=0.0):
        total = None
        for Xc, Yc, k in self.stream.pieces():
            part = _backend.to_numpy(metrics(params, Xc, Yc, l2 / self.n)).astype(np.float64) * k
            total = part if total is None else total + part
        return total / self.n

    def split(self, fraction):
        raise ValueError("validation_split needs X and Y in memory; for streamed (memory-mapped, Dask or "
                         "multi-device) data pass validation_data=(X_val, Y_val)")
