"""Files written whole or not at all: :func:`write` puts a file in place atomically and durably.

What ``net.save`` (``checkpoint.write``) relies on: a crash, a Ctrl-C or a SIGKILL during a save
leaves the previous file intact, the file's permission bits are kept, and no temporary file of a
dead writer stays behind for long.
"""

from __future__ import annotations

import contextlib
import os
import secrets


def write(path, write):
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
