"""Learning-rate schedules: callables ``step -> lr``, for ``optim.sgd(lr=schedules.cosine(...))``.

``step`` counts optimizer steps (mini-batches), from 0 for the first update, as in optax and
scikit-learn. To think in epochs, multiply by the steps per epoch, ``ceil(n / batch_size)`` for
n samples: ``step_decay(0.1, drop=0.5, every=10 * math.ceil(n / batch_size))`` halves the rate
every 10 epochs.

Every schedule takes a Python number (and returns a float) or a 0-d array of any backend (and
returns a 0-d array of it, computed with that array's namespace, so under ``jax.jit`` a changing
step is data and never a new compilation). ``config()`` is a JSON-able dict, and
``from_config(config())`` gives the schedule back.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import array_api_compat

from .. import _checks

__all__ = ["NAMES", "Constant", "Cosine", "InvScaling", "Schedule", "StepDecay", "constant", "cosine",
           "from_config", "get", "invscaling", "step_decay"]


#: the most optimizer steps a schedule is made for: float64 counts them exactly up to 2^53, and the
#: constructors refuse parameters that would overflow a float before that many steps
MAX_STEPS = 2**53
#: invscaling's largest power_t: (t + 1)^power_t stays below float64's largest value (2^1024) for every t < 2^53
MAX_POWER_T = 1023 / 53

_real = _checks.real  # the one family of argument checks (kept under this name for callers of old)


def _positive_int(name, value):
    """A step count: an int in [1, MAX_STEPS] (a float step divided by a larger one overflows)."""
    return _checks.integer(name, value, 1, MAX_STEPS)


def _namespace(step):
    """``(xp, step)``: xp is None for a Python number; an integer array is made floating first."""
    if isinstance(step, numbers.Real):
        return None, step
    xp = array_api_compat.array_namespace(step)
    if not xp.isdtype(step.dtype, "real floating"):
        info = xp.__array_namespace_info__()
        step = xp.astype(step, info.default_dtypes(device=array_api_compat.device(step))["real floating"])
    return xp, step


class Schedule:
    """Base of the schedules: ``__call__(step)`` and ``config()``."""

    name = "schedule"

    def config(self):
        return {"schedule": self.name, **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True)
class Constant(Schedule):
    """η_t = η."""

    lr: float
    name = "constant"

    def __post_init__(self):
        object.__setattr__(self, "lr", _real("lr", self.lr, 0.0, low_open=True))

    def __call__(self, step):
        xp, step = _namespace(step)
        return self.lr if xp is None else xp.full_like(step, self.lr)


@dataclasses.dataclass(frozen=True)
class StepDecay(Schedule):
    """η_t = η · drop^⌊t / every⌋."""

    lr: float
    drop: float = 0.5
    every: int = 1000
    name = "step_decay"

    def __post_init__(self):
        object.__setattr__(self, "lr", _real("lr", self.lr, 0.0, low_open=True))
        object.__setattr__(self, "drop", _real("drop", self.drop, 0.0, 1.0, low_open=True))
        object.__setattr__(self, "every", _positive_int("every", self.every))

    def __call__(self, step):
        xp, step = _namespace(step)
        k = math.floor(step / self.every) if xp is None else xp.floor(step / self.every)
        return self.lr * self.drop**k


@dataclasses.dataclass(frozen=True)
class InvScaling(Schedule):
    """η_t = η / (t + 1)^power_t (scikit-learn's ``invscaling``, t counted from 0)."""

    lr: float
    power_t: float = 0.5
    name = "invscaling"

    def __post_init__(self):
        object.__setattr__(self, "lr", _real("lr", self.lr, 0.0, low_open=True))
        power_t = _real("power_t", self.power_t, 0.0)
        if power_t > MAX_POWER_T:
            raise ValueError(f"power_t must be at most {MAX_POWER_T:.4g}; got {power_t!r}: (t + 1)^power_t would "
                             f"overflow float64 within the first 2^53 steps (at power_t=500, from step 5 on)")
        object.__setattr__(self, "power_t", power_t)

    def __call__(self, step):
        _, step = _namespace(step)
        return self.lr / (step + 1) ** self.power_t


@dataclasses.dataclass(frozen=True)
class Cosine(Schedule):
    """optax's ``cosine_decay_schedule``: η_t = η ((1 − α) · ½ (1 + cos(π min(t, T) / T)) + α), T = decay_steps."""

    lr: float
    decay_steps: int
    alpha: float = 0.0
    name = "cosine"

    def __post_init__(self):
        object.__setattr__(self, "lr", _real("lr", self.lr, 0.0, low_open=True))
        object.__setattr__(self, "decay_steps", _positive_int("decay_steps", self.decay_steps))
        object.__setattr__(self, "alpha", _real("alpha", self.alpha, 0.0, 1.0))

    def __call__(self, step):
        xp, step = _namespace(step)
        T = self.decay_steps
        if xp is None:
            cos = math.cos(math.pi * min(step, T) / T)
        else:
            cos = xp.cos(math.pi * xp.clip(step, max=float(T)) / T)
        return self.lr * ((1 - self.alpha) * 0.5 * (1 + cos) + self.alpha)


constant, step_decay, invscaling, cosine = Constant, StepDecay, InvScaling, Cosine
_CLASSES = {cls.name: cls for cls in (Constant, StepDecay, InvScaling, Cosine)}
NAMES = tuple(_CLASSES)


def get(name, lr, **kwargs):
    """A schedule by name (one of ``NAMES``, case-insensitive), e.g. ``get("cosine", 0.1, decay_steps=1000)``."""
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in _CLASSES:
        raise ValueError(f"unknown schedule {name!r}; expected one of {list(NAMES)}")
    return _CLASSES[key](lr, **kwargs)


def from_config(cfg):
    """The schedule that ``config()`` described (the inverse of ``config``)."""
    if not isinstance(cfg, dict) or "schedule" not in cfg:
        raise ValueError(f"a schedule config is a dict with a 'schedule' key, one of {list(NAMES)}; got {cfg!r}")
    cls = _CLASSES.get(cfg["schedule"]) if isinstance(cfg["schedule"], str) else None
    if cls is None:
        raise ValueError(f"unknown schedule {cfg['schedule']!r} under key 'schedule'; expected one of {list(NAMES)}")
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in cfg:
        if key != "schedule" and key not in fields:
            raise ValueError(f"unknown key {key!r} in a {cls.name!r} schedule config; expected {sorted(fields)}")
    for f in dataclasses.fields(cls):
        if f.name not in cfg and f.default is dataclasses.MISSING:
            raise ValueError(f"key {f.name!r} is missing from the {cls.name!r} schedule config {cfg!r}")
    return cls(**{k: v for k, v in cfg.items() if k != "schedule"})
