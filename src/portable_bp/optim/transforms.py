"""Composable links, in the shape of optax's ``combine.chain``: gradient clipping, chains, weight
averaging (EMA) and gradient accumulation, as pure ``(init, update)`` pairs over the parameter tree.

A *transform* maps gradients to gradients (``update(grads, slots, params) -> (grads, slots)``, its
state a tuple of slots, ``()`` for the clips); an *optimizer* (``portable_bp.optim``) turns gradients
into new parameters. :func:`chain` threads the gradients through its transforms and ends with an
optimizer; :func:`ema` and :func:`accumulate` wrap an optimizer. Each gives an ordinary
:class:`~portable_bp.optim.Optimizer`, so ``fit(optimizer=...)``, ``config()`` / ``from_config``,
pickling, ``with_lr`` and checkpoints take them as they take ``adam``:

    clip_by_global_norm(c)  g ← g · min(1, c / (‖g‖ + 1e-6)), ‖g‖ over every parameter together
                            (torch.nn.utils.clip_grad_norm_)
    clip_by_norm(c)         g ← g · c / max(‖g‖, c), per parameter array (Keras ``clipnorm``)
    clip(c)                 g ← min(max(g, −c), c), element-wise (Keras ``clipvalue``)
    chain(t₁, …, tₙ, opt)   g ← tₙ(…t₁(g)); then opt's update
    ema(opt, μ)             opt's update, then a ← p (first update) or a ← μ a + (1 − μ) p (Keras
                            ``use_ema``/``ema_momentum``; no bias correction)
    accumulate(opt, k)      s ← s + g for k calls; at the k-th, opt's update with g = s / k and s ← 0
                            (optax ``MultiSteps``)

The state of a composite is still an :class:`~portable_bp.optim.OptState`: ``step`` and ``lr_scale``
are its optimizer's (so schedules, ``ReduceLROnPlateau`` and ``Training.lr()`` work unchanged), and
``slots`` is the flat tuple of every link's slots in a fixed order — the transforms' in chain order,
then the optimizer's, then a wrapper's own (ema: the average; accumulate: the gradient sum and the
count of calls since the last update). ``Optimizer.layout`` names them ("params": a tree shaped like
the parameters; "scalar": a 0-d array), which is how checkpoints store them.

Only the array API standard is used, through the namespace of the arrays, with no branch on a value
(``where``, ``minimum``, ``clip``): everything traces once under ``jax.jit`` and inside the compiled epoch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import NamedTuple

import array_api_compat

from .. import _checks
from . import Optimizer, OptState, tree_leaves, tree_map

__all__ = ["Transform", "accumulate", "averaged", "chain", "clip", "clip_by_global_norm", "clip_by_norm", "ema",
           "ema_params"]


class Transform(NamedTuple):
    """A link that maps gradients to gradients: ``init(params) -> slots`` (a tuple) and
    ``update(grads, slots, params) -> (grads, slots)``; ``layout`` names the slots (see the module)."""

    name: str
    hyper: dict
    init: Callable
    update: Callable
    layout: tuple = ()

    def config(self):
        """A JSON-able dict ``{"name": ..., **hyper}``."""
        return {"name": self.name, **self.hyper}

    def __reduce__(self):
        return _rebuild_transform, (self.name, self.hyper)


def _rebuild_transform(name, hyper):
    return _TRANSFORMS[name](**hyper)


def _xp(tree):
    return array_api_compat.array_namespace(tree_leaves(tree)[0])


def clip_by_global_norm(max_norm):
    """torch.nn.utils.clip_grad_norm_: ‖g‖ = √(Σ over every parameter of Σ g²); g ← g · min(1, c / (‖g‖ + 1e-6))."""
    c = _checks.real("max_norm", max_norm, 0.0, low_open=True)

    def update(grads, slots, params):
        xp = _xp(grads)
        norm = xp.sqrt(sum(xp.sum(g * g) for g in tree_leaves(grads)))
        factor = xp.minimum(c / (norm + 1e-6), xp.ones_like(norm))
        return tree_map(lambda g: g * factor, grads), slots

    return Transform("clip_by_global_norm", {"max_norm": c}, lambda params: (), update)


def clip_by_norm(max_norm):
    """Keras's ``clipnorm``: each parameter array on its own, g ← g · c / max(‖g‖, c)."""
    c = _checks.real("max_norm", max_norm, 0.0, low_open=True)

    def one(g):
        xp = array_api_compat.array_namespace(g)
        norm = xp.sqrt(xp.sum(g * g))
        return g * c / xp.maximum(norm, xp.full_like(norm, c))

    return Transform("clip_by_norm", {"max_norm": c}, lambda params: (), lambda g, s, p: (tree_map(one, g), s))


def clip(max_value):
    """Keras's ``clipvalue``: every element into [−c, c]."""
    c = _checks.real("max_value", max_value, 0.0, low_open=True)

    def one(g):
        return array_api_compat.array_namespace(g).clip(g, min=-c, max=c)

    return Transform("clip", {"max_value": c}, lambda params: (), lambda g, s, p: (tree_map(one, g), s))


_TRANSFORMS = {"clip_by_global_norm": clip_by_global_norm, "clip_by_norm": clip_by_norm, "clip": clip}


# -- composites: still Optimizers ------------------------------------------------------------------
class Composite(Optimizer):
    """An :class:`Optimizer` made of links (``chain``, ``ema``, ``accumulate``): ``hyper`` holds the
    links themselves; ``config()`` describes them all (nested), and pickling rebuilds them."""

    __slots__ = ()

    def config(self):
        """``{"name": ..., "optimizer": the inner optimizer's config, ...}`` (chain: ``"links"`` too)."""
        cfg = {"name": self.name}
        for key, value in self.hyper.items():
            if key == "links":
                cfg[key] = [t.config() for t in value]
            elif key == "optimizer":
                cfg[key] = value.config()
            else:
                cfg[key] = value
        return cfg

    def with_lr(self, lr):
        """The same links, the innermost optimizer with ``lr``."""
        return _rebuild_composite(self.name, {**self.hyper, "optimizer": self.hyper["optimizer"].with_lr(lr)})

    def __reduce__(self):
        return _rebuild_composite, (self.name, self.hyper)


def _rebuild_composite(name, hyper):
    if name == "chain":
        return chain(*hyper["links"], hyper["optimizer"])
    return _COMPOSITES[name](**hyper)


def _check_optimizer(name, opt):
    if not isinstance(opt, Optimizer):
        raise TypeError(f"{name} must be a portable_bp.optim optimizer (sgd, adam, ... or a chain); got "
                        f"{type(opt).__name__}")
    if opt.layout is None:
        raise TypeError(f"{name} ({opt.name!r}) does not describe its state (its layout is None), so it cannot be "
                        "wrapped: give its Optimizer a layout")
    return opt


def chain(*links):
    """optax's ``chain``: the transforms in order, then the optimizer (the last link).

    ``chain(clip_by_global_norm(1.0), adam(1e-3))`` clips the gradient as torch's ``clip_grad_norm_``
    and then takes Adam's step. The state's ``slots`` are the transforms' slots, then the optimizer's.
    The training step does not fold anything into δ^L for a chain (its ``prescale`` is 1), except
    for a chain of the optimizer alone, which is that optimizer.
    """
    if not links:
        raise ValueError("chain needs at least one link: the optimizer, last (e.g. chain(clip(1.0), adam()))")
    *transforms, opt = links
    for i, t in enumerate(transforms):
        if not isinstance(t, Transform):
            what = "an optimizer: only the last link may be one" if isinstance(t, Optimizer) else type(t).__name__
            raise TypeError(f"chain's link {i} must be a transform (clip_by_global_norm, clip_by_norm, clip); "
                            f"got {what}")
    if isinstance(opt, Transform):
        raise TypeError(f"chain's last link must be an optimizer (sgd, adam, ...); got the transform {opt.name!r}")
    opt = _check_optimizer("chain's last link", opt)
    transforms = tuple(transforms)
    sizes = [len(t.layout) for t in transforms]
    start = sum(sizes)

    def init(params):
        inner = opt.init(params)
        own = [slot for t in transforms for slot in t.init(params)]
        return OptState(inner.step, inner.lr_scale, (*own, *inner.slots))

    def update(grads, state, params):
        slots, new, at = state.slots, [], 0
        for t, n in zip(transforms, sizes):
            grads, s = t.update(grads, slots[at:at + n], params)
            new.extend(s)
            at += n
        params, inner = opt.update(grads, OptState(state.step, state.lr_scale, slots[start:]), params)
        return params, OptState(inner.step, inner.lr_scale, (*new, *inner.slots))

    fold = {} if transforms else {"prescale": opt.prescale, "descend": opt.descend}
    layout = tuple(kind for t in transforms for kind in t.layout) + opt.layout
    return Composite("chain", opt.lr, {"links": transforms, "optimizer": opt}, init, update, layout=layout, **fold)


def ema(optimizer, decay=0.99):
    """Keras's ``use_ema=True, ema_momentum=decay``: after every update of ``optimizer`` the average
    a of the parameters p becomes p at the first update (step 0) and μ a + (1 − μ) p after it,
    μ = ``decay``; no bias correction. The training itself uses p; :func:`averaged` (a network) and
    :func:`ema_params` (the tree) give a. The average is the state's last slot.

    ``accumulate(ema(opt, μ), k)`` averages after each real update; ``ema(accumulate(opt, k), μ)``
    after every mini-batch (as Keras does with ``gradient_accumulation_steps``).
    """
    opt = _check_optimizer("optimizer", optimizer)
    mu = _checks.real("decay", decay, 0.0, 1.0, high_open=True)
    n = len(opt.layout)

    def average(avg, new_params, step):
        xp = array_api_compat.array_namespace(step)
        m = mu * xp.minimum(step, xp.ones_like(step))  # 0 at the first update, μ after (steps are whole numbers)
        return tree_map(lambda a, p: m * a + (1 - m) * p, avg, new_params)

    def wrap(inner_update):
        def update(grads, state, params):
            new_params, inner = inner_update(grads, OptState(state.step, state.lr_scale, state.slots[:n]), params)
            avg = average(state.slots[n], new_params, state.step)
            return new_params, OptState(inner.step, inner.lr_scale, (*inner.slots, avg))

        return update

    def init(params):
        inner = opt.init(params)
        return OptState(inner.step, inner.lr_scale, (*inner.slots, params))

    descend = None if opt.descend is None else wrap(opt.descend)  # sgd keeps its η folded into δ^L
    return Composite("ema", opt.lr, {"decay": mu, "optimizer": opt}, init, wrap(opt.update), opt.prescale, descend,
                     (*opt.layout, "params"))


def accumulate(optimizer, k):
    """optax's ``MultiSteps(optimizer, every_k_schedule=k)``: k calls make one update, of the mean
    of their k gradients; the other calls leave the parameters as they are.

    fit's gradient is the mean over a mini-batch, so ``fit(batch_size=m, optimizer=accumulate(opt,
    k))`` equals ``fit(batch_size=k·m, optimizer=opt)`` when the batches divide evenly (shuffle=False,
    no sample weights: every mini-batch then counts equally, as each of the k·m samples does).
    Otherwise a short last batch counts as one of the k like the others, and a partial sum at the end
    of an epoch is carried over: it is part of the state, and the next epoch (or a later fit, or a
    resumed checkpoint) completes it. Nothing is applied at the end of training.

    ``state.step`` counts the real updates (what the optimizer's schedule sees, as in optax); the
    slots end with the gradient sum and the number of calls since the last update (0 … k−1).
    Every call computes the optimizer's update and keeps it only at the k-th (no branch on a value:
    one compiled epoch).
    """
    opt = _check_optimizer("optimizer", optimizer)
    k = _checks.integer("k", k, 1)
    n = len(opt.layout)

    def init(params):
        inner = opt.init(params)
        xp = _xp(params)
        return OptState(inner.step, inner.lr_scale, (*inner.slots, tree_map(xp.zeros_like, params),
                                                     xp.zeros_like(inner.step)))

    def update(grads, state, params):
        xp = array_api_compat.array_namespace(state.step)
        old, total, calls = state.slots[:n], state.slots[n], state.slots[n + 1]
        total = tree_map(lambda s, g: s + g, total, grads)
        new_params, inner = opt.update(tree_map(lambda s: s / k, total), OptState(state.step, state.lr_scale, old),
                                       params)
        emit = calls + 1 >= k  # the k-th call: a 0-d bool, no branch on it
        pick = lambda new, was: xp.where(emit, new, was)
        return tree_map(pick, new_params, params), OptState(
            pick(inner.step, state.step), inner.lr_scale, (*tree_map(pick, tuple(inner.slots), tuple(old)),
                                                            tree_map(lambda s: pick(xp.zeros_like(s), s), total),
                                                            pick(xp.zeros_like(calls), calls + 1)))

    return Composite("accumulate", opt.lr, {"k": k, "optimizer": opt}, init, update,
                     layout=(*opt.layout, "params", "scalar"))


_COMPOSITES = {"chain": chain, "ema": ema, "accumulate": accumulate}


def from_config(cfg):
    """A composite or a transform from its config (``optim.from_config`` sends those here)."""
    from . import from_config as optimizer_from_config

    name = cfg["name"]
    if name in _TRANSFORMS:
        return _build(_TRANSFORMS[name], cfg, {})
    if "optimizer" not in cfg:
        raise ValueError(f"key 'optimizer' is missing from the {name!r} config {cfg!r}")
    inner = optimizer_from_config(cfg["optimizer"])
    if name == "chain":
        links = cfg.get("links")
        if not isinstance(links, list) or not all(isinstance(t, dict) and t.get("name") in _TRANSFORMS for t in links):
            raise ValueError(f"key 'links' of a chain config must be a list of transform configs with names in "
                             f"{sorted(_TRANSFORMS)}; got {links!r}")
        allowed = {"name", "links", "optimizer"}
        _unknown(cfg, allowed)
        return chain(*[from_config(t) for t in links], inner)
    return _build(_COMPOSITES[name], {k: v for k, v in cfg.items() if k != "optimizer"}, {"optimizer": inner})


def _unknown(cfg, allowed):
    for key in cfg:
        if key not in allowed:
            raise ValueError(f"unknown key {key!r} in a {cfg['name']!r} config; expected {sorted(allowed)}")


def _build(factory, cfg, given):
    allowed = set(inspect.signature(factory).parameters) | {"name"}
    _unknown({**cfg, **given}, allowed)
    return factory(**{k: v for k, v in cfg.items() if k != "name"}, **given)


NAMES = tuple(_COMPOSITES) + tuple(_TRANSFORMS)


# -- the averaged weights ------------------------------------------------------------------------
def _average_slot(opt):
    """The index in ``opt``'s state slots of the outermost ema's average, or None."""
    name, hyper = opt.name, opt.hyper
    if not isinstance(opt, Composite):
        return None
    if name == "ema":
        return len(hyper["optimizer"].layout)
    inner = _average_slot(hyper["optimizer"])
    if inner is None:
        return None
    return inner + (sum(len(t.layout) for t in hyper["links"]) if name == "chain" else 0)


def ema_params(optimizer, state):
    """The averaged parameters ``(weights, biases)`` that ``optim.ema`` keeps in ``state`` (anywhere in a
    chain or accumulate); a ValueError when ``optimizer`` has no ema."""
    at = None if not isinstance(optimizer, Optimizer) else _average_slot(optimizer)
    if at is None:
        raise ValueError(f"the optimizer {getattr(optimizer, 'name', optimizer)!r} keeps no moving average of the "
                         "weights: train with optimizer=optim.ema(...)")
    return state.slots[at]


def averaged(net):
    """A new network (``type(net).from_params``, same backend, dtype, kernel; no optimizer) whose
    parameters are the moving average that ``optim.ema`` kept while ``net`` trained: predict or
    evaluate with it, ``optim.averaged(net).predict(X)``."""
    if getattr(net, "optimizer", None) is None:
        raise ValueError("the network has not been trained with an optimizer: fit(..., optimizer=optim.ema(...))")
    weights, biases = ema_params(net.optimizer, net.optimizer_state)
    to = lambda a: None if a is None else _host(a)
    return type(net).from_params([to(W) for W in weights], [to(b) for b in biases], activation=net.activation,
                                 output_activation=net.output_activation, loss=net.loss, backend=net.backend,
                                 device=net.device, dtype=net.dtype_name, kernel=net.kernel)


def _host(a):
    from .._backend import to_numpy

    return to_numpy(a)

