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
import sys

import array_api_compat

from .. import _checks

__all__ = ["NAMES", "Constant", "Cosine", "ExponentialDecay", "InvScaling", "Join", "PiecewiseConstant", "Schedule",
           "StepDecay", "WarmupCosine", "constant", "cosine", "exponential_decay", "from_config", "get", "invscaling",
           "join", "piecewise_constant", "step_decay", "warmup_cosine", "with_warmup"]


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


def _where(xp, cond, a, b):
    """``a`` where ``cond`` else ``b``: Python's if for numbers, ``xp.where`` for arrays (no branch on a value)."""
    if xp is None:
        return a if cond else b
    a = xp.full_like(b, a) if isinstance(a, numbers.Real) else a
    b = xp.full_like(a, b) if isinstance(b, numbers.Real) else b
    return xp.where(cond, a, b)


def _cosine(xp, count, T):
    """½ (1 + cos(π min(count, T) / T)), count ≥ 0."""
    if xp is None:
        return 0.5 * (1 + math.cos(math.pi * min(count, T) / T))
    return 0.5 * (1 + xp.cos(math.pi * xp.clip(count, max=float(T)) / T))


@dataclasses.dataclass(frozen=True)
class WarmupCosine(Schedule):
    """optax's ``warmup_cosine_decay_schedule(init, peak, warmup_steps, decay_steps, end)``: η rises
    linearly from ``init`` to ``peak`` over the first W = ``warmup_steps`` steps, then follows the
    cosine from ``peak`` to ``end`` over the remaining T = ``decay_steps`` − W steps (decay_steps is
    the whole length, warmup included) and stays at ``end``:

        t < W:  η_t = init + (peak − init) · t / W
        t ≥ W:  η_t = peak ((1 − α) · ½ (1 + cos(π min(t − W, T) / T)) + α),  α = end / peak
    """

    peak: float
    warmup_steps: int
    decay_steps: int
    end: float = 0.0
    init: float = 0.0
    name = "warmup_cosine"

    def __post_init__(self):
        object.__setattr__(self, "peak", _checks.real("peak", self.peak, 0.0, low_open=True))
        object.__setattr__(self, "warmup_steps", _checks.integer("warmup_steps", self.warmup_steps, 0))
        object.__setattr__(self, "decay_steps", _checks.integer("decay_steps", self.decay_steps, self.warmup_steps + 1))
        object.__setattr__(self, "end", _checks.real("end", self.end, 0.0))
        object.__setattr__(self, "init", _checks.real("init", self.init, 0.0))

    def __call__(self, step):
        xp, step = _namespace(step)
        W, T, alpha = self.warmup_steps, self.decay_steps - self.warmup_steps, self.end / self.peak
        # optax's linear_schedule: (init − peak) · (1 − t/W) + peak, t clipped to [0, W]
        frac = 1 - (min(step, W) if xp is None else xp.clip(step, max=float(W))) / max(W, 1)
        warm = (self.init - self.peak) * frac + self.peak
        decay = self.peak * ((1 - alpha) * _cosine(xp, step - W, T) + alpha)
        return _where(xp, step < W, warm, decay)


@dataclasses.dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """optax's ``exponential_decay(lr, transition_steps, decay_rate, transition_begin, staircase,
    end_value)``: η_t = lr for t ≤ begin, else lr · rate^p with p = (t − begin) / transition_steps
    (⌊p⌋ with ``staircase``), bounded by ``end`` (from below when rate < 1, from above otherwise).
    A rate > 1 needs ``end`` unless η stays finite for ``MAX_STEPS`` steps (a ValueError naming
    decay_rate otherwise, as invscaling refuses a power_t that would overflow)."""

    lr: float
    transition_steps: int
    decay_rate: float
    transition_begin: int = 0
    staircase: bool = False
    end: float | None = None
    name = "exponential_decay"

    def __post_init__(self):
        object.__setattr__(self, "lr", _checks.real("lr", self.lr, 0.0, low_open=True))
        object.__setattr__(self, "transition_steps", _checks.integer("transition_steps", self.transition_steps, 1))
        object.__setattr__(self, "decay_rate", _checks.real("decay_rate", self.decay_rate, 0.0, low_open=True))
        object.__setattr__(self, "transition_begin", _checks.integer("transition_begin", self.transition_begin, 0))
        object.__setattr__(self, "staircase", _checks.boolean("staircase", self.staircase))
        if self.end is not None:
            object.__setattr__(self, "end", _checks.real("end", self.end, 0.0))
        elif self.decay_rate > 1:
            # the largest exponent before MAX_STEPS steps; lr · rate^p must stay below float64's largest value
            p = (MAX_STEPS - self.transition_begin) / self.transition_steps
            if p * math.log(self.decay_rate) > self._log_room():
                raise ValueError(f"decay_rate={self.decay_rate!r} > 1 with no end bound: lr · decay_rate^(t / "
                                 f"transition_steps) would overflow float64 within the first 2^53 steps (from step "
                                 f"{self._overflow_step()} on); give end= (the rate's upper bound) or a decay_rate "
                                 "<= 1")

    def _log_room(self):
        """log of the largest rate^p: rate^p itself, then lr times it, must stay below float64's largest value."""
        return math.log(sys.float_info.max) - max(math.log(self.lr), 0.0)

    def _overflow_step(self):
        p = self._log_room() / math.log(self.decay_rate)
        return self.transition_begin + math.ceil(p * self.transition_steps)

    def __call__(self, step):
        xp, step = _namespace(step)
        count = step - self.transition_begin
        # before transition_begin the rate is lr: the exponent is taken from 0 there (rate^p with p < 0
        # would overflow for a rate < 1 and a far begin)
        p = (max(count, 0) if xp is None else xp.clip(count, min=0.0)) / self.transition_steps
        if self.staircase:
            p = math.floor(p) if xp is None else xp.floor(p)
        if self.end is not None and self.decay_rate > 1:
            # beyond the exponent where lr · rate^p reaches end the value is end: p stops just past it, so
            # rate^p never overflows (a Python float would raise, an array warn)
            cap = 0.0 if self.end == 0 else math.log(self.end / self.lr) / math.log(self.decay_rate) + 1.0
            p = min(p, cap) if xp is None else xp.clip(p, max=cap)
        grown = self.lr * self.decay_rate**p
        value = _where(xp, count <= 0, self.lr, grown)
        if self.end is None:
            return value
        bound = max if self.decay_rate < 1 else min
        if xp is None:
            return bound(value, self.end)
        return (xp.maximum if self.decay_rate < 1 else xp.minimum)(value, xp.full_like(value, self.end))


@dataclasses.dataclass(frozen=True)
class PiecewiseConstant(Schedule):
    """optax's ``piecewise_constant_schedule(lr, {boundary: scale, ...})``: from step ``boundary`` on,
    η is multiplied by ``scale`` (the scales accumulate: {100: 0.1, 200: 0.1} gives lr/100 from 200).
    ``boundaries_and_scales`` is a dict or a sequence of (boundary, scale) pairs."""

    lr: float
    boundaries_and_scales: tuple = ()
    name = "piecewise_constant"

    def __post_init__(self):
        object.__setattr__(self, "lr", _checks.real("lr", self.lr, 0.0, low_open=True))
        pairs = self.boundaries_and_scales
        pairs = pairs.items() if isinstance(pairs, dict) else pairs
        try:
            pairs = [(b, s) for b, s in pairs]
        except (TypeError, ValueError):
            raise TypeError(f"boundaries_and_scales must be a dict {{step: scale}} or (step, scale) pairs; got "
                            f"{self.boundaries_and_scales!r}") from None
        pairs = tuple(sorted((_checks.integer("boundaries_and_scales step", b, 0),
                              _checks.real("boundaries_and_scales scale", s, 0.0)) for b, s in pairs))
        object.__setattr__(self, "boundaries_and_scales", pairs)

    def config(self):
        return {"schedule": self.name, "lr": self.lr, "boundaries_and_scales": [list(p) for p in
                                                                                self.boundaries_and_scales]}

    def __call__(self, step):
        xp, step = _namespace(step)
        value = self.lr if xp is None else xp.full_like(step, self.lr)
        for boundary, scale in self.boundaries_and_scales:
            value = _where(xp, step < boundary, value, value * scale)
        return value


@dataclasses.dataclass(frozen=True)
class Join(Schedule):
    """optax's ``join_schedules(schedules, boundaries)``: ``schedules[0]`` before ``boundaries[0]``, then
    ``schedules[i]`` from ``boundaries[i − 1]`` on, which sees the step counted from its boundary
    (t − boundary)."""

    schedules: tuple
    boundaries: tuple
    name = "join"

    def __post_init__(self):
        scheds = tuple(self.schedules) if isinstance(self.schedules, (list, tuple)) else None
        if not scheds or not all(isinstance(s, Schedule) for s in scheds):
            raise TypeError("schedules must be a non-empty list of portable_bp.optim.schedules; got "
                            f"{self.schedules!r}")
        if not isinstance(self.boundaries, (list, tuple)):
            raise TypeError(f"boundaries must be a list of steps; got {self.boundaries!r}")
        bounds = tuple(_checks.integer("boundaries", b, 0) for b in self.boundaries)
        if len(bounds) != len(scheds) - 1:
            raise ValueError(f"boundaries must have one entry fewer than schedules ({len(scheds) - 1}); got {bounds}")
        if list(bounds) != sorted(bounds):
            raise ValueError(f"boundaries must be increasing; got {bounds}")
        object.__setattr__(self, "schedules", scheds)
        object.__setattr__(self, "boundaries", bounds)

    def config(self):
        return {"schedule": self.name, "schedules": [s.config() for s in self.schedules],
                "boundaries": list(self.boundaries)}

    def __call__(self, step):
        xp, step = _namespace(step)
        if xp is None:
            at = sum(1 for boundary in self.boundaries if step >= boundary)
            return self.schedules[at](step - (self.boundaries[at - 1] if at else 0))
        value = self.schedules[0](step)
        for boundary, schedule in zip(self.boundaries, self.schedules[1:]):  # (a later one never sees a step < 0)
            value = xp.where(step < boundary, value, schedule(xp.clip(step - boundary, min=0.0)))
        return value


constant, step_decay, invscaling, cosine = Constant, StepDecay, InvScaling, Cosine
warmup_cosine, exponential_decay, piecewise_constant, join = WarmupCosine, ExponentialDecay, PiecewiseConstant, Join
_CLASSES = {cls.name: cls for cls in (Constant, StepDecay, InvScaling, Cosine, WarmupCosine, ExponentialDecay,
                                      PiecewiseConstant, Join)}
NAMES = tuple(_CLASSES)


def with_warmup(lr, warmup_steps):
    """``lr`` (a number or a schedule) after a linear warmup of W = ``warmup_steps`` steps: η rises
    from 0 at step 0 as η_t = peak · t / W (optax's linear ramp, ``warmup_cosine(peak, W, W + 1,
    end=peak)``), peak being lr (a schedule: its value at step 0), and from step W on ``lr`` runs
    from its own step 0 (``join``). W = 0: ``lr`` itself. (The CLI's ``--warmup`` and the
    estimators' ``warmup_steps`` build their warmup here.)"""
    W = _checks.integer("warmup_steps", warmup_steps, 0, MAX_STEPS - 1)
    if W == 0:
        return lr
    peak = float(lr(0)) if callable(lr) else _checks.real("lr", lr, 0.0, low_open=True)
    ramp = WarmupCosine(peak, warmup_steps=W, decay_steps=W + 1, end=peak)
    return ramp if not callable(lr) else Join([ramp, lr], [W])


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
    if cls is Join and isinstance(cfg.get("schedules"), list):
        cfg = {**cfg, "schedules": [from_config(c) for c in cfg["schedules"]]}
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in cfg:
        if key != "schedule" and key not in fields:
            raise ValueError(f"unknown key {key!r} in a {cls.name!r} schedule config; expected {sorted(fields)}")
    for f in dataclasses.fields(cls):
        if f.name not in cfg and f.default is dataclasses.MISSING:
            raise ValueError(f"key {f.name!r} is missing from the {cls.name!r} schedule config {cfg!r}")
    return cls(**{k: v for k, v in cfg.items() if k != "schedule"})
