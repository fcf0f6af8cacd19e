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
  ``optimizer``: ``{"config": {"name", "lr", hyper-parameters...}, "slots": k}``;
* with an optimizer (format version 2): ``opt_step`` (steps taken) and ``opt_lr_scale`` (0-d),
  and ``opt{k}_W1`` …, ``opt{k}_b1`` … for each of its k state slots (momentum's velocity, Adam's
  two moments), shaped like the parameters. Version-1 files (no optimizer) still load.

This module reads and writes plain arrays and JSON; ``MLP.save`` and ``portable_bp.load`` (in
``mlp.py``) turn a network into them and back.

Nothing is pickled, in either direction. Parameters are stored exactly (bit for bit) in their
dtype, so a round trip is exact within a dtype and across backends.

The write is atomic: the data goes to a temporary file in the same directory, is flushed and
fsync'ed, and then renamed over ``path`` (``os.replace``), so a crash or an interrupt mid-save
leaves the previous file intact and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets

import numpy as np

from . import _backend, optim
from .activations import ACTIVATIONS, DERIVATIVES
from .kernels import KERNELS
from .losses import LOSSES

FORMAT = "portable_bp.checkpoint"
#: Bumped whenever a reader of an older version could misread the file.
FORMAT_VERSION = 2
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
        for k, (ws, bs) in enumerate(slots):
            arrays.update({f"opt{k}_W{l + 1}": W for l, W in enumerate(ws)})
            arrays.update({f"opt{k}_b{l + 1}": b for l, b in enumerate(bs) if b is not None})
    try:
        meta_text = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be JSON-serialisable (no NaN/inf, no objects): {exc}") from None
    arrays = {name: np.asarray(a, order="C") for name, a in arrays.items()}  # (ascontiguousarray makes 0-d 1-d)
    arrays[META_KEY] = np.array(meta_text)  # dtype '<U…': a string, not a pickled object
    _atomic_write(path, lambda f: np.savez(f, **arrays))
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


def _atomic_write(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, rename it over ``path``.

    Where the system allows (Linux, a file system with ``O_TMPFILE``), the temporary file has no
    name while ``write`` runs: a process killed then (even by SIGKILL) leaves nothing behind. Once
    written and fsync'ed it is linked under a temporary name and at once renamed over ``path``.
    Elsewhere the data go to a named temporary file ``.NAME.<host>-<pid>.<random>.tmp``. A
    Python exception or Ctrl-C removes it; a kill cannot, so every save also removes the leftovers
    of earlier saves to the same ``path`` whose writer process is gone (same host) or that are
    older than :data:`STALE_TEMP_SECONDS`. ``write`` may be called twice (once more after a file
    system refused to link the unnamed file).

    An existing file's permission bits (e.g. 0600) are kept; a new file gets the umask's, as
    ``open()`` would give it.
    """
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    if os.path.isdir(target):
        raise IsADirectoryError(f"cannot save to {path}: it is a directory; give a file name such as model.npz")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save to {path}: the directory {directory} does not exist")
    mode = _existing_mode(target)
    base = os.path.basename(target)
    tmp = os.path.join(directory, _temp_name(base))
    try:
        fd = _open_unnamed(directory)
        named = fd is None
        if named:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot save to {path}: {exc.strerror}", directory) from None
    try:
        with os.fdopen(fd, "wb") as f:
            _write_synced(f, write, mode)
            if not named:
                named = _link_unnamed(f.fileno(), directory, tmp)
        if not named:  # the file system would not link the unnamed file: write a named one
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as f:
                named = True
                _write_synced(f, write, mode)
        os.replace(tmp, target)
    except BaseException:  # also KeyboardInterrupt: never leave a half-written temporary file
        if named:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    _remove_stale_temps(directory, base)
    _fsync_directory(directory)


#: A temporary file of an earlier save older than this is a leftover, whoever wrote it.
STALE_TEMP_SECONDS = 60.0

_UNNAMED = {"ok": hasattr(os, "O_TMPFILE") and hasattr(os, "fchmod")}  # off after a failed link
_WRITER = {}  # the tag of this host and PID namespace, computed once


def _write_synced(f, write, mode):
    """``write(f)``, then the permission bits ``mode`` (None: the umask's), then flush and fsync."""
    write(f)
    f.flush()
    if mode is not None and hasattr(os, "fchmod"):  # (not on Windows before Python 3.13)
        os.fchmod(f.fileno(), mode)
    os.fsync(f.fileno())


def _existing_mode(target):
    """The permission bits of an existing regular file at ``target``; None if there is none."""
    import stat

    try:
        st = os.stat(target)
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None


def _writer_tag():
    """8 hex digits naming this host and PID namespace: a PID in a temporary name is only
    checked for life by processes that share both."""
    if "tag" not in _WRITER:
        import hashlib
        import socket

        ident = socket.gethostname()
        with contextlib.suppress(OSError):
            ident += f":{os.stat('/proc/self/ns/pid').st_ino}"
        _WRITER["tag"] = hashlib.sha1(ident.encode()).hexdigest()[:8]
    return _WRITER["tag"]


def _temp_name(base):
    return f".{base}.{_writer_tag()}-{os.getpid()}.{secrets.token_hex(6)}.tmp"


def _open_unnamed(directory):
    """A write descriptor of a new unnamed file in ``directory`` (O_TMPFILE), or None where the
    system or the file system has none."""
    if not _UNNAMED["ok"]:
        return None
    try:
        return os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o666)  # the umask applies
    except OSError:  # EOPNOTSUPP (file system), EISDIR (old kernels), ...: a named file then
        return None


def _link_unnamed(fd, directory, tmp):
    """Give the unnamed file ``fd`` the name ``tmp``; False (and no more tries) if that fails."""
    dir_fd = None
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        # a dir_fd makes os.link call linkat(), which follows the /proc magic link (AT_SYMLINK_FOLLOW)
        os.link(f"/proc/self/fd/{fd}", os.path.basename(tmp), dst_dir_fd=dir_fd, follow_symlinks=True)
        return True
    except (OSError, NotImplementedError):  # no /proc, or linkat refused: named files from now on
        _UNNAMED["ok"] = False
        return False
    finally:
        if dir_fd is not None:
            os.close(dir_fd)


def _pid_alive(pid):
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) would terminate it on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True


def _remove_stale_temps(directory, base):
    """Remove leftovers ``.{base}.*.tmp`` of saves killed before they could clean up: those of a
    dead process of this host, and any older than STALE_TEMP_SECONDS (also the names of older
    portable_bp versions, ``.{base}.<random>.tmp``). Live writers' files are left alone."""
    import re
    import time

    pattern = re.compile(r"\." + re.escape(base) + r"\.(?:([0-9a-f]{8})-([0-9]+)\.)?[0-9a-f]{12}\.tmp\Z")
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:  # pragma: no cover - the save itself succeeded; cleaning is best effort
        return
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None:
            continue
        tag, pid = match.groups()
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:  # removed meanwhile
            continue
        dead = tag == _writer_tag() and pid != str(os.getpid()) and not _pid_alive(int(pid))
        if dead or age > STALE_TEMP_SECONDS:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    if not hasattr(os, "O_DIRECTORY"):  # pragma: no cover - Windows
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


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
        expected.update({"opt_step": (), "opt_lr_scale": ()})
        for k in range(n_slots):
            expected.update({f"opt{k}_{name}": shape for name, shape in list(expected.items())
                             if name[0] in "Wb"})
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
        try:
            opt = optim.from_config(config)
        except (TypeError, ValueError) as exc:
            raise bad(f"its optimizer {config!r} is not one this portable_bp knows ({exc})") from None
        slots = tuple(tree(f"opt{k}_") for k in range(n_slots))
        optimizer = (opt, arrays["opt_step"], arrays["opt_lr_scale"], slots)
    return meta, weights, biases, optimizer


def read_metadata(path):
    """The checked metadata dict of a checkpoint (``meta["user"]`` is what ``save`` was given)."""
    return _read(path)[0]


def read(path):
    """``(meta, weights, biases, optimizer)`` of a checkpoint, all checked: NumPy arrays, and
    ``optimizer`` None or ``(optimizer, step, lr_scale, slots)`` (format version 2)."""
    return _read(path)
