"""Training data that is read a block at a time: NumPy memory maps, Dask arrays, and the host-side
data of data-parallel training.

This is the input layer (like ``_validation``), not the numerics.  A :class:`Stream` leaves X and Y
where they are -- a file mapped with ``np.load(path, mmap_mode="r")``, a Dask array, or a NumPy
array -- and reads ``rows`` samples at a time.  Each block is gathered on the host, checked as it
is read (shapes, NaN/inf, class labels) and handed to a ``place`` function that makes backend
arrays of it (the network's ``_asarray``, or a sharded ``jax.Array`` for ``fit(devices=...)``).
Peak memory is a few blocks, whatever the number of samples; with ``shuffle=True`` an epoch also
holds its permutation, one int64 per sample.

Shuffling draws the same ``rng.permutation(n)`` per epoch as the in-memory path and cuts it into the
same consecutive mini-batches, so a streamed fit visits the same batches in the same order and
ends with the same parameters.  A shuffled block is read in sorted index order (sequential on disk,
one pass over the touched Dask chunks) and put back into permutation order on the host.
"""

from __future__ import annotations

import math

import numpy as np

from . import _checks
from . import _validation as check


def is_dask_array(x):
    import array_api_compat

    return array_api_compat.is_dask_array(x)


def is_out_of_core(x):
    """True for arrays that must not be loaded whole: NumPy memory maps and Dask arrays."""
    return isinstance(x, np.memmap) or is_dask_array(x)


def read(arrays, index):
    """Rows ``index`` (a slice, or integers in any order) of each array as owned NumPy arrays.

    Dask arrays among them are computed together, in one graph.
    """
    order = None
    if not isinstance(index, slice):
        order = np.argsort(index, kind="stable")
        index = index[order]  # sorted: sequential on disk, each Dask chunk visited once
    blocks = [arr[index] for arr in arrays]
    lazy = [i for i, b in enumerate(blocks) if is_dask_array(b)]
    if lazy:
        import dask

        for i, block in zip(lazy, dask.compute(*(blocks[i] for i in lazy))):
            blocks[i] = block
    if order is None:
        return [np.array(b) for b in blocks]  # copies: a memmap slice would stay a view of the file
    back = np.argsort(order)  # from sorted order back to the order asked for
    return [np.asarray(b)[back] for b in blocks]


def _n_samples(x, name):
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) == 0:
        raise ValueError(f"{name} must be an array of samples, batch-first; got {type(x).__name__}")
    n = shape[0]
    if n is None or (isinstance(n, float) and math.isnan(n)):
        raise ValueError(
            f"{name} is a Dask array of unknown length (chunk sizes nan); call {name}.compute_chunk_sizes() first"
        )
    return int(n)


def check_inputs_meta(X, n_in, name="X"):
    """Shape and dtype checks of an out-of-core X from its metadata alone (nothing is read)."""
    n = _n_samples(X, name)
    dtype = np.dtype(X.dtype)
    if np.issubdtype(dtype, np.complexfloating) or not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise TypeError(f"{name} must be a real numeric array; got dtype {dtype}")
    if len(X.shape) != 2:
        raise ValueError(f"{name} must be 2-D (N samples, {n_in} features), batch-first; got shape {X.shape}")
    if X.shape[1] != n_in:
        raise ValueError(
            f"{name} has {X.shape[1]} features per sample but the network's input layer has {n_in}: "
            f"expected shape (N, {n_in}); got {X.shape}"
        )
    if n == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); need at least one sample")
    return n


class Stream:
    """X and Y read ``rows`` samples at a time, checked as read, placed on the backend by ``place``.

    ``place_batch`` makes the arrays of one training mini-batch; ``place_eval`` those of one
    evaluation piece (cost, accuracy).  Evaluation pieces have a multiple of ``multiple`` rows,
    except a last remainder smaller than ``multiple`` (for a mesh: sharded pieces and one small
    replicated one).

    ``local(m)`` (several processes on one mesh): the rows of an m-row piece that this process's
    devices hold, or None for all. Only those rows are read and checked; the others stay zero in the
    host block, and ``place_*`` never hands them to a device of this process.
    """

    def __init__(self, X, Y, *, n_in, n_out, output_activation, rows, place_batch, place_eval, multiple=1,
                 loss=None, dtype=None, local=None):
        if is_out_of_core(X):
            self.n = check_inputs_meta(X, n_in)
        else:  # an in-memory X (data-parallel training from host memory): check it all now
            X = check.inputs(X, n_in, dtype=dtype)
            self.n = X.shape[0]
        if is_out_of_core(Y):
            m = _n_samples(Y, "Y")
            if len(Y.shape) not in (1, 2) or (len(Y.shape) == 2 and Y.shape[1] != n_out):
                raise ValueError(f"Y must have shape (N, {n_out}) or (N,) class labels; got {Y.shape}")
        else:  # kept as given (labels stay labels: one-hot happens per block)
            Y = check.to_host(Y, "Y")
            m = Y.shape[0] if Y.ndim else 0
        if m != self.n:
            raise ValueError(f"X has {self.n} samples but Y has {m}: they must match")
        rows = _checks.integer("stream_rows", rows, 1)
        self.X, self.Y = X, Y
        self.n_in, self.n_out, self.output_activation, self.loss = n_in, n_out, output_activation, loss
        self.rows, self.multiple = rows, multiple
        self.place_batch, self.place_eval = place_batch, place_eval
        self.local = local or (lambda m: None)
        self.dtype = dtype  # the network's: values beyond its range are refused as they are read

    @property
    def shape(self):
        return (self.n, self.n_in)

    def _block(self, index):
        """Samples ``index`` of X and Y as checked NumPy arrays (X (k, n_in), Y (k, n_out))."""
        Xr, Yr = read((self.X, self.Y), index)
        try:
            Xr = check.inputs(Xr, self.n_in, dtype=self.dtype)
            Yr = check.targets(Yr, self.n_out, Xr.shape[0], self.output_activation, loss=self.loss, dtype=self.dtype)
        except ValueError as exc:
            where = (
                f"samples {index.start}..{index.stop - 1}"
                if isinstance(index, slice)
                else f"one of the {len(index)} shuffled samples {np.sort(index)[:8].tolist()}..."
            )
            raise check.DataError(f"{exc} (found in {where}, read from the out-of-core data)") from None
        return Xr, Yr

    def _local_block(self, start, stop, perm, pieces):
        """Rows start..stop-1 (of ``perm`` if given), cut into ``pieces`` [(a, b)], read where this process
        needs them (``local``): every row with one process; with several, the others are left zero."""
        parts = [(a, self.local(b - a)) for a, b in pieces]
        if all(rows is None for _, rows in parts):
            return self._block(slice(start, stop) if perm is None else perm[start:stop])
        need = np.concatenate([np.arange(a, b) if rows is None else a + rows
                               for (a, rows), (_, b) in zip(parts, pieces)])
        Xr, Yr = self._block(start + need if perm is None else perm[start:stop][need])
        Xf = np.zeros((stop - start, *Xr.shape[1:]), dtype=Xr.dtype)
        Yf = np.zeros((stop - start, *Yr.shape[1:]), dtype=Yr.dtype)
        Xf[need], Yf[need] = Xr, Yr  # host-side scratch arrays, before any backend array exists
        return Xf, Yf

    def batches(self, batch_size, rng=None):
        """One epoch of mini-batches (placed backend arrays), in the order of ``rng.permutation``."""
        perm = None if rng is None else rng.permutation(self.n)
        per_read = max(1, self.rows // batch_size) * batch_size  # whole batches per read
        for start in range(0, self.n, per_read):
            stop = min(start + per_read, self.n)
            cuts = [(k, min(k + batch_size, stop - start)) for k in range(0, stop - start, batch_size)]
            Xr, Yr = self._local_block(start, stop, perm, cuts)
            for k in range(0, stop - start, batch_size):
                yield self.place_batch(Xr[k : k + batch_size]), self.place_batch(Yr[k : k + batch_size])

    def pieces(self):
        """The data in order, as placed ``(X_c, Y_c, n_c)`` pieces for evaluation."""
        m = self.multiple
        rows = max(m, self.rows - self.rows % m)
        for start in range(0, self.n, rows):
            stop = min(start + rows, self.n)
            cut = (stop - start) - (stop - start) % m
            cuts = [(a, b) for a, b in ((0, cut), (cut, stop - start)) if b > a]
            Xr, Yr = self._local_block(start, stop, None, cuts)
            for a, b in cuts:
                yield self.place_eval(Xr[a:b]), self.place_eval(Yr[a:b]), b - a

    def means(self, per_piece):
        """Means over all samples of per-sample statistics, from ``per_piece(X_c, Y_c)`` piece means."""
        totals = None
        for Xc, Yc, k in self.pieces():
            weighted = [float(m) * k for m in per_piece(Xc, Yc)]
            totals = weighted if totals is None else [t + w for t, w in zip(totals, weighted)]
        return tuple(t / self.n for t in totals)


def predict_dask(X, predict_block, n_out, dtype):
    """A lazy Dask array of predictions: ``predict_block`` runs on each block of rows of X."""
    X = X.rechunk({1: -1})  # every block holds whole samples

    def block(b):
        if b.shape[0] == 0:
            return np.empty((0, n_out), dtype=dtype)
        return np.asarray(predict_block(np.asarray(b)), dtype=dtype)

    return X.map_blocks(block, chunks=(X.chunks[0], (n_out,)), dtype=dtype, meta=np.empty((0, 0), dtype=dtype))


def predict_blocks(X, predict_block, rows):
    """Predictions for an out-of-core NumPy X, computed ``rows`` samples at a time (a list of blocks)."""
    n = X.shape[0]
    return [predict_block(read((X,), slice(k, min(k + rows, n)))[0]) for k in range(0, n, rows)]
