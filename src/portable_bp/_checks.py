"""One family of argument checks, used by every public callable (MLP, fit, optim, schedules,
callbacks, the estimators, checkpoint, the CLI): each returns the value as a plain Python object or
raises a TypeError / ValueError whose message names the parameter.

Numbers refuse bools, NaN, ±inf (unless asked) and integers beyond float range; they accept NumPy
scalars and 0-d arrays. Nothing here knows a backend.
"""

from __future__ import annotations

import math
import numbers
import os
import sys

__all__ = ["available_memory", "boolean", "choice", "function", "integer", "nonnegative", "pair",
           "parameter_memory", "path", "positive", "probability", "rate", "real", "seed", "text_file", "widths"]


def _scalar(value):
    """A 0-d array (NumPy, or anything with ``ndim == 0`` and ``item``) as its Python scalar."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item") and not isinstance(value, numbers.Number):
        try:
            return value.item()
        except Exception:  # noqa: BLE001 - not a readable scalar: left for the type check to refuse
            return value
    return value


def _not(kind, value):
    """True unless ``value`` is a number of ``kind`` (bools, and NumPy's timedelta64 / datetime64, which it
    registers as integers, are not numbers here)."""
    return (isinstance(value, bool) or not isinstance(value, kind)
            or getattr(getattr(value, "dtype", None), "kind", "") in ("m", "M"))


def _words(low, high, low_open, high_open):
    """The interval in words: "> 0 and finite", "in [0, 1)"."""
    if high == math.inf:
        return "finite" if low == -math.inf else f"{'>' if low_open else '>='} {low:g} and finite"
    if low == -math.inf:
        return f"{'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def real(name, value, low=-math.inf, high=math.inf, *, low_open=False, high_open=False, allow_inf=False):
    """``value`` as a float in the interval (finite unless ``allow_inf``), else a TypeError / ValueError
    naming ``name``: "lr must be > 0 and finite; got nan"."""
    value = _scalar(value)
    if _not(numbers.Real, value):
        raise TypeError(f"{name} must be a number ({_words(low, high, low_open, high_open)}); got {_show(value)} "
                        f"({type(value).__name__})")
    try:
        f = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be {_words(low, high, low_open, high_open)}; got {_show(value)}, beyond float "
                         "range") from None
    if math.isnan(f) or (math.isinf(f) and not allow_inf) or not (
            (low < f if low_open else low <= f) and (f < high if high_open else f <= high)):
        raise ValueError(f"{name} must be {_words(low, high, low_open, high_open)}; got {f!r}")
    return f


def integer(name, value, low=None, high=None):
    """``value`` as an int in [low, high] (either may be None), else a TypeError / ValueError naming ``name``."""
    value = _scalar(value)
    if _not(numbers.Integral, value):
        raise TypeError(f"{name} must be an integer; got {_show(value)} ({type(value).__name__})")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be {'> 0' if low == 1 else f'>= {low}'}; got {_show(value)}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high:,}; got {_show(value)}")
    return value


def boolean(name, value):
    """``value`` if it is a bool (NumPy's bool too), else a TypeError naming ``name``."""
    value = _scalar(value)
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__})")
    return value


def choice(name, value, choices, aliases=None, *, fold_case=False):
    """``value`` if it is one of ``choices`` (after ``aliases`` and, with ``fold_case``, lower-casing),
    else a TypeError (not a string) / ValueError (unknown) naming ``name`` and the choices."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {sorted(choices)}; got {_show(value)}")
    key = value.lower() if fold_case else value
    key = (aliases or {}).get(key, key)
    if key not in choices:
        raise ValueError(f"unknown {name} {value!r}: expected one of {sorted(choices)}")
    return key

def positive(name, value, *, high=math.inf):
    """A finite real number > 0 (at most ``high``), as a float."""
    return real(name, value, 0.0, high, low_open=True)


def nonnegative(name, value, *, high=math.inf):
    """A finite real number >= 0 (at most ``high``), as a float."""
    return real(name, value, 0.0, high)


def probability(name, value, *, low_open=False, high_open=True):
    """A number in [0, 1) (the ends as asked), as a float: dropout rates, momenta, betas."""
    return real(name, value, 0.0, 1.0, low_open=low_open, high_open=high_open)


def seed(name, value):
    """None, an integer >= 0, or a ``numpy.random.Generator`` / ``SeedSequence`` (returned as they are)."""
    np = sys.modules.get("numpy")
    if value is None or (np is not None and isinstance(value, (np.random.Generator, np.random.SeedSequence))):
        return value
    value = _scalar(value)
    if _not(numbers.Integral, value):
        raise TypeError(f"{name} must be None, a non-negative integer or a numpy.random.Generator; got "
                        f"{_show(value)} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {_show(value)}")
    return int(value)


def function(name, value, *, optional=False, arguments=None):
    """A callable (or None with ``optional``), else a TypeError naming ``name``; with ``arguments`` (their
    names), one that its signature says cannot take them is refused too (where it has a signature)."""
    if value is None and optional:
        return value
    if not callable(value):
        raise TypeError(f"{name} must be callable{' or None' if optional else ''}; got {type(value).__name__}")
    if arguments is not None:
        import inspect

        try:
            signature = inspect.signature(value)
        except (TypeError, ValueError):  # a builtin without one: taken on trust
            return value
        try:
            signature.bind(*arguments)
        except TypeError:
            raise TypeError(f"{name} must accept {len(arguments)} arguments ({', '.join(arguments)}); "
                            f"{getattr(value, '__name__', type(value).__name__)}{signature} does not") from None
    return value


def pair(name, value, what="(X_val, Y_val)"):
    """A tuple or list of two items, e.g. ``validation_data``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        length = f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""
        raise TypeError(f"{name} must be a pair {what}; got {type(value).__name__}{length}")
    return value


def text_file(name, value):
    """A writable text stream (an object with ``write``), or None; a path is refused with the fix."""
    if value is None or callable(getattr(value, "write", None)):
        return value
    hint = (" (a path: open it first, e.g. open(path, 'a'), and close it after fit)"
            if isinstance(value, (str, bytes)) or hasattr(value, "__fspath__") else "")
    raise TypeError(f"{name} must be a text stream with a write() method, or None; got "
                    f"{type(value).__name__}{hint}")


def path(name, value):
    """A file-system path (str, bytes or os.PathLike) as ``os.fspath`` gives it, else a TypeError naming ``name``."""
    try:
        return os.fspath(value)
    except TypeError:
        raise TypeError(f"{name} must be a path (str or os.PathLike); got {type(value).__name__}") from None


def available_memory():
    """Bytes of memory this process could still get (Linux: MemAvailable; elsewhere the physical
    memory), or None where that cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def widths(name, value):
    """Layer widths ``[n_0, ..., n_L]``: at least two ints >= 1 (whether they fit in memory is
    :func:`parameter_memory`'s question)."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a list of positive integers (layer widths) like [2, 8, 1]; got {value!r}")
    try:
        sizes = list(value)
    except TypeError:
        raise TypeError(f"{name} must be a list of layer widths like [2, 8, 1]; got {_show(value)}") from None
    if len(sizes) < 2:
        raise ValueError(f"{name} needs at least an input and an output width, e.g. [2, 1]; got {_show(sizes)}")
    for s in sizes:
        s = _scalar(s)
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"{name} must hold positive integers; got {_show(sizes)}")
        if s < 1:
            raise ValueError(f"every layer width in {name} must be >= 1; got {_show(sizes)}")
    return [int(_scalar(s)) for s in sizes]


def parameter_memory(name, sizes, copies=3, itemsize=8):
    """Refuse widths whose parameters (``copies`` float arrays of them: the host draw, the backend's
    arrays, a gradient) cannot fit in the available memory, naming ``name``: a ValueError now, before
    anything is allocated (and in microseconds), never a MemoryError after seconds of allocating."""
    count = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    need = count * itemsize * copies
    have = available_memory()
    if have is not None and need > have:
        raise ValueError(f"{name} {_show(sizes)} make {_show(count)} parameters: {_bytes(need)} to build "
                         f"and train, but only {_bytes(have)} of memory is available; use smaller layers")
    return count


def _bytes(n):
    if n >= 1024**6:
        return f"over 10^{len(str(int(n))) - 1} bytes"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"about {n:.3g} {unit}"
        n /= 1024


def _show(value):
    """``repr`` shortened: a huge int as its number of digits, a long list cut."""
    if type(value) is int and abs(value) >= 10**24:  # NumPy's integers are never that large
        return f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_show(v) for v in list(value)[:8]) + (", ..." if len(value) > 8 else "")
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def rate(name, value):
    """What a learning-rate schedule returned: a real number or a 0-d real array, finite and >= 0,
    else a TypeError / ValueError naming ``name``."""
    shape = getattr(value, "shape", None)
    if shape is not None and tuple(shape) != ():
        raise TypeError(f"{name} must return a number or a 0-d array; got an array of shape {tuple(shape)}")
    dtype = getattr(value, "dtype", None)
    if dtype is not None and not isinstance(value, numbers.Number):
        kind = getattr(dtype, "kind", None) or str(dtype)
        if kind not in ("f", "i", "u") and not any(t in str(dtype) for t in ("float", "int")):
            raise TypeError(f"{name} must return a real number; got a 0-d array of dtype {dtype}")
        try:
            value = float(value)
        except Exception as exc:  # noqa: BLE001 - e.g. an array of a library that cannot be read here
            raise TypeError(f"{name} must return a real number; got {type(value).__name__} ({exc})") from None
    if _not(numbers.Real, value):
        raise TypeError(f"{name} must return a real number (the learning rate); got {_show(value)} "
                        f"({type(value).__name__})")
    return real(name, value, 0.0)
