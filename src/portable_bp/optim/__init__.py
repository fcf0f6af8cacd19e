"""Optimizers as pure functions over parameter trees, in the style of optax's GradientTransformation.

A tree is a nested list/tuple whose leaves are arrays or None (a layer without bias; it stays
None). ``opt.init(params)`` gives an ``OptState``; ``opt.update(grads, state, params)`` gives
``(new_params, new_state)``, where ``grads`` is already the batch mean gradient g. The rate of
an update is η_t = lr(step) (lr a float or a schedule, see ``schedules``) times ``state.lr_scale``:

    sgd        p ← p − η_t g
    momentum   v ← β v + g;  p ← p − η_t v                     (nesterov: p ← p − η_t (g + β v))
    adam       m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;  t = step + 1
               p ← p − η_t / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
    adamw      p ← p (1 − η_t λ), then the adam step

exactly as torch.optim's SGD (dampening 0), Adam and AdamW compute them. ``step`` and
``lr_scale`` are 0-d arrays, so under ``jax.jit(opt.update)`` neither a schedule nor a changed
``lr_scale`` compiles again.

The training step calls the pair ``opt.prescale(state)`` / ``opt.descend(grads, state, params)``
instead of ``update``: it multiplies the gradient by ``prescale(state)`` where that costs one small
multiplication (δ^L, since BP2–BP4 are linear in δ), and ``descend`` finishes the update. For sgd
that is network.py's η/m folded into δ^L — p ← p − (η g), one pass per parameter instead of two;
for the others ``prescale`` is 1 and ``descend`` is ``update``.

Only the array API standard is used, through the namespace of the arrays; nothing writes into an array.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable
from typing import NamedTuple

import array_api_compat

from .. import _checks
from . import schedules

__all__ = ["NAMES", "OptState", "Optimizer", "Transform", "accumulate", "adam", "adamw", "averaged", "chain", "choose",
           "clip", "clip_by_global_norm", "clip_by_norm", "ema", "ema_params", "from_config", "get", "momentum",
           "schedules", "sgd", "transforms", "tree_leaves", "tree_map"]


def tree_map(f, *trees):
    """``f`` applied leaf-wise over trees shaped like ``trees[0]`` (lists, tuples, NamedTuples such as
    :class:`OptState`); None leaves stay None."""
    first = trees[0]
    if first is None:
        return None
    if not isinstance(first, _NODES):
        return f(*trees)
    # This runs every training step (a few times for adam): leaves, and the lists of leaves that
    # (weights, biases) is made of, are mapped here rather than by a call each (~2 µs a step saved).
    children = []
    for c in zip(*trees, strict=True):
        head = c[0]
        if head is None:
            children.append(None)
        elif type(head) is list:
            children.append([None if x[0] is None else tree_map(f, *x) if isinstance(x[0], _NODES) else f(*x)
                             for x in zip(*c, strict=True)])
        elif isinstance(head, _NODES):
            children.append(tree_map(f, *c))
        else:
            children.append(f(*c))
    kind = type(first)
    if kind is list:
        return children
    return kind(*children) if hasattr(first, "_fields") else kind(children)  # NamedTuples too


_NODES = (list, tuple)


def tree_leaves(tree):
    """The non-None array leaves of ``tree``, depth first."""
    if tree is None:
        return []
    if isinstance(tree, (list, tuple)):
        return [leaf for child in tree for leaf in tree_leaves(child)]
    return [tree]


class OptState(NamedTuple):
    step: object  # 0-d array: the number of updates done so far
    lr_scale: object  # 0-d array multiplying the (scheduled) lr; 1 after init
    slots: tuple  # trees shaped like params: () for sgd, (v,) for momentum, (m, v) for adam(w)


class Optimizer(NamedTuple):
    name: str
    lr: object  # a float, or a schedule step -> lr
    hyper: dict
    init: Callable
    update: Callable
    prescale: Callable = lambda state: 1.0  # the factor the caller may fold into the gradient ...
    descend: Callable | None = None  # ... and the update of gradients that carry it (None: update)
    #: what each entry of ``OptState.slots`` is, in order: "params" (a tree shaped like the parameters)
    #: or "scalar" (a 0-d array); checkpoints store the state by it. None: only "params" slots, as many
    #: as ``init`` makes (an optimizer made outside this module)
    layout: tuple | None = None

    def config(self):
        """A JSON-able dict ``{"name": ..., "lr": float or schedule config, **hyper}``."""
        lr = self.lr
        if callable(lr):
            if not isinstance(lr, schedules.Schedule):
                raise TypeError(f"lr is a callable ({lr!r}) that is not one of portable_bp.optim.schedules "
                                f"{list(schedules.NAMES)}; config() cannot describe it")
            lr = lr.config()
        return {"name": self.name, "lr": lr, **self.hyper}

    def with_lr(self, lr):
        """The same kind of optimizer and hyper-parameters, with ``lr``."""
        return _FACTORIES[self.name](lr, **self.hyper)

    def __reduce__(self):
        """Pickled (and deep-copied) as its factory call: name, lr (a schedule must itself pickle), hyper."""
        return _rebuild, (self.name, self.lr, self.hyper)


def _rebuild(name, lr, hyper):
    return _FACTORIES[name](lr, **hyper)


def _check_lr(lr):
    """A number > 0 (see _checks.positive) or a schedule; what a schedule returns is checked once at
    fit's start (``_checks.rate``)."""
    if callable(lr):
        return lr
    if isinstance(lr, bool) or not isinstance(_checks._scalar(lr), numbers.Real):
        raise TypeError(f"lr must be a number > 0 or a schedule (a callable step -> lr); got {lr!r}")
    return _checks.positive("lr", lr)


def _beta(name, value):
    return _checks.probability(name, value)


def _init(params, n_slots):
    leaves = tree_leaves(params)
    if not leaves:
        raise ValueError("params hold no arrays (every leaf is None)")
    xp = array_api_compat.array_namespace(leaves[0])
    # 0-d, with the leaf's dtype and device, made from it rather than by asarray(device=...), which on
    # JAX would commit the state to the device: uncommitted params then change jax.jit's cache key.
    zero = xp.asarray(xp.sum(xp.zeros_like(leaves[0])))  # asarray: NumPy's sum gives a scalar
    slots = tuple(tree_map(xp.zeros_like, params) for _ in range(n_slots))
    return OptState(zero, xp.ones_like(zero), slots)


def _rate(lr, state):
    """η_t = lr(step) (or lr) · lr_scale, a 0-d array."""
    return (lr(state.step) if callable(lr) else lr) * state.lr_scale


def sgd(lr):
    """Plain SGD: p ← p − η g. (The training step folds η into δ^L: ``prescale`` is η_t and
    ``descend`` subtracts the gradient that already carries it.)"""
    lr = _check_lr(lr)
    rate = lambda state: _rate(lr, state)

    def descend(scaled, state, params):  # scaled = η_t g
        return tree_map(lambda p, d: p - d, params, scaled), OptState(state.step + 1, state.lr_scale, ())

    def update(grads, state, params):
        eta = rate(state)
        return descend(tree_map(lambda g: eta * g, grads), state, params)

    return Optimizer("sgd", lr, {}, lambda params: _init(params, 0), update, rate, descend, ())


def momentum(lr, beta=0.9, nesterov=False):
    """SGD with momentum (torch's, dampening 0): v ← β v + g; p ← p − η v, or p ← p − η (g + β v) with nesterov."""
    lr, beta = _check_lr(lr), _beta("beta", beta)
    nesterov = _checks.boolean("nesterov", nesterov)

    def update(grads, state, params):
        eta = _rate(lr, state)
        (v,) = state.slots
        v = tree_map(lambda v, g: beta * v + g, v, grads)
        d = tree_map(lambda g, v: g + beta * v, grads, v) if nesterov else v
        new_params = tree_map(lambda p, d: p - eta * d, params, d)
        return new_params, OptState(state.step + 1, state.lr_scale, (v,))

    return Optimizer("momentum", lr, {"beta": beta, "nesterov": nesterov}, lambda params: _init(params, 1), update,
                     layout=("params",))


def _adam(name, lr, beta1, beta2, eps, weight_decay):
    lr, beta1, beta2 = _check_lr(lr), _beta("beta1", beta1), _beta("beta2", beta2)
    eps = _checks.positive("eps", eps)
    weight_decay = _checks.nonnegative("weight_decay", weight_decay)
    hyper = {"beta1": beta1, "beta2": beta2, "eps": eps} | ({"weight_decay": weight_decay} if name == "adamw" else {})

    def update(grads, state, params):
        xp = array_api_compat.array_namespace(state.step)
        eta, t = _rate(lr, state), state.step + 1
        if weight_decay:  # AdamW's decoupled decay: p ← p (1 − η λ)
            params = tree_map(lambda p: p * (1 - eta * weight_decay), params)
        m, v = state.slots
        m = tree_map(lambda m, g: beta1 * m + (1 - beta1) * g, m, grads)  # m ← β₁ m + (1 − β₁) g
        v = tree_map(lambda v, g: beta2 * v + (1 - beta2) * (g * g), v, grads)  # v ← β₂ v + (1 − β₂) g²
        step_size, root_bc2 = eta / (1 - beta1**t), xp.sqrt(1 - beta2**t)  # η / (1 − β₁ᵗ), √(1 − β₂ᵗ)
        new_params = tree_map(lambda p, m, v: p - step_size * m / (xp.sqrt(v) / root_bc2 + eps), params, m, v)
        return new_params, OptState(t, state.lr_scale, (m, v))

    return Optimizer(name, lr, hyper, lambda params: _init(params, 2), update, layout=("params", "params"))


def adam(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam, exactly torch.optim.Adam: bias-corrected m / (√v + ε) with t = step + 1."""
    return _adam("adam", lr, beta1, beta2, eps, 0.0)


def adamw(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    """AdamW, exactly torch.optim.AdamW: p ← p (1 − η λ) on every leaf (biases too), then the Adam step."""
    return _adam("adamw", lr, beta1, beta2, eps, weight_decay)


_FACTORIES = {"sgd": sgd, "momentum": momentum, "adam": adam, "adamw": adamw}
from ._sklearn import sklearn_sgd as _sklearn_sgd  # noqa: E402 (it builds on the definitions above)

_FACTORIES["sklearn_sgd"] = _sklearn_sgd  # the estimators' rule: from_config (load, unpickling) knows it
NAMES = ("sgd", "momentum", "nesterov", "adam", "adamw")


def get(name, lr=None):
    """An optimizer by name (one of ``NAMES``, case-insensitive); lr=None takes the factory's default."""
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in NAMES:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {list(NAMES)}")
    if lr is None and key in ("sgd", "momentum", "nesterov"):
        raise ValueError(f"optimizer {key!r} has no default learning rate; pass lr=")
    factory = _FACTORIES["momentum" if key == "nesterov" else key]
    kwargs = {} if lr is None else {"lr": lr}
    return factory(**kwargs, nesterov=True) if key == "nesterov" else factory(**kwargs)


def from_config(cfg):
    """The optimizer that ``config()`` described (the inverse of ``Optimizer.config``)."""
    if not isinstance(cfg, dict):
        raise ValueError(f"an optimizer config is a dict with keys 'name' and 'lr'; got {cfg!r}")
    if cfg.get("name") in transforms.NAMES:  # chain, ema, accumulate (and their links)
        return transforms.from_config(cfg)
    for key in ("name", "lr"):
        if key not in cfg:
            raise ValueError(f"key {key!r} is missing from the optimizer config {cfg!r}")
    factory = _FACTORIES.get(cfg["name"]) if isinstance(cfg["name"], str) else None
    if factory is None:
        raise ValueError(f"unknown optimizer {cfg['name']!r} under key 'name'; expected one of "
                         f"{list(_FACTORIES) + list(transforms._COMPOSITES)}")
    allowed = set(inspect.signature(factory).parameters)
    for key in cfg:
        if key != "name" and key not in allowed:
            raise ValueError(f"unknown key {key!r} in a {cfg['name']!r} optimizer config; expected {sorted(allowed)}")
    lr = schedules.from_config(cfg["lr"]) if isinstance(cfg["lr"], dict) else cfg["lr"]
    return factory(**{k: v for k, v in cfg.items() if k not in ("name", "lr")}, lr=lr)


def choose(lr=None, optimizer=None, previous=None):
    """The optimizer ``fit(lr=..., optimizer=...)`` asks for: ``lr`` alone is :func:`sgd`; a name
    with ``lr`` (or the name's default lr); an :class:`Optimizer` as it is (not with ``lr``); neither:
    ``previous``, which fit then continues with its state."""
    if isinstance(optimizer, Optimizer):
        if lr is not None:
            raise ValueError("give lr= or an optimizer object (optimizer=...), not both: the optimizer has its "
                             f"own lr ({optimizer.lr!r}); use optimizer.with_lr(...) or a name like "
                             "optimizer='adam' with lr=")
        return optimizer
    if optimizer is not None:
        if not isinstance(optimizer, str):
            raise TypeError(f"optimizer must be a portable_bp.optim optimizer or one of {list(NAMES)}; "
                            f"got {type(optimizer).__name__}")
        return get(optimizer, lr)
    if lr is not None:
        return sgd(lr)
    if previous is None:
        raise ValueError("fit needs a learning rate or an optimizer: lr=0.5 (SGD) or optimizer='adam' "
                         "(this network has no optimizer to continue yet)")
    return previous


from . import transforms  # noqa: E402 - the links build on the Optimizer above
from .transforms import (  # noqa: E402
    Transform,
    accumulate,
    averaged,
    chain,
    clip,
    clip_by_global_norm,
    clip_by_norm,
    ema,
    ema_params,
)
