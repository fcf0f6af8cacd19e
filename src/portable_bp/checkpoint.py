"""Checkpoints: ``net.save(path)`` and ``portable_bp.load(path)``.

The file is a plain ``.npz`` (a zip of ``.npy`` arrays, readable with ``numpy.load(path,
allow_pickle=False)`` and without portable_bp):

* ``W1`` … ``WL``: the weight matrices W^l, shape (n_l, n_{l-1}), in the network's dtype;
* ``b1`` … ``bL``: the biases b^l, shape (n_l, 1) (absent for a layer without bias);
* ``portable_bp_meta``: a 0-d unicode array holding a JSON object: ``format``
  (``"portable_bp.checkpoint"``), ``format_version``, ``library_version``, ``sizes``,
  ``activation``, ``output_activation``, ``loss``, ``kernel``, ``dtype``, ``bias`` (one bool per
  layer), ``backend`` (the backend it was saved from, for information), ``user`` (the
  ``metadata`` dict given to ``save``, JSON-serialisable) and, when the network has been trained,
  ``optimizer``: ``{"config": {"name", "lr", hyper-parameters...}, "slots": k}`` (a chain, ema or
  accumulate: its config nests the links', see ``optim.transforms``);
* with an optimizer (format version 2): ``opt_step`` (steps taken) and ``opt_lr_scale`` (0-d),
  and ``opt{k}_W1`` …, ``opt{k}_b1`` … for each of its k state slots (momentum's velocity, Adam's
  two moments), shaped like the parameters. Format version 3: a slot may also be a 0-d array
  ``opt{k}`` (accumulate's count); which slot is which is the optimizer's own ``layout``, rebuilt
  from the config. Version-1 files (no optimizer) and version-2 files still load.

This module reads and writes plain arrays and JSON; ``MLP.save`` and ``portable_bp.load`` (in
``mlp.py``) turn a network into them and back.

Nothing is pickled, in either direction. Parameters are stored exactly (bit for bit) in their
dtype, so a round trip is exact within a dtype and across backends.

The write is atomic (``_atomic.write``): the data goes to a temporary file in the same directory,
is flushed and fsync'ed, and then renamed over ``path`` (``os.replace``), so a crash or an interrupt
mid-save leaves the previous file intact and no temporary file behind.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

from . import _atomic, _backend, optim
from .activations import ACTIVATIONS, DERIVATIVES
from .kernels import KERNELS
from .losses import LOSSES

FORMAT = "portable_bp.checkpoint"
#: Bumped whenever a reader of an older version could misread the file.
FORMAT_VERSION = 3
META_KEY = "portable_bp_meta"


class CheckpointError(ValueError):
    """A file that is not a readable portable_bp checkpoint (corrupt, truncated, foreign, or newer)."""


# -- writing ------------------------------------------------------------------------------------
def write(path, meta, weights, biases, *, optimizer=None, metadata=None):
    """Write a network to ``path`` atomically (see the module docstring). Returns the path written.

    ``meta`` describes the network (sizes, activation, output_activation, loss, kernel, dtype,
    backend); ``weights`` and ``biases`` are NumPy arrays (None for a layer without bias).
    ``optimizer`` is None or ``(optimizer, step, lr_scale, slots)`` with the state as NumPy arrays,
    ``slots`` a tuple of ``(weights, biases)``-shaped lists. ``path`` is used as given (no suffix is
    added; ``.npz`` is the convention); a symlink is followed: its target is replaced.
    ``metadata`` is an optional JSON-serialisable dict kept in the file (see :func:`read_metadata`).
    """
    from . import __version__

    path = _check_path(path)
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict (JSON-serialisable) or None; got {type(metadata).__name__}")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "library_version": __version__, **meta,
            "bias": [b is not None for b in biases], "user": metadata or {}}
    arrays = {f"W{l + 1}": W for l, W in enumerate(weights)}
    arrays.update({f"b{l + 1}": b for l, b in enumerate(biases) if b is not None})
    if optimizer is not None:
        opt, step, lr_scale, slots = optimizer
        meta["optimizer"] = {**_optimizer_config(opt, step), "slots": len(slots)}
        arrays.update({"opt_step": step, "opt_lr_scale": lr_scale})
        for k, slot in enumerate(slots):
            if not isinstance(slot, (list, tuple)):  # a "scalar" slot of the optimizer's layout
                arrays[f"opt{k}"] = slot
                continue
            ws, bs = slot
            arrays.update({f"opt{k}_W{l + 1}": W for l, W in enumerate(ws)})
            arrays.update({f"opt{k}_b{l + 1}": b for l, b in enumerate(bs) if b is not None})
    try:
        meta_text = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be JSON-serialisable (no NaN/inf, no objects): {exc}") from None
    arrays = {name: np.asarray(a, order="C") for name, a in arrays.items()}  # (ascontiguousarray makes 0-d 1-d)
    arrays[META_KEY] = np.array(meta_text)  # dtype '<U…': a string, not a pickled object
    _atomic.write(path, lambda f: np.savez(f, **arrays))
    return path


def _optimizer_config(opt, step):
    """``{"config": the optimizer's config}``; a schedule of the user's (a function, not JSON) is kept as
    the constant lr it had at the saved step, and ``"custom_schedule": true`` says so."""
    try:
        return {"config": opt.config()}
    except TypeError:
        return {"config": opt.with_lr(float(opt.lr(int(step)))).config(), "custom_schedule": True}


def save(net, path, *, metadata=None):
    """``net.save(path, metadata=...)``."""
    if not callable(getattr(net, "save", None)) or not hasattr(net, "params_numpy"):
        raise TypeError(f"save needs a portable_bp.MLP; got {type(net).__name__}")
    return net.save(path, metadata=metadata)


def _check_path(path):
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ValueError("path is empty")
    return path


# -- reading ------------------------------------------------------------------------------------
def _read(path):
    """(meta, weights, biases, optimizer) from a checkpoint file, all checked; raises CheckpointError."""
    path = _check_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}: the file does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory; give the checkpoint file (e.g. {path}/weights.npz)")
    with open(path, "rb") as f:  # I/O errors (permissions, ...) stay OSErrors
        data = f.read()

    def bad(why):
        return CheckpointError(f"{path} is not a readable portable_bp checkpoint: {why}")

    if len(data) == 0:
        raise bad("the file is empty")
    if not data.startswith(b"PK"):
        npy = data.startswith(b"\x93NUMPY")
        raise bad("it is not an .npz (zip) file" + (" but a single .npy array" if npy else ""))
    if not data.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # np.load would try it as a pickle
        raise bad(f"the archive is corrupt or truncated (it starts with 'PK' like a zip file, but its first "
                  f"bytes {data[:4]!r} are not a zip header)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}  # reads and CRC-checks every member
    except Exception as exc:  # the only work here is parsing bytes already in memory
        if "allow_pickle" in str(exc):
            raise bad("it holds pickled Python objects, which are never loaded (allow_pickle=False)") from None
        raise bad(f"the archive is corrupt or truncated ({type(exc).__name__}: {exc})") from None

    if META_KEY not in arrays:
        hint = ""
        if "W1" in arrays:  # the plain weights.npz of portable-bp train before checkpoints
            hint = "; for plain W1, b1, ... arrays use MLP.from_params([f['W1'], ...], [f['b1'], ...], ...)"
        raise bad(f"it has no {META_KEY!r} entry (entries: {sorted(arrays)[:8]}); it was not written by "
                  f"net.save{hint}")
    raw = arrays.pop(META_KEY)
    if raw.ndim != 0 or raw.dtype.kind != "U":
        raise bad(f"its {META_KEY!r} entry is not a string")
    try:
        meta = json.loads(str(raw[()]))
    except ValueError as exc:
        raise bad(f"its metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise bad(f"its metadata does not name the format {FORMAT!r}")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise bad(f"its format_version is {version!r}, not a positive integer")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer portable_bp (library {meta.get('library_version', '?')}, checkpoint "
            f"format version {version}); this portable_bp reads format versions up to {FORMAT_VERSION}. "
            f"Upgrade portable_bp to load it: pip install -U portable_bp"
        )
    try:
        sizes = [int(s) for s in meta["sizes"]]
        has_bias = [bool(b) for b in meta["bias"]]
        dtype = str(meta["dtype"])
        for key in ("activation", "output_activation", "loss", "kernel"):
            if not isinstance(meta[key], str):
                raise TypeError(f"{key} is not a string")
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"its metadata is incomplete ({type(exc).__name__}: {exc})") from None
    if len(sizes) < 2 or min(sizes) < 1 or len(has_bias) != len(sizes) - 1 or dtype not in _backend.DTYPES:
        raise bad(f"its metadata is inconsistent (sizes={sizes}, bias={has_bias}, dtype={dtype!r})")
    for key, table in (("activation", DERIVATIVES), ("output_activation", ACTIVATIONS), ("loss", LOSSES),
                       ("kernel", KERNELS)):
        if meta[key] not in table:
            raise bad(f"its {key} {meta[key]!r} is unknown to this portable_bp (known: {sorted(table)})")

    L = len(sizes) - 1
    expected = {f"W{l + 1}": (sizes[l + 1], sizes[l]) for l in range(L)}
    expected.update({f"b{l + 1}": (sizes[l + 1], 1) for l in range(L) if has_bias[l]})
    record = meta.get("optimizer")
    if record is not None:
        try:
            n_slots, config = int(record["slots"]), dict(record["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(f"its optimizer metadata is incomplete ({type(exc).__name__}: {exc})") from None
        try:
            opt = optim.from_config(config)
        except (TypeError, ValueError) as exc:
            raise bad(f"its optimizer {config!r} is not one this portable_bp knows ({exc})") from None
        layout = opt.layout if opt.layout is not None else ("params",) * n_slots  # the optimizer says what it keeps
        if len(layout) != n_slots:
            raise bad(f"its optimizer metadata says {n_slots} state slots, but {opt.name!r} keeps {len(layout)}")
        params_shapes = [(name, shape) for name, shape in expected.items() if name[0] in "Wb"]
        expected.update({"opt_step": (), "opt_lr_scale": ()})
        for k, kind in enumerate(layout):
            if kind == "scalar":
                expected[f"opt{k}"] = ()
            else:
                expected.update({f"opt{k}_{name}": shape for name, shape in params_shapes})
    if set(arrays) != set(expected):
        missing, extra = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
        raise bad(f"its arrays do not match sizes={sizes} (missing {missing}, unexpected {extra})")
    for name, shape in expected.items():
        a = arrays[name]
        if a.shape != shape:
            raise bad(f"{name} has shape {a.shape}, expected {shape} for sizes={sizes}")
        if a.dtype != np.dtype(dtype):
            raise bad(f"{name} has dtype {a.dtype}, expected {dtype}")
        if not np.isfinite(a).all():
            raise bad(f"{name} contains NaN or infinity; refusing to load broken parameters")
    tree = lambda prefix: ([arrays[f"{prefix}W{l + 1}"] for l in range(L)],
                           [arrays[f"{prefix}b{l + 1}"] if has_bias[l] else None for l in range(L)])
    weights, biases = tree("")
    optimizer = None
    if record is not None:
        slots = tuple(arrays[f"opt{k}"] if kind == "scalar" else tree(f"opt{k}_") for k, kind in enumerate(layout))
        optimizer = (opt, arrays["opt_step"], arrays["opt_lr_scale"], slots)
    return meta, weights, biases, optimizer


def read_metadata(path):
    """The checked metadata dict of a checkpoint (``meta["user"]`` is what ``save`` was given)."""
    return _read(path)[0]


def read(path):
    """``(meta, weights, biases, optimizer)`` of a checkpoint, all checked: NumPy arrays, and
    ``optimizer`` None or ``(optimizer, step, lr_scale, slots)`` (format version 2)."""
    return _read(path)
