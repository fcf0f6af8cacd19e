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
* with an optimizer (format version 2 and later): ``opt_step`` (steps taken) and ``opt_lr_scale`` (0-d),
  and ``opt{k}_W1`` …, ``opt{k}_b1`` … for each of its k state slots (momentum's velocity, Adam's
  two moments), shaped like the parameters. Format version 3: a slot may also be a 0-d array
  ``opt{k}`` (accumulate's count); which slot is which is the optimizer's own ``layout``, rebuilt
  from the config. Version-1 files (no optimizer) and version-2 files still load.

This module reads and writes plain arrays and JSON; ``MLP.save`` and ``portable_bp.load`` (in
``mlp.py``) turn a network into them and back.

Nothing is pickled, in either direction. Parameters are stored exactly (bit for bit) in their
dtype, so a round trip is exact within a dtype and across backends.

Reading is bounded (``_read``, ``_npz``): regular files only; the JSON metadata limited in size
(``MAX_METADATA_CHARS``) and depth (``MAX_METADATA_DEPTH``) and every field checked before any array
is allocated; each array's zip entry and ``.npy`` header checked against the declared shape and
dtype before its data are decompressed. Every refusal is a :class:`CheckpointError` naming the file
(and the field). ``write`` runs the same checks on what it is about to write and refuses (nothing
written) what ``load`` would refuse: every file ``save`` writes loads.

The write is atomic (``_atomic.write``): the data goes to a temporary file in the same directory,
is flushed and fsync'ed, and then renamed over ``path`` (``os.replace``), so a crash or an interrupt
mid-save leaves the previous file intact and no temporary file behind.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from . import _atomic, _backend, _npz, _validation, optim
from .activations import ACTIVATIONS, DERIVATIVES
from .kernels import KERNELS
from .losses import CROSS_ENTROPY_OUTPUTS, LOSSES

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
    _check_written(path, meta_text, arrays)  # a file load would refuse is never written
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


# -- checking -----------------------------------------------------------------------------------
# What ``load`` accepts, and so what ``write`` checks before it writes anything (a file ``save`` wrote
# always loads). Every field of the metadata is checked here, before any array is allocated.

#: the most characters of JSON metadata read (64 MiB as the .npy's UTF-32)
MAX_METADATA_CHARS = 1 << 24
#: the deepest nesting of the JSON metadata (the top-level object is level 1)
MAX_METADATA_DEPTH = 64
#: the widest layer a checkpoint may declare
MAX_WIDTH = 2**31 - 1


class _NoConstant(ValueError):
    pass


def _no_constant(name):
    raise _NoConstant(f"it holds {name}, which save never writes")


def _depth(obj):
    """The nesting depth of a JSON value (iterative: no recursion on crafted input)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        value, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_METADATA_DEPTH:
            return d
        if isinstance(value, dict):
            stack.extend((v, d + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, d + 1) for v in value)
    return deepest


def _parse_metadata(text, bad):
    if len(text) > MAX_METADATA_CHARS:
        raise bad(f"its metadata is {len(text)} characters long, more than the {MAX_METADATA_CHARS} allowed")
    try:
        meta = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise bad(f"its metadata nests deeper than {MAX_METADATA_DEPTH} levels") from None
    except _NoConstant as exc:
        raise bad(f"its metadata is not valid: {exc}") from None
    except ValueError as exc:
        raise bad(f"its metadata is not valid JSON ({str(exc)[:200]})") from None
    if _depth(meta) > MAX_METADATA_DEPTH:
        raise bad(f"its metadata nests deeper than {MAX_METADATA_DEPTH} levels")
    return meta


def _short(value, limit=80):
    if isinstance(value, (list, dict)) and len(value) > 16:  # never the repr of a crafted million-entry list
        head = value[:16] if isinstance(value, list) else dict(list(value.items())[:16])
        return _short(head, limit)[:-1] + ", ...]" if isinstance(value, list) else _short(head, limit)
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


class _Layout:
    """A checkpoint's metadata, every field checked (``bad(why)`` makes the error): sizes, bias,
    dtype, names, dropout, user, optimizer; and the arrays it declares (:meth:`expected`)."""

    def __init__(self, meta, bad, n_members):
        def field(name, why):
            return bad(f"its metadata field {name!r} {why}")

        self.meta = meta
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise bad(f"its metadata does not name the format {FORMAT!r}")
        version = meta.get("format_version")
        if not _integer(version) or version < 1:
            raise bad(f"its format_version is {_short(version)}, not a positive integer")
        if version > FORMAT_VERSION:
            raise CheckpointError(
                f"{bad.path} was written by a newer portable_bp (library {_short(meta.get('library_version', '?'))}, "
                f"checkpoint format version {version}); this portable_bp reads format versions up to "
                f"{FORMAT_VERSION}. Upgrade portable_bp to load it: pip install -U portable_bp")
        for key in ("sizes", "bias", "dtype", "activation", "output_activation", "loss", "kernel"):
            if key not in meta:
                raise bad(f"its metadata is incomplete (KeyError: the field {key!r} is missing)")
        if "library_version" in meta and not isinstance(meta["library_version"], str):
            raise field("library_version", f"is {_short(meta['library_version'])}, not a string")
        for key in ("activation", "output_activation", "loss", "kernel", "dtype"):
            if not isinstance(meta[key], str):
                raise bad(f"its metadata is incomplete (TypeError: {key} is {_short(meta[key])}, not a string)")
        sizes, has_bias, dtype = meta["sizes"], meta["bias"], meta["dtype"]
        if not isinstance(sizes, list) or not all(_integer(s) for s in sizes):
            raise field("sizes", f"is {_short(sizes)}, not a list of integers")
        if not isinstance(has_bias, list) or not all(isinstance(b, bool) for b in has_bias):
            raise field("bias", f"is {_short(has_bias)}, not a list of true/false (one per layer)")
        if (len(sizes) < 2 or not all(1 <= s <= MAX_WIDTH for s in sizes) or len(has_bias) != len(sizes) - 1
                or dtype not in _backend.DTYPES):
            raise bad(f"its metadata is inconsistent (sizes={_short(sizes)}, bias={_short(has_bias)}, "
                      f"dtype={_short(dtype)}): sizes needs 2 or more widths in [1, {MAX_WIDTH}], bias one entry "
                      f"per layer, dtype one of {list(_backend.DTYPES)}")
        L = len(sizes) - 1
        if L > n_members:  # each layer's W is a member: no more layers than the archive holds arrays
            raise field("sizes", f"declares {L} layers but the archive holds {n_members} arrays")
        for key, table in (("activation", DERIVATIVES), ("output_activation", ACTIVATIONS), ("loss", LOSSES),
                           ("kernel", KERNELS)):
            if meta[key] not in table:
                raise bad(f"its {key} {_short(meta[key])} is unknown to this portable_bp (known: {sorted(table)})")
        if meta["loss"] == "cross_entropy" and meta["output_activation"] not in CROSS_ENTROPY_OUTPUTS:
            raise field("output_activation", f"is {meta['output_activation']!r}, but loss 'cross_entropy' needs "
                        f"one of {sorted(CROSS_ENTROPY_OUTPUTS)}")
        if "backend" in meta and meta["backend"] is not None and not isinstance(meta["backend"], str):
            raise field("backend", f"is {_short(meta['backend'])}, not a string")
        if not isinstance(meta.get("user", {}), dict):
            raise field("user", f"is {_short(meta['user'])}, not a JSON object")
        self.dropout = None
        if meta.get("dropout") is not None:
            try:
                self.dropout = list(_validation.dropout(meta["dropout"], L - 1))
            except (TypeError, ValueError) as exc:
                raise field("dropout", f"is {_short(meta['dropout'])}: {exc}") from None
        self.sizes, self.has_bias, self.dtype, self.L = sizes, has_bias, dtype, L
        self.optimizer, self.n_slots, self.kinds = None, 0, ()
        record = meta.get("optimizer")
        if record is not None:
            if version < 2:
                raise field("optimizer", "is there, but format version 1 holds no optimizer")
            if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
                raise bad(f"its optimizer metadata is incomplete (KeyError: 'config' is {_short(record)})")
            n_slots = record.get("slots")
            if not _integer(n_slots) or n_slots < 0:
                raise field("optimizer.slots", f"is {_short(n_slots)}, not a non-negative integer")
            if "custom_schedule" in record and not isinstance(record["custom_schedule"], bool):
                raise field("optimizer.custom_schedule", f"is {_short(record['custom_schedule'])}, not true/false")
            per_tree = L + sum(has_bias)
            if n_slots > n_members:  # each slot needs at least one member: refused at once
                raise field("optimizer.slots", f"is {n_slots}, more than the archive's {n_members} arrays can hold "
                            f"(one or {per_tree} per slot)")
            config = record["config"]
            try:
                opt = optim.from_config(config)
            except (TypeError, ValueError, OverflowError, KeyError, AttributeError, RecursionError) as exc:
                raise bad(f"its optimizer {_short(config, 200)} is not one this portable_bp knows "
                          f"({type(exc).__name__}: {str(exc)[:200]})") from None
            try:
                kinds = slot_layout(opt)
            except TypeError as exc:
                raise bad(f"its optimizer {_short(config, 200)} keeps a state a checkpoint cannot hold "
                          f"({exc})") from None
            wanted = len(kinds)
            if n_slots != wanted:
                raise field("optimizer.slots", f"is {n_slots}, but a {opt.name!r} optimizer keeps {wanted} state "
                            f"slot{'s' if wanted != 1 else ''}")
            self.optimizer, self.n_slots, self.kinds = opt, n_slots, kinds
            if sum(per_tree if kind == "params" else 1 for kind in kinds) > n_members:
                raise field("optimizer.slots", f"declare more arrays than the archive's {n_members}")

    def params_names(self, prefix=""):
        return ([f"{prefix}W{l + 1}" for l in range(self.L)]
                + [f"{prefix}b{l + 1}" for l in range(self.L) if self.has_bias[l]])

    def expected(self):
        """``{array name: shape}`` of every array the metadata declares, in reading order."""
        sizes, L = self.sizes, self.L
        shapes = {f"W{l + 1}": (sizes[l + 1], sizes[l]) for l in range(L)}
        shapes.update({f"b{l + 1}": (sizes[l + 1], 1) for l in range(L) if self.has_bias[l]})
        out = dict(shapes)
        if self.optimizer is not None:
            out.update({"opt_step": (), "opt_lr_scale": ()})
            for k, kind in enumerate(self.kinds):
                if kind == "scalar":
                    out[f"opt{k}"] = ()
                else:
                    out.update({f"opt{k}_{name}": shape for name, shape in shapes.items()})
        return out

    def n_arrays(self):
        per_tree = self.L + sum(self.has_bias)
        slots = sum(per_tree if kind == "params" else 1 for kind in self.kinds)
        return per_tree + slots + (2 if self.optimizer is not None else 0)

    def state_names(self):
        """The names of the optimizer state's arrays, slot by slot."""
        return [n for k, kind in enumerate(self.kinds)
                for n in ([f"opt{k}"] if kind == "scalar" else self.params_names(f"opt{k}_"))]


def slot_layout(opt):
    """What each of ``opt``'s state slots is, ``"params"`` (a (weights, biases) tree shaped like the
    parameters) or ``"scalar"`` (a 0-d array): the optimizer's own ``layout`` where it has one, else
    read off its ``init`` on a tiny network. A checkpoint's ``optimizer.slots`` must count them."""
    if getattr(opt, "layout", None) is not None:
        kinds = tuple(opt.layout)
        if not all(kind in ("params", "scalar") for kind in kinds):
            raise TypeError(f"the {opt.name!r} optimizer's layout {kinds!r} names kinds other than 'params'/'scalar'")
        return kinds
    tiny = ([np.zeros((1, 1))], [np.zeros((1, 1))])
    state = opt.init(tiny)
    slots = tuple(state.slots)
    for slot in slots:
        if not (isinstance(slot, (list, tuple)) and len(slot) == 2
                and all(isinstance(part, list) and len(part) == 1 for part in slot)):
            raise TypeError(f"the {opt.name!r} optimizer's state slots are not (weights, biases) trees shaped like "
                            "the parameters; a checkpoint cannot hold them")
    return ("params",) * len(slots)


def slot_count(opt):
    """How many state slots ``opt`` keeps (see :func:`slot_layout`)."""
    return len(slot_layout(opt))


def _check_values(layout, arrays, bad):
    """Parameters and optimizer state finite; the step a non-negative integer; the scale >= 0."""
    for name in layout.params_names() + layout.state_names():
        if not _npz.all_finite(arrays[name]):
            what = "parameters" if name[0] in "Wb" else "optimizer state"
            raise bad(f"{name} contains NaN or infinity; refusing to load broken {what}")
    if layout.optimizer is not None:
        step, scale = float(arrays["opt_step"][()]), float(arrays["opt_lr_scale"][()])
        if not (math.isfinite(step) and step >= 0 and step == int(step)):
            raise bad(f"opt_step is {step!r}, not a whole number of steps >= 0")
        if not (math.isfinite(scale) and scale >= 0):
            raise bad(f"opt_lr_scale is {scale!r}, not a finite number >= 0")


class _Bad:
    """``bad(why)``: the CheckpointError naming the file."""

    def __init__(self, path, prefix=None):
        self.path = path
        self.prefix = prefix or f"{path} is not a readable portable_bp checkpoint"

    def __call__(self, why):
        return CheckpointError(f"{self.prefix}: {why}")


def _check_written(path, meta_text, arrays):
    """What :func:`write` is about to write would load: the same checks as :func:`_read`."""
    bad = _Bad(path, f"cannot save to {path} (nothing was written): load would refuse the file")
    meta = _parse_metadata(meta_text, bad)
    layout = _Layout(meta, bad, len(arrays))
    expected = layout.expected()
    if set(arrays) != set(expected):
        missing, extra = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
        raise bad(f"its arrays do not match sizes={layout.sizes} (missing {missing[:8]}, unexpected {extra[:8]})")
    for name, shape in expected.items():
        a = arrays[name]
        if a.dtype != np.dtype(layout.dtype) or a.shape != shape:
            raise bad(f"{name} has dtype {a.dtype} and shape {a.shape}, expected {layout.dtype} and {shape}")
    _check_values(layout, arrays, bad)


# -- reading ------------------------------------------------------------------------------------
def _read(path):
    """(meta, weights, biases, optimizer) from a checkpoint file, all checked; raises CheckpointError.

    Bounded: regular files only; the metadata (at most ``MAX_METADATA_CHARS``, nested at most
    ``MAX_METADATA_DEPTH`` deep) is read and every field checked first; then each array's zip entry
    and .npy header are checked against the shape and dtype the metadata declares before its data
    are decompressed, into the one array allocated for it (``_npz``). Time and memory are linear in
    the file and in the declared arrays."""
    path = _check_path(path)
    bad = _Bad(path)
    with _npz.open_regular(path, bad) as f, _npz.Archive(f, bad) as archive:
        members = archive.members
        if META_KEY not in members:
            hint = ""
            if "W1" in members:  # the plain weights.npz of portable-bp train before checkpoints
                hint = "; for plain W1, b1, ... arrays use MLP.from_params([f['W1'], ...], [f['b1'], ...], ...)"
            raise bad(f"it has no {META_KEY!r} entry (entries: {sorted(members)[:8]}); it was not written by "
                      f"net.save{hint}")

        def is_text(shape, dtype):
            if shape != () or dtype.kind != "U":
                raise bad(f"its {META_KEY!r} entry is not a string")

        raw = archive.read(META_KEY, None, shape_of=is_text, max_bytes=4 * MAX_METADATA_CHARS)
        layout = _Layout(_parse_metadata(str(raw[()]), bad), bad, len(members) - 1)
        meta = layout.meta
        arrays = {name: info for name, info in members.items() if name != META_KEY}
        expected = layout.expected() if layout.n_arrays() <= len(arrays) + 1 else None
        if expected is None or set(arrays) != set(expected):
            if expected is None:
                raise bad(f"its arrays do not match sizes={_short(layout.sizes)}: the metadata declares "
                          f"{layout.n_arrays()} arrays, the archive holds {len(arrays)}")
            missing, extra = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
            raise bad(f"its arrays do not match sizes={_short(layout.sizes)} (missing {missing[:8]}, unexpected "
                      f"{extra[:8]})")
        try:
            arrays = {name: archive.read(name, layout.dtype, shape) for name, shape in expected.items()}
        except CheckpointError as exc:
            if " has shape " in str(exc):
                raise CheckpointError(f"{exc} for sizes={_short(layout.sizes)}") from None
            raise
    _check_values(layout, arrays, bad)
    L = layout.L
    tree = lambda prefix: ([arrays[f"{prefix}W{l + 1}"] for l in range(L)],
                           [arrays[f"{prefix}b{l + 1}"] if layout.has_bias[l] else None for l in range(L)])
    weights, biases = tree("")
    optimizer = None
    if layout.optimizer is not None:
        slots = tuple(arrays[f"opt{k}"] if kind == "scalar" else tree(f"opt{k}_")
                      for k, kind in enumerate(layout.kinds))
        optimizer = (layout.optimizer, arrays["opt_step"], arrays["opt_lr_scale"], slots)
    meta = dict(meta, dropout=layout.dropout) if "dropout" in meta else meta
    return meta, weights, biases, optimizer


def read_metadata(path):
    """The checked metadata dict of a checkpoint (``meta["user"]`` is what ``save`` was given)."""
    return _read(path)[0]


def read(path):
    """``(meta, weights, biases, optimizer)`` of a checkpoint, all checked: NumPy arrays, and
    ``optimizer`` None or ``(optimizer, step, lr_scale, slots)`` (format versions 2 and 3)."""
    return _read(path)
