"""The estimators' parameter checks, made at fit as scikit-learn makes them (``__init__`` only stores),
and the exception they raise."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _checks
from ..activations import ALIASES as _ACTIVATION_ALIASES
from ..activations import DERIVATIVES
from ..initializers import INITS

#: the most epochs (max_iter) and loss evaluations (max_fun) accepted: scikit-learn has no bound, but a run
#: of more than a billion epochs cannot end (MLP.fit's own bound on epochs)
MAX_ITER = 10**9
#: the longest warmup_steps: the optimizer's step counter (a float) counts exactly up to 2^53
MAX_WARMUP = 2**53 - 1


class InvalidParameterError(ValueError, TypeError):
    """A parameter has a bad type or value (scikit-learn's exception of the same name: both a
    ValueError and a TypeError)."""

    __module__ = "portable_bp.sklearn"  # its public name


def _bad(est, name, what, value):
    return InvalidParameterError(f"The '{name}' parameter of {type(est).__name__} must be {what}. "
                                 f"Got {_checks._show(value)} instead.")


def _check_real(est, name, lo, hi=math.inf, lo_open=False, hi_open=False, integer=False, allow_inf=False):
    """scikit-learn's ``Interval`` constraint, checked by :mod:`portable_bp._checks` (bools refused, NumPy
    scalars and 0-d arrays accepted, ints beyond float range and ±inf refused) in its words. An upper
    bound ``hi`` that scikit-learn does not have (max_iter) is one beyond which training could not end."""
    value = getattr(est, name)
    lo_, hi_ = (lo, hi) if integer else (float(lo), float(hi))  # scikit-learn writes [0.0, inf) for floats
    what = (f"{'an int' if integer else 'a float'} in the range {'(' if lo_open else '['}{lo_}, "
            f"{'inf' if hi == math.inf else hi_}{')' if hi_open or hi == math.inf else ']'}")
    if allow_inf:
        what += " or a float among {inf}"
        if isinstance(_checks._scalar(value), numbers.Real) and not isinstance(value, bool) and value == math.inf:
            return
    try:
        if integer:
            _checks.integer(name, value, lo, None if hi == math.inf else hi)
        else:
            _checks.real(name, value, lo, hi, low_open=lo_open, high_open=hi_open)
    except (TypeError, ValueError):
        raise _bad(est, name, what, value) from None


def _check_choice(est, name, choices):
    value = getattr(est, name)
    if not isinstance(value, str) or value not in choices:
        raise _bad(est, name, f"a str among {sorted(choices)}", value)


def _hidden_sizes(est):
    sizes = est.hidden_layer_sizes
    if isinstance(_checks._scalar(sizes), numbers.Integral) and not isinstance(sizes, bool):
        sizes = [sizes]
    what = "an array-like or an int in the range [1, inf)"
    if isinstance(sizes, (str, bytes, dict)):
        raise _bad(est, "hidden_layer_sizes", what, sizes)
    try:
        sizes = [_checks._scalar(s) for s in sizes]
    except TypeError:
        raise _bad(est, "hidden_layer_sizes", what, sizes) from None
    if any(_checks._not(numbers.Integral, s) for s in sizes):
        raise _bad(est, "hidden_layer_sizes", "an int or an array-like of ints like (100,) or (30, 10)",
                   est.hidden_layer_sizes)
    if any(s <= 0 for s in sizes):
        raise ValueError(f"hidden_layer_sizes must be > 0, got {_checks._show(sizes)}.")
    return [int(s) for s in sizes]


def _check_size(est, sizes):
    """The whole network's widths ``[n_features, *hidden_layer_sizes, n_outputs]`` fit in memory:
    a ValueError naming hidden_layer_sizes before anything is drawn, never a MemoryError."""
    try:
        _checks.parameter_memory("hidden_layer_sizes", sizes)
    except ValueError as exc:
        raise ValueError(f"hidden_layer_sizes={_checks._show(est.hidden_layer_sizes)} is too large for this "
                         f"machine: the layers {str(exc).removeprefix('hidden_layer_sizes ')}") from None


def _check_random_state(est):
    """scikit-learn's 'random_state' constraint: None, an int in [0, 2**32 - 1] or a RandomState."""
    value = est.random_state
    if value is None or isinstance(value, np.random.RandomState):
        return
    what = "an int in the range [0, 4294967295], an instance of 'numpy.random.mtrand.RandomState' or None"
    try:
        if not isinstance(value, numbers.Integral):  # a 0-d array is not taken by check_random_state
            raise TypeError
        _checks.integer("random_state", value, 0, 2**32 - 1)
    except (TypeError, ValueError):
        raise _bad(est, "random_state", what, value) from None


def _check_verbose(est):
    value = est.verbose
    if isinstance(value, (bool, np.bool_)):
        return
    try:
        _checks.integer("verbose", value, 0)
    except (TypeError, ValueError):
        raise _bad(est, "verbose", "an int in the range [0, inf), an instance of 'bool' or an instance of "
                   "'numpy.bool'", value) from None


def _check_params(est):
    _hidden_sizes(est)
    activations = set(DERIVATIVES) | set(_ACTIVATION_ALIASES)
    _check_choice(est, "activation", activations)
    _check_choice(est, "solver", {"lbfgs", "sgd", "adam"})
    _check_choice(est, "learning_rate", {"constant", "invscaling", "adaptive"})
    _check_real(est, "alpha", 0)
    if not (isinstance(est.batch_size, str) and est.batch_size == "auto"):
        try:
            _checks.integer("batch_size", est.batch_size, 1)
        except (TypeError, ValueError):
            raise _bad(est, "batch_size", "a str among {'auto'} or an int in the range [1, inf)",
                       est.batch_size) from None
    _check_real(est, "learning_rate_init", 0, lo_open=True)
    _check_real(est, "power_t", 0)
    _check_real(est, "max_iter", 1, MAX_ITER, integer=True)
    _check_real(est, "tol", 0)
    _check_real(est, "momentum", 0, 1)
    _check_real(est, "validation_fraction", 0, 1, hi_open=True)
    _check_real(est, "beta_1", 0, 1, hi_open=True)
    _check_real(est, "beta_2", 0, 1, hi_open=True)
    _check_real(est, "epsilon", 0, lo_open=True)
    _check_real(est, "n_iter_no_change", 1, integer=True, allow_inf=True)
    _check_real(est, "max_fun", 1, MAX_ITER, integer=True)
    _check_random_state(est)
    _check_verbose(est)
    for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
        if not isinstance(getattr(est, name), (bool, np.bool_)):
            raise _bad(est, name, "an instance of 'bool' or an instance of 'numpy.bool'", getattr(est, name))
    if not (isinstance(est.init, str) and est.init == "sklearn"):  # an array's != is not a bool
        _check_choice(est, "init", {"sklearn", *INITS})
    if est.clip_norm is not None:
        _check_real(est, "clip_norm", 0, lo_open=True)
    _check_real(est, "warmup_steps", 0, MAX_WARMUP, integer=True)
    if est.solver == "lbfgs" and (est.clip_norm is not None or est.warmup_steps):
        name = "clip_norm" if est.clip_norm is not None else "warmup_steps"
        raise ValueError(f"{name} needs a stochastic solver ('adam' or 'sgd'): L-BFGS takes no clipped or warmed-up "
                         f"steps; got {name}={_checks._show(getattr(est, name))} with solver='lbfgs'")
    if est._dropout_rate() and est.solver == "lbfgs":
        raise ValueError("dropout needs a stochastic solver ('adam' or 'sgd'): L-BFGS needs a deterministic "
                         "loss")


def _dropout_rate(est):
    d = est.dropout
    if d is None:
        return 0.0
    if isinstance(d, (str, bytes, dict)) or not (isinstance(_checks._scalar(d), numbers.Real)
                                                 or hasattr(d, "__iter__")):
        raise _bad(est, "dropout", "None, a float in [0, 1) or one per hidden layer", d)
    rates = [d] if isinstance(_checks._scalar(d), numbers.Real) else list(d)
    for r in rates:
        try:
            _checks.probability("dropout", r)
        except (TypeError, ValueError):
            raise _bad(est, "dropout", "None, a float in [0, 1) or one per hidden layer", d) from None
    return max(rates, default=0.0)
