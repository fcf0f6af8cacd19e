"""scikit-learn's (solver, learning_rate) table: the optimizers (scikit-learn's momentum SGD among
them), the end-of-epoch rules, the end of an epoch as a :class:`portable_bp.train.Callback`, and
the stochastic fit that runs them through :meth:`portable_bp.MLP.fit`."""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from .. import _backend, optim, train
from ..optim import schedules
from ._arrays import _take

_STOCHASTIC = ("sgd", "adam")
_SEED_MAX = np.iinfo(np.int32).max


def _sklearn_sgd(lr, momentum, nesterov):
    """scikit-learn's SGD with momentum (``optim._sklearn.sklearn_sgd``: an optimizer ``optim.from_config``
    and therefore ``portable_bp.load`` know)."""
    return optim._sklearn.sklearn_sgd(lr, momentum, nesterov)


def _adam(est, lr):
    return optim.adam(lr, beta1=est.beta_1, beta2=est.beta_2, eps=est.epsilon)


def _constant_sgd(est, lr):
    if est.momentum == 0:
        return optim.sgd(lr)
    if est.momentum < 1 and not callable(lr):  # torch's rule; equal to scikit-learn's at a constant rate
        return optim.momentum(lr, beta=est.momentum, nesterov=bool(est.nesterovs_momentum))
    return _sklearn_sgd(lr, est.momentum, est.nesterovs_momentum)  # (a warmup changes the rate: scikit-learn's rule)


def _scheduled_sgd(est, lr):
    return _sklearn_sgd(lr, est.momentum, est.nesterovs_momentum)


def _optimizer(rule, est):
    """The solver's optimizer, with the estimator's extras: ``warmup_steps`` ramps its rate
    (``schedules.with_warmup``, the CLI's --warmup), ``clip_norm`` chains ``clip_by_global_norm``
    before it (the CLI's --clip-norm). Their defaults (0, None) give the solver's optimizer itself."""
    opt = rule.optimizer(est, schedules.with_warmup(est.learning_rate_init, int(est.warmup_steps)))
    return opt if est.clip_norm is None else optim.chain(optim.clip_by_global_norm(est.clip_norm), opt)


def _solver_lr(training):
    """The solver's rate, which its end-of-epoch rules change: the optimizer's lr (a warmup's peak) times
    the scale (``Training.lr()`` itself without a warmup)."""
    lr = training.optimizer.lr
    if not callable(lr):
        return training.lr()
    return lr.peak * float(_backend.to_numpy(training.state.lr_scale))


def _invscaling(est, lr):
    """After every epoch η = learning_rate_init / (t_ + 1)^power_t, t_ counting the samples seen
    (scikit-learn's SGDOptimizer.iteration_ends; the first epoch runs at learning_rate_init)."""
    # exp(-p·log(t + 1)) underflows where (t + 1)^p would overflow (scikit-learn's OverflowError for a large
    # power_t); the rate then stays at the smallest normal float rather than 0, which no rule could scale back
    return max(est.learning_rate_init * math.exp(-est.power_t * math.log1p(est.t_)), sys.float_info.min)


def _divide_by_5(est, lr):
    """On a plateau (the loss, or validation score, has not improved by tol for more than
    n_iter_no_change epochs) η ← η / 5, and training stops once η is at most 1e-6."""
    return lr / 5.0 if lr > 1e-6 else None


class _Rule(NamedTuple):
    optimizer: Callable  # (estimator, lr: a number or a warmup schedule) -> portable_bp.optim optimizer
    at_epoch_end: Callable | None  # (estimator, lr) -> the next epoch's lr
    on_plateau: Callable | None  # (estimator, lr) -> a smaller lr, or None: stop


#: (solver, learning_rate) -> the optimizer and the end-of-epoch rules. Adam ignores learning_rate
#: (as in scikit-learn); a plateau without an ``on_plateau`` rule ends the training.
_RULES = {
    ("adam", "constant"): _Rule(_adam, None, None),
    ("sgd", "constant"): _Rule(_constant_sgd, None, None),
    ("sgd", "invscaling"): _Rule(_scheduled_sgd, _invscaling, None),
    ("sgd", "adaptive"): _Rule(_scheduled_sgd, None, _divide_by_5),
}


def sklearn_loss(batches, alpha, k, n):
    """scikit-learn's ``loss_`` of an epoch from ``fit(running_cost=True)``'s batch records ([size m,
    mean cost c, Σ‖W‖² R, total weight s] per batch, each at the parameters before its step): its
    ``_fit_stochastic`` adds up, per batch, m · (c / k + ½ α R / s) — the batch's loss, with the L2
    term of that batch, weighted by the batch's size — and divides by n."""
    m, c, R, s = batches.T
    return float(np.sum(m * (c / k + 0.5 * alpha * R / s)) / n)


class _EpochEnd(train.Callback):
    """scikit-learn's end of an iteration, after every epoch of ``MLP.fit``: loss_curve_, n_iter_, t_;
    the no-improvement count on the training loss (or on the validation score with early stopping,
    keeping the best parameters); the learning-rate rule; the stop."""

    def __init__(self, est, rule, n_samples, alpha, val):
        self.est, self.rule, self.n_samples, self.alpha, self.val = est, rule, n_samples, alpha, val
        self.k = est._cost_divisor()  # the squared error is averaged over the outputs too
        self.stopped = False

    def on_train_begin(self, training):
        self.training = training

    def _set_lr(self, lr):
        self.training.scale_lr(lr / _solver_lr(self.training))

    def on_epoch_end(self, epoch, logs):
        est, training = self.est, self.training
        loss = sklearn_loss(training.batches, self.alpha, self.k, self.n_samples)
        est.n_iter_ += 1
        est.t_ += self.n_samples
        est.loss_ = loss
        est.loss_curve_.append(loss)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
        if self.val is None:
            if loss > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, loss)
        else:
            score = est._validation_score(training.params, *self.val)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_params = training.params  # arrays are never written in place: no copy
        if self.rule.at_epoch_end is not None:
            self._set_lr(self.rule.at_epoch_end(est, _solver_lr(training)))
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.val is not None else "Training loss"
            msg = f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} consecutive epochs."
            lr = None if self.rule.on_plateau is None else self.rule.on_plateau(est, _solver_lr(training))
            if lr is None:
                if est.verbose:
                    print(msg + " Stopping.")
                training.stop = self.stopped = True
            else:
                if est.verbose:
                    print(msg + f" Setting learning rate to {lr:f}")
                self._set_lr(lr)
                est._no_improvement_count = 0

    def on_train_end(self, training, completed):
        if completed and self.val is not None and self.est._best_params is not None:
            training.params = self.est._best_params  # early stopping ends with the best validation score's


def _fit_stochastic(est, X, Y, y_out, sw, incremental, rs):
    """Adam or SGD for ``est`` (called by ``_BaseMLP._fit``, itself called by fit / partial_fit: the
    warnings' stacklevel=4 names the user's line)."""
    if est.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True")
    net, alpha = est.net_, float(est.alpha)
    rule = _RULES[(est.solver, est.learning_rate if est.solver == "sgd" else "constant")]
    opt = _optimizer(rule, est)
    # partial_fit continues its optimizer (as scikit-learn's); so does a warm-started fit with the
    # same optimizer settings (scikit-learn's starts a new one: its issue #6091)
    keep = net.optimizer is not None and (incremental or (est.warm_start
                                                          and net.optimizer.config() == opt.config()))
    val = None
    if est.early_stopping:
        # scikit-learn stratifies on its boolean indicator y (so a one-member class is named 'True')
        stratify = Y.astype(bool) if (is_classifier(est) and Y.shape[1] == 1) else None
        train_idx, val_idx = train_test_split(np.arange(X.shape[0]), random_state=rs,
                                              test_size=est.validation_fraction, stratify=stratify)
        if val_idx.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                             "your dataset.")
        val = (net.to_backend(_take(X, val_idx)), y_out[val_idx], None if sw is None else sw[val_idx])
        X, Y = _take(X, train_idx), Y[train_idx]
        sw = None if sw is None else sw[train_idx]
    n = X.shape[0]
    if est.batch_size == "auto":
        batch_size = min(200, n)
    else:
        if est.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                          stacklevel=4)
        batch_size = int(np.clip(est.batch_size, 1, n))
    mean_weight = 1.0 if sw is None else float(np.mean(sw))
    l2 = alpha * n / (batch_size * mean_weight)
    if not math.isfinite(l2):
        raise ValueError(f"alpha={alpha!r} is too large: the L2 term alpha / batch_size would overflow float64 on "
                         f"{n} samples; use a smaller alpha")
    callback = _EpochEnd(est, rule, n, alpha, val)
    extra = {} if sw is None else {"sample_weight": sw}
    est.n_iter_ = 0
    try:
        net.fit(X, Y, epochs=1 if incremental else int(est.max_iter), batch_size=batch_size,
                optimizer=None if keep else opt, l2=l2, callbacks=[callback],
                shuffle=bool(est.shuffle), seed=int(rs.randint(_SEED_MAX)), progress=False, running_cost=True,
                **extra)
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.", stacklevel=4)
    except train.DivergenceError as exc:
        _diverged(est, callback, 1 if incremental else int(est.max_iter), n, exc)
    if not incremental and not callback.stopped and est.n_iter_ == est.max_iter:
        warnings.warn(f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the optimization "
                      "hasn't converged yet.", ConvergenceWarning, stacklevel=4)


def _diverged(est, callback, epochs, n, exc):
    """What scikit-learn's loop ends with when the loss turns non-finite: it trains on, every later epoch
    with a NaN loss (and a NaN validation score), which never counts as "no improvement", so it runs
    to max_iter; then early stopping restores the best parameters, and without it the non-finite
    weights raise a ValueError. Here the epoch that diverged and the rest are recorded so, without
    computing them; the ValueError is chained to portable_bp's DivergenceError (epoch and batch)."""
    while est.n_iter_ < epochs:
        est.n_iter_ += 1
        est.t_ += n
        est.loss_ = np.nan
        est.loss_curve_.append(np.nan)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {np.nan:.8f}")
        if callback.val is not None:
            est.validation_scores_.append(np.nan)
            if est.verbose:
                print(f"Validation score: {np.nan:f}")
        est._no_improvement_count = 0
    if callback.val is None:
        raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                         f"values and need to be preprocessed, or learning_rate_init={est.learning_rate_init!r} be "
                         f"too large. ({exc})") from exc
    est.net_.weights, est.net_.biases = est._best_params
