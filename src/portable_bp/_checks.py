"""One family of argument checks, used by every public callable (MLP, fit, optim, schedules,
callbacks, the estimators, checkpoint, the CLI): each returns the value as a plain Python object or
raises a TypeError / ValueError whose message names the parameter.

Numbers refuse bools, NaN, ±inf (unless asked) and integers beyond float range; they accept NumPy
scalars and 0-d arrays. Nothing here knows a backend.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["boolean", "choice", "integer", "real"]


def _scalar(value):
    """A 0-d array (NumPy, or anything with ``ndim == 0`` and ``item``) as its Python scalar."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item") and not isinstance(value, numbers.Number):
        try:
            return value.item()
        except Exception:  # noqa: BLE001 - not a readable scalar: left for the type check to refuse
            return value
    return value


def _interval(low, high, low_open, high_open):
    return f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def real(name, value, low=-math.inf, high=math.inf, *, low_open=False, high_open=False, allow_inf=False):
    """``value`` as a float in the interval, else a TypeError / ValueError naming ``name``."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r} ({type(value).__name__})")
    try:
        f = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be a finite number; got an integer beyond float range "
                         f"({len(str(abs(int(value))))} digits)") from None
    if math.isnan(f) or (math.isinf(f) and not allow_inf):
        raise ValueError(f"{name} must be a finite number in {_interval(low, high, low_open, high_open)}; got {f!r}")
    if not ((low < f if low_open else low <= f) and (f < high if high_open else f <= high)):
        raise ValueError(f"{name} must be a number in {_interval(low, high, low_open, high_open)}; got {f!r}")
    return f


def integer(name, value, low=None, high=None):
    """``value`` as an int in [low, high] (either may be None), else a TypeError / ValueError naming ``name``."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int; got {value!r} ({type(value).__name__})")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}; got {value!r}")
    if high is not None and value > high:
        shown = value if value < 10**30 else f"an integer of {len(str(value))} digits"
        raise ValueError(f"{name} must be <= {high}; got {shown}")
    return value


def boolean(name, value):
    """``value`` if it is a bool (NumPy's bool too), else a TypeError naming ``name``."""
    value = _scalar(value)
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__})")
    return value


def choice(name, value, choices):
    """``value`` if it is one of ``choices`` (strings compared as given), else a ValueError naming ``name``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}")
    return value
