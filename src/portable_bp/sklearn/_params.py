"""The estimators' parameter checks, made at fit as scikit-learn makes them (``__init__`` only stores),
and the exception they raise."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..activations import ALIASES as _ACTIVATION_ALIASES
from ..activations import DERIVATIVES
from ..initializers import INITS


class InvalidParameterError(ValueError, TypeError):
    """A parameter has a bad type or value (scikit-learn's exception of the same name: both a
    ValueError and a TypeError)."""

    __module__ = "portable_bp.sklearn"  # its public name


def _bad(est, name, what, value):
    return InvalidParameterError(f"The '{name}' parameter of {type(est).__name__} must be {what}. "
                                 f"Got {value!r} instead.")


def _check_real(est, name, lo, hi=math.inf, lo_open=False, hi_open=False, integer=False, allow_inf=False):
    value = getattr(est, name)
    kind = numbers.Integral if integer else numbers.Real
    what = (f"{'an int' if integer else 'a float'} in the range {'(' if lo_open else '['}{lo}, "
            f"{'inf' if hi == math.inf else hi}{')' if hi_open or hi == math.inf else ']'}")
    if allow_inf and isinstance(value, numbers.Real) and value == math.inf:
        return
    if isinstance(value, bool) or not isinstance(value, kind) or math.isnan(value):
        raise _bad(est, name, what, value)
    if (value <= lo if lo_open else value < lo) or (value >= hi if hi_open else value > hi):
        raise _bad(est, name, what, value)


def _check_choice(est, name, choices):
    value = getattr(est, name)
    if not isinstance(value, str) or value not in choices:
        raise _bad(est, name, f"a str among {sorted(choices)}", value)


def _hidden_sizes(est):
    sizes = est.hidden_layer_sizes
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
        sizes = [sizes]
    what = "an int or an array-like of ints like (100,) or (30, 10)"
    try:
        sizes = list(sizes)
    except TypeError:
        raise _bad(est, "hidden_layer_sizes", what, sizes) from None
    if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) for s in sizes):
        raise _bad(est, "hidden_layer_sizes", what, sizes)
    if any(s <= 0 for s in sizes):
        raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
    return [int(s) for s in sizes]


def _check_params(est):
    _hidden_sizes(est)
    activations = set(DERIVATIVES) | set(_ACTIVATION_ALIASES)
    _check_choice(est, "activation", activations)
    _check_choice(est, "solver", {"lbfgs", "sgd", "adam"})
    _check_choice(est, "learning_rate", {"constant", "invscaling", "adaptive"})
    _check_real(est, "alpha", 0)
    if not (isinstance(est.batch_size, str) and est.batch_size == "auto"):
        _check_real(est, "batch_size", 1, integer=True)
    _check_real(est, "learning_rate_init", 0, lo_open=True)
    _check_real(est, "power_t", 0)
    _check_real(est, "max_iter", 1, integer=True)
    _check_real(est, "tol", 0)
    _check_real(est, "momentum", 0, 1)
    _check_real(est, "validation_fraction", 0, 1, hi_open=True)
    _check_real(est, "beta_1", 0, 1, hi_open=True)
    _check_real(est, "beta_2", 0, 1, hi_open=True)
    _check_real(est, "epsilon", 0, lo_open=True)
    _check_real(est, "n_iter_no_change", 1, integer=True, allow_inf=True)
    _check_real(est, "max_fun", 1, integer=True)
    for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
        if not isinstance(getattr(est, name), (bool, np.bool_)):
            raise _bad(est, name, "an instance of 'bool'", getattr(est, name))
    if est.init != "sklearn":
        _check_choice(est, "init", {"sklearn", *INITS})
    if est._dropout_rate() and est.solver == "lbfgs":
        raise ValueError("dropout needs a stochastic solver ('adam' or 'sgd'): L-BFGS needs a deterministic "
                         "loss")


def _dropout_rate(est):
    d = est.dropout
    if d is None:
        return 0.0
    rates = [d] if isinstance(d, numbers.Real) else list(d)
    for r in rates:
        if isinstance(r, bool) or not isinstance(r, numbers.Real) or not 0 <= r < 1:
            raise _bad(est, "dropout", "None, a float in [0, 1) or one per hidden layer", d)
    return max(rates, default=0.0)
