"""MNIST, two ways: the standard 60k/10k split from LeCun's four IDX files, and network.py's
50k/10k/10k split from Nielsen's ``mnist.pkl.gz`` (``datasets.mnist`` / ``datasets.mnist_nielsen``).

Where the checksums come from (never invented):

* the four IDX files: the SHA-256 sums torchvision lists for them
  (``torchvision/prototype/datasets/_builtin/mnist.py``, ``MNIST._CHECKSUMS``), which several
  independent projects list too; the byte counts are those on LeCun's page. The downloads come
  from the mirrors torchvision and TensorFlow use (LeCun's own server now often refuses them).
* ``mnist.pkl.gz``: we found NO SHA-256 from a source we trust. (The widely listed MD5
  ``a02cd19f81d51c426d7ca14024243ce9`` is of deeplearning.net's copy, which we could not confirm is
  byte for byte the one in Nielsen's repository; a single third-party repository lists a SHA-256 we
  could not confirm either.) So this file is checked by its whole gzip stream (CRC and length:
  truncation and corruption are caught), by a restricted unpickler, and by its contents (three
  (images, labels) pairs, 784 columns of floats in [0, 1], labels 0–9); once a sum is confirmed it
  goes in :data:`NIELSEN` and is checked like the others.

The pickle is read with ``pickle.load(f, encoding="latin1")``, as network.py's readers must under
Python 3: the file was written by Python 2, whose ``str`` holds the arrays' raw bytes, and Python 3's
default ``encoding="ASCII"`` fails on them with ``UnicodeDecodeError: 'ascii' codec can't decode
byte 0x90 ...`` (the most frequent question in Nielsen's issue tracker). The unpickler only lets
through NumPy's array reconstruction (``ndarray``, ``dtype``, ``_reconstruct``): any other object in
the file is refused, so a tampered pickle cannot run code.
"""

from __future__ import annotations

import gzip
import pickle

import numpy as np

from . import _fetch

_IDX_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")

#: the four IDX files: SHA-256 from torchvision's MNIST source, byte counts from LeCun's page
IDX = {
    name: _fetch.Remote(urls=tuple(m + name for m in _IDX_MIRRORS), sha256=sha, size=size)
    for name, sha, size in [
        ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    ]
}
#: Nielsen's pickle (network.py's mnist_loader): no trusted SHA-256 known, see the module's docstring
NIELSEN = {
    "mnist.pkl.gz": _fetch.Remote(
        urls=("https://github.com/mnielsen/neural-networks-and-deep-learning/raw/master/data/mnist.pkl.gz",),
        sha256=None, why="no SHA-256 from a trusted source: checked by its gzip stream, unpickler and contents"),
}


def read_idx(path, kind):
    """One gzipped IDX file: images (N, rows·cols) float32 in [0, 1] (``kind="images"``) or labels (N,)
    int64. The header's magic number and sizes are checked against the bytes that follow."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, ndim = (2051, 3) if kind == "images" else (2049, 1)
    if len(data) < 4 + 4 * ndim or int.from_bytes(data[:4], "big") != magic:
        raise ValueError(f"not an IDX {kind} file (magic number {magic} expected)")
    dims = [int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"its header announces {dims} ({int(np.prod(dims))} bytes) but {body.size} follow")
    if kind == "images":
        return body.reshape(dims[0], dims[1] * dims[2]).astype(np.float32) / np.float32(255)
    if body.size and body.max() > 9:
        raise ValueError(f"labels go up to {body.max()}, not 0-9")
    return body.astype(np.int64)


def mnist(data_home=None, download=True):
    """The standard MNIST split from LeCun's four IDX files: ``((X_train, y_train), (X_test, y_test))``
    with X (60000, 784) and (10000, 784) float32 in [0, 1] (pixel / 255, rows of the 28×28 image one
    after the other) and y (N,) int64 labels 0–9.

    The files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``) are read from ``data_home``, else
    ``$PORTABLE_BP_DATA``, else ``~/.cache/portable_bp``; the missing ones are downloaded there
    (``download=False``: a FileNotFoundError naming them, the folder and where to get them), and
    every file is checked against its SHA-256 sum (a wrong or truncated one is removed, never used).
    """
    names = list(IDX)
    paths = _fetch.fetch(names, IDX, data_home=data_home, download=download, what="MNIST")
    arrays = []
    for name, path in zip(names, paths):
        try:
            arrays.append(read_idx(path, "images" if "images" in name else "labels"))
        except (ValueError, OSError, EOFError) as exc:
            _fetch.reject(path, str(exc))
    X_train, y_train, X_test, y_test = arrays
    for X, y, split in ((X_train, y_train, "train"), (X_test, y_test, "t10k")):
        if len(X) != len(y):
            raise _fetch.DataFileError(f"MNIST: {split} has {len(X)} images but {len(y)} labels")
    return (X_train, y_train), (X_test, y_test)


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that rebuilds NumPy arrays and nothing else (no other class, no function call)."""

    def find_class(self, module, name):
        if (module, name) in (("numpy", "ndarray"), ("numpy", "dtype")):
            return getattr(np, name)
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # NumPy < 2
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in MNIST's pickle (only NumPy arrays are)")


def read_nielsen(path):
    """Nielsen's ``mnist.pkl.gz``: (training, validation, test), each (X (N, 784) float32, y (N,) int64),
    read with ``encoding="latin1"`` by :class:`_ArraysOnly`; its structure is checked."""
    with gzip.open(path, "rb") as f:
        data = _ArraysOnly(f, encoding="latin1").load()
    if not (isinstance(data, tuple) and len(data) == 3 and all(isinstance(p, tuple) and len(p) == 2 for p in data)):
        raise ValueError("it does not hold network.py's three (images, labels) pairs")
    out = []
    for (X, y), split in zip(data, ("training", "validation", "test")):
        if not (isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] == 784 and X.dtype.kind == "f"):
            raise ValueError(f"its {split} images are not an (N, 784) float array")
        if not (isinstance(y, np.ndarray) and y.shape == (X.shape[0],) and y.dtype.kind in "iu"):
            raise ValueError(f"its {split} labels are not {X.shape[0]} integers")
        if X.size and not (np.all(np.isfinite(X)) and X.min() >= 0 and X.max() <= 1):
            raise ValueError(f"its {split} pixels are not in [0, 1]")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise ValueError(f"its {split} labels are not 0-9")
        out.append((X.astype(np.float32, copy=False), y.astype(np.int64)))
    return tuple(out)


def mnist_nielsen(data_home=None, download=True):
    """network.py's MNIST (Nielsen's ``mnist.pkl.gz``): ``((X_train, y_train), (X_val, y_val), (X_test,
    y_test))``, 50000 / 10000 / 10000 images — his split of the standard 60000 training images into
    training and validation, and the standard test set — as X (N, 784) float32 in [0, 1] and y (N,)
    int64 labels 0–9. (network.py's ``load_data_wrapper`` turns the same arrays into lists of (784, 1)
    columns and one-hot (10, 1) targets; ``MLP.fit`` takes the rows and the integer labels as they are.)

    ``mnist.pkl.gz`` is read from ``data_home``, else ``$PORTABLE_BP_DATA``, else
    ``~/.cache/portable_bp``, and downloaded from Nielsen's repository when missing (``download=False``:
    a FileNotFoundError naming the file, the folder and the URL). It is read with
    ``pickle.load(f, encoding="latin1")`` — without it Python 3 raises UnicodeDecodeError on this Python 2
    pickle — through an unpickler that only rebuilds NumPy arrays. No SHA-256 sum from a trusted source is
    known for this file, so it is checked by its gzip stream (truncation, corruption), its unpickler and
    its contents; a file that fails is removed, never used.
    """
    (path,) = _fetch.fetch(list(NIELSEN), NIELSEN, data_home=data_home, download=download, what="MNIST (Nielsen)")
    try:
        return read_nielsen(path)
    except (ValueError, OSError, EOFError, pickle.UnpicklingError, AttributeError, TypeError) as exc:
        _fetch.reject(path, f"{type(exc).__name__}: {exc}")
