"""scikit-learn's SGD with momentum, as an optimizer of this package: the estimators train with it
(``learning_rate="invscaling"`` / ``"adaptive"``, or ``momentum=1``), and a checkpoint or pickle of
their network names it, so ``optim.from_config`` (and therefore ``portable_bp.load``) must build it
without scikit-learn installed."""

from __future__ import annotations

from . import Optimizer, OptState, _check_lr, _init, _rate, schedules, tree_map


def sklearn_sgd(lr, momentum=0.9, nesterov=True):
    """scikit-learn's SGD with momentum, which keeps the *rate-scaled* velocity:
    v ← μ v − η g;  p ← p + v  (nesterov: p ← p + μ v − η g), with η = lr · lr_scale.

    At a constant η it equals torch's rule (``optim.momentum``: v ← μ v + g; p ← p − η v), which
    is what ``learning_rate="constant"`` uses. When η changes (invscaling, adaptive: the estimator
    changes ``lr_scale``) the two differ: torch's applies the new η to the whole accumulated
    velocity, scikit-learn's only to new gradients. The estimators' rate rules act through
    ``lr_scale``; ``lr`` is a number, or a schedule (the estimators' ``warmup_steps``: η = lr(step) ·
    lr_scale, the warmup applied, like any change of η here, to the new gradients only).

    Its state is one slot shaped like the parameters (the velocity): ``layout=("params",)``, so
    ``optim.chain`` can put a clip before it (the estimators' ``clip_norm``).
    """
    lr = _check_lr(lr)
    momentum = schedules._real("momentum", momentum, 0.0, 1.0)
    if not (isinstance(nesterov, bool) or getattr(getattr(nesterov, "dtype", None), "kind", None) == "b"):
        raise TypeError(f"nesterov must be a bool; got {nesterov!r}")
    nesterov = bool(nesterov)

    def update(grads, state, params):
        eta = _rate(lr, state)
        (v,) = state.slots
        v = tree_map(lambda v, g: momentum * v - eta * g, v, grads)
        d = tree_map(lambda v, g: momentum * v - eta * g, v, grads) if nesterov else v
        new_params = tree_map(lambda p, d: p + d, params, d)
        return new_params, OptState(state.step + 1, state.lr_scale, (v,))

    return Optimizer("sklearn_sgd", lr, {"momentum": momentum, "nesterov": nesterov}, lambda params: _init(params, 1),
                     update, layout=("params",))
