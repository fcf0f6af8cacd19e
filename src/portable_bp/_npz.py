"""Bounded reading of an ``.npz`` checkpoint: what ``checkpoint.read`` reads files with.

Nothing here reads more than the caller declared it expects:

* :func:`open_regular` opens regular files only: a FIFO, a device or a socket (also behind a symbolic
  link, whose target is what is checked) is refused before it is read, and the open itself never
  blocks (``O_NONBLOCK``; the kind is checked again on the open descriptor, so a file swapped in
  between is caught too);
* :class:`Archive` reads the zip's central directory (its size is the file's), and refuses members
  that are not ``.npy`` arrays, duplicated names, encryption and compressions other than stored and
  deflate;
* :meth:`Archive.read` reads one member: its zip header's size and its ``.npy`` header (dtype,
  shape) are checked against what the caller expects BEFORE any data is decompressed or memory
  allocated, and the data are then read in 1 MiB pieces into the one array allocated for them. A
  zip bomb therefore costs at most the arrays its metadata declares (and its declared sizes must be
  ones deflate can produce from the bytes in the file: about 1032 to 1 at most).

Every refusal is ``bad(why)``, an exception the caller makes (``CheckpointError`` naming the file).
"""

from __future__ import annotations

import io
import math
import os
import stat
import struct
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npformat

#: bytes decompressed at a time
CHUNK = 1 << 20
#: the most an .npy header may take (numpy's own limit on the header's dict, plus its preamble)
MAX_HEADER = 10000 + 16
#: deflate's largest expansion is 1032:1 (258-byte matches coded in about 2 bits); a member that
#: declares more than that from its compressed bytes cannot be honest
DEFLATE_MAX_RATIO = 1032
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError, NotImplementedError,
               struct.error, zlib.error, OverflowError, UnicodeDecodeError)
_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _check_kind(path, st, bad):
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{path} is a directory; give the checkpoint file (e.g. {path}/weights.npz)")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        what = f"a symbolic link to {os.path.realpath(path)}, which is {kind}" if os.path.islink(path) else kind
        raise bad(f"it is {what}, not a regular file; checkpoints are only read from regular files")


def open_regular(path, bad):
    """``path`` opened for binary reading if it is a regular file (a symlink's target is checked)."""
    try:
        st = os.stat(path)  # follows symbolic links: the target is what is checked; never blocks
    except FileNotFoundError:
        if os.path.islink(path):
            raise FileNotFoundError(f"no checkpoint at {path}: it is a symbolic link to {os.readlink(path)}, "
                                    "which does not exist") from None
        raise FileNotFoundError(f"no checkpoint at {path}: the file does not exist") from None
    _check_kind(path, st, bad)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)  # I/O errors (permissions, ...) stay OSErrors
    try:
        _check_kind(path, os.fstat(fd), bad)  # the file opened is the file checked
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_exactly(f, n):
    data = f.read(n)
    if len(data) != n:
        raise EOFError(f"{n} bytes expected, {len(data)} found")
    return data


def _npy_header(member, name, bad):
    """``((shape, fortran_order, dtype), header length in bytes)`` of the .npy stream ``member``. Its
    length field is read and bounded first (numpy's own reader would read a header of any declared
    length, up to 4 GiB, before refusing it)."""
    try:
        preamble = _read_exactly(member, 8)
        if preamble[:6] != b"\x93NUMPY":
            raise ValueError("it does not start with the .npy magic string")
        version = (preamble[6], preamble[7])
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f".npy format version {version} is not read here")
        size_field = _read_exactly(member, 2 if version == (1, 0) else 4)
        length = struct.unpack("<H" if version == (1, 0) else "<I", size_field)[0]
        if length > MAX_HEADER:
            raise ValueError(f"its header declares {length} bytes, more than the {MAX_HEADER} allowed")
        buffer = io.BytesIO(preamble + size_field + _read_exactly(member, length))
        npformat.read_magic(buffer)
        read = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        return read(buffer), 8 + len(size_field) + length
    except (ValueError, SyntaxError, TypeError, EOFError, struct.error) as exc:  # numpy's header parsing
        raise bad(f"its member {name}.npy is not a valid .npy array ({type(exc).__name__}: "
                  f"{str(exc)[:200]})") from None


class Archive:
    """The members of the zip in ``f`` (an open regular file): ``members`` maps the array names
    (without ``.npy``) to their ``ZipInfo``."""

    def __init__(self, f, bad):
        self.bad = bad
        self._refusal = type(bad(""))  # a refusal raised inside a guarded block passes through unchanged
        head = f.read(4)
        if not head:
            raise bad("the file is empty")
        if not head.startswith(b"PK"):
            npy = head.startswith(b"\x93NUM")
            raise bad("it is not an .npz (zip) file" + (" but a single .npy array" if npy else ""))
        if head not in (b"PK\x03\x04", b"PK\x05\x06"):  # np.load would try it as a pickle
            raise bad(f"the archive is corrupt or truncated (it starts with 'PK' like a zip file, but its first "
                      f"bytes {head!r} are not a zip header)")
        f.seek(0)
        try:
            self.zip = zipfile.ZipFile(f)
            infos = self.zip.infolist()
        except _ZIP_ERRORS as exc:
            raise self._corrupt(exc) from None
        self.members = {}
        for info in infos:
            name = info.filename
            if not name.endswith(".npy"):
                raise bad(f"its member {name[:100]!r} is not an .npy array (an .npz holds .npy arrays only)")
            key = name[:-4]
            if key in self.members:
                raise bad(f"its member {name[:100]!r} appears twice")
            if info.flag_bits & 0x1:
                raise bad(f"its member {name[:100]!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise bad(f"its member {name[:100]!r} uses compression method {info.compress_type}; "
                          "only stored and deflated members are read")
            self.members[key] = info

    def _corrupt(self, exc):
        return self.bad(f"the archive is corrupt or truncated ({type(exc).__name__}: {str(exc)[:200]})")

    def close(self):
        zf = getattr(self, "zip", None)
        if zf is not None:
            zf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def read(self, name, dtype, shape=None, shape_of=None, max_bytes=None):
        """Member ``name`` as a NumPy array of ``dtype`` and ``shape``, checked before it is read.

        ``shape=None``: any shape ``shape_of(header_shape, header_dtype)`` accepts (it raises), and
        the data must fit in ``max_bytes``. Raises ``bad`` naming the member for a wrong dtype
        (pickled objects included), shape or size, corrupt data, or a failed CRC."""
        info, bad = self.members[name], self.bad
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise bad(f"its member {name}.npy is stored uncompressed but declares {info.file_size} bytes in "
                      f"{info.compress_size}")
        if info.file_size > info.compress_size * DEFLATE_MAX_RATIO + 1024:
            raise bad(f"its member {name}.npy declares {info.file_size} bytes from {info.compress_size} compressed "
                      f"ones, more than deflate can produce")
        try:
            with self.zip.open(info) as member:
                header, header_len = _npy_header(member, name, bad)
                found_shape, fortran, found_dtype = header
                if found_dtype.hasobject:
                    raise bad(f"its member {name}.npy holds pickled Python objects, which are never loaded "
                              "(allow_pickle=False)")
                if shape is None:
                    shape_of(found_shape, found_dtype)
                    shape = found_shape
                else:
                    if found_dtype != np.dtype(dtype):
                        raise bad(f"{name} has dtype {found_dtype}, expected {np.dtype(dtype)}")
                    if tuple(found_shape) != tuple(shape):
                        raise bad(f"{name} has shape {tuple(found_shape)}, expected {tuple(shape)}")
                dtype = found_dtype
                count = math.prod(shape)
                nbytes = count * dtype.itemsize
                if max_bytes is not None and nbytes > max_bytes:
                    raise bad(f"its member {name}.npy holds {nbytes} bytes, more than the {max_bytes} allowed")
                if info.file_size != header_len + nbytes:
                    raise bad(f"its member {name}.npy declares {info.file_size} bytes, but its header "
                              f"({header_len} bytes) and shape {tuple(shape)} × {dtype} ({nbytes} bytes) make "
                              f"{header_len + nbytes}")
                try:
                    flat = np.empty(count, dtype=dtype)
                except MemoryError:
                    raise bad(f"its member {name}.npy needs {nbytes} bytes of memory, which cannot be "
                              "allocated here") from None
                view = memoryview(flat).cast("B") if nbytes else b""
                done = 0
                while done < nbytes:
                    piece = member.read(min(CHUNK, nbytes - done))
                    if not piece:
                        raise bad(f"its member {name}.npy is truncated ({done} of {nbytes} data bytes)")
                    view[done:done + len(piece)] = piece
                    done += len(piece)
                member.read(1)  # at the end: the CRC is checked (BadZipFile when it fails)
        except _ZIP_ERRORS as exc:
            if isinstance(exc, self._refusal):
                raise
            raise self._corrupt(exc) from None
        return flat.reshape(shape, order="F" if fortran else "C")


def all_finite(a):
    """Whether every element of the array ``a`` is finite, checked a piece at a time (no array-sized
    temporary)."""
    flat = np.ravel(a, order="K")
    step = CHUNK
    return all(bool(np.isfinite(flat[i:i + step]).all()) for i in range(0, flat.shape[0], step))
