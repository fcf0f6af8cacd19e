"""A small cached, checksummed fetcher for the data sets that are too big to ship (MNIST).

Files live in ONE folder: ``data_home`` when given, else ``$PORTABLE_BP_DATA``, else
``~/.cache/portable_bp``. A missing file is downloaded (``urllib``, with a tqdm progress bar) to a
temporary file beside its final name, checked, then renamed into place: a killed download never
leaves a half file under the real name. Checks: the byte count the server announced, the SHA-256 sum
of the :class:`Remote` (when one is known from a source we trust), and, for ``.gz`` files, the whole
gzip stream (its CRC and length: a truncated or corrupted archive fails here). A file that fails is
removed and the error names it; it is never used. An existing file is checked the same way each time
it is opened.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import secrets
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass

ENV_VAR = "PORTABLE_BP_DATA"
#: how the fetcher opens a URL (tests replace it to serve local bytes: no test touches the network)
urlopen = urllib.request.urlopen


@dataclass(frozen=True)
class Remote:
    """Where a file comes from and how it is checked. ``sha256=None`` means no SHA-256 from a source we
    trust was found (``why`` says so): the file is then checked by its gzip stream and by its reader."""

    urls: tuple
    sha256: str | None
    size: int | None = None
    why: str = ""


class DataFileError(ValueError):
    """A data file that is wrong (checksum, truncation, format): it was removed, never used."""


def data_folder(data_home=None):
    """The data folder: ``data_home``, else ``$PORTABLE_BP_DATA``, else ``~/.cache/portable_bp``."""
    if data_home is not None:
        if not isinstance(data_home, (str, os.PathLike)):
            raise TypeError(f"data_home must be a folder path (str or os.PathLike); got {type(data_home).__name__}")
        return os.path.abspath(os.path.expanduser(os.fspath(data_home)))
    env = os.environ.get(ENV_VAR)
    if env:
        return os.path.abspath(os.path.expanduser(env))
    return os.path.join(os.path.expanduser("~"), ".cache", "portable_bp")


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _problem(path, remote, name):
    """Why the file at ``path`` is not the file ``name`` that ``remote`` describes, or None."""
    if remote.size is not None and os.path.getsize(path) != remote.size:
        return f"it has {os.path.getsize(path)} bytes, not {remote.size} (truncated or another file)"
    if remote.sha256 is not None:
        actual = sha256_of(path)
        if actual != remote.sha256:
            return f"its SHA-256 is {actual}, not {remote.sha256}"
    if remote.sha256 is None and name.endswith(".gz"):  # a verified SHA-256 already proves the bytes
        try:
            with gzip.open(path, "rb") as f:
                while f.read(1 << 20):
                    pass
        except (OSError, EOFError) as exc:  # BadGzipFile is an OSError; a cut-off stream an EOFError
            return f"it is not a whole gzip file ({type(exc).__name__}: {exc})"
    return None


def _remove(path):
    with contextlib.suppress(OSError):
        os.unlink(path)


def reject(path, why):
    """Remove a bad data file and raise the error that names it."""
    _remove(path)
    raise DataFileError(f"{path} was removed, not used: {why}. Run again to download a fresh copy "
                        "(or put a good copy there).")


def fetch(names, remotes, *, data_home=None, download=True, what="the data"):
    """The checked local paths of ``names`` (a list of file names, keys of ``remotes``), downloading
    the missing ones when ``download``; with ``download=False`` a missing file is an error at once,
    naming every missing file, the folder and where to get them."""
    from ._checks import boolean

    download = boolean("download", download)
    folder = data_folder(data_home)
    paths = {name: os.path.join(folder, name) for name in names}
    missing = [name for name in names if not os.path.isfile(paths[name])]
    if missing and not download:
        raise FileNotFoundError(_missing_message(missing, remotes, folder, what, "download=False"))
    created = missing and not os.path.isdir(folder)
    for name in names:
        if name in missing:
            try:
                _download(name, remotes[name], paths[name], folder, what, missing, remotes)
            except BaseException:
                if created:  # a failed first download leaves no empty data folder behind
                    with contextlib.suppress(OSError):
                        os.rmdir(folder)
                raise
        else:
            why = _problem(paths[name], remotes[name], name)
            if why is not None:
                reject(paths[name], why)
    return [paths[name] for name in names]


def _missing_message(missing, remotes, folder, what, reason):
    where = "; ".join(f"{name} from {' or '.join(remotes[name].urls)}" for name in missing)
    return (f"{what}: {', '.join(missing)} not found in {folder} ({reason}). Get {where}, and put "
            f"{'it' if len(missing) == 1 else 'them'} in that folder (or choose another with data_home= or "
            f"${ENV_VAR}); with download=True missing files are downloaded there.")


def _download(name, remote, path, folder, what, missing, remotes):
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OSError(f"{what}: cannot create the data folder {folder} ({exc.strerror or exc}); choose another "
                      f"with data_home= or ${ENV_VAR}") from None
    failures = []
    for url in remote.urls:
        part = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.part")
        try:
            announced = _stream(url, part, name)
        except (urllib.error.URLError, OSError, ValueError) as exc:  # offline, 404, refused, reset mid-way
            _remove(part)
            failures.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
            continue
        except BaseException:  # Ctrl-C: no partial file left
            _remove(part)
            raise
        got = os.path.getsize(part)
        why = (f"the download stopped after {got} of {announced} bytes" if announced is not None and got != announced
               else _problem(part, remote, name))
        if why is not None:
            _remove(part)
            raise DataFileError(f"{what}: the file downloaded from {url} for {name} was removed, not used: {why}. "
                                "Run again, or fetch it by hand into " + folder)
        os.replace(part, path)
        return path
    raise OSError(_missing_message(missing, remotes, folder, what, "the download failed: " + "; ".join(failures)))


def _stream(url, part, name):
    """Copy ``url`` to the file ``part`` with a progress bar; returns the announced length (or None)."""
    from tqdm.auto import tqdm

    with urlopen(url, timeout=60) as response:
        length = response.headers.get("Content-Length") if getattr(response, "headers", None) else None
        announced = int(length) if length is not None and str(length).isdigit() else None
        with open(part, "wb") as out, tqdm(total=announced, unit="B", unit_scale=True, unit_divisor=1024,
                                           desc=f"downloading {name}", file=sys.stderr, leave=True) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
    return announced
