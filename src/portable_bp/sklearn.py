"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor``, drop-in, on any array-API backend.

Same parameter names, meanings and defaults as ``sklearn.neural_network``'s, the same fitted
attributes (``coefs_`` and ``intercepts_`` in its (n_in, n_out) orientation, ``loss_curve_``,
``n_iter_``, ``t_``, ``best_loss_``, ``validation_scores_``, ...), ``partial_fit``,
``predict_proba``; so replacing the import is the whole port::

    from portable_bp.sklearn import MLPClassifier     # was: from sklearn.neural_network import ...
    clf = MLPClassifier(max_iter=60, random_state=0).fit(X, y)

plus ours: ``backend`` ("numpy", "jax", "torch", "cupy", "array_api_strict"), ``device``, ``dtype``,
``kernel``, ``init``, ``dropout``, ``class_weight`` (classifier), and more hidden activations
("leaky_relu", "elu", "softplus", "gelu"). Given a torch, JAX or CuPy array and no ``backend``,
an estimator trains on that library and device, and ``predict`` answers in the library of the X
it is given. Fitted estimators pickle and deep-copy on every backend.

How scikit-learn's training maps onto :meth:`portable_bp.MLP.fit` (see docs/sklearn.md):

* the network: sizes [n_features, *hidden_layer_sizes, n_outputs]; softmax + cross-entropy for
  multiclass, one sigmoid + cross-entropy per output for binary and multilabel, identity + the
  quadratic cost for regression; ``init="sklearn"`` draws the initial weights exactly as
  scikit-learn does (Glorot-uniform from ``random_state``), so the same ``random_state`` gives the
  same initial network;
* ``alpha``: scikit-learn adds alpha·W / batch_size to each batch's mean weight gradient;
  ``fit(l2=λ)`` adds (λ/n)·W with n the training samples, so λ = alpha · n / batch_size (a last,
  shorter batch gets alpha / batch_size, where scikit-learn uses alpha / its length);
* one table, ``_RULES``, maps (solver, learning_rate) to an optimizer of :mod:`portable_bp.optim`
  and to what happens at the end of an epoch: ``_EpochEnd`` is scikit-learn's end of an iteration
  (loss_curve_, t_, the tol / n_iter_no_change test on the training loss or the validation score,
  invscaling, adaptive) as a :class:`portable_bp.train.Callback`;
* ``solver="lbfgs"``: ``scipy.optimize.minimize(method="L-BFGS-B")`` on the flattened parameters,
  with scikit-learn's loss and gradient (BP1–BP4, mean over the samples, plus the alpha term).

Known differences, all documented in docs/sklearn.md: ``loss_curve_`` holds the training loss
after each epoch (scikit-learn's is the mean of the batch losses during it); the shuffling order
is drawn from ``random_state`` differently; Adam's ε is added to √v̂ as in PyTorch (scikit-learn
adds it to √v); sparse X is densified for each fit and predict.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable
from typing import NamedTuple

import array_api_compat
import numpy as np

try:
    import scipy.optimize
    import scipy.sparse
    from sklearn import get_config
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state, column_or_1d
    from sklearn.utils.class_weight import compute_sample_weight
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'portable_bp.sklearn needs scikit-learn >= 1.6 and SciPy: pip install "portable_bp[sklearn]"'
    ) from exc

from . import _backend, optim, train
from .activations import ALIASES as _ACTIVATION_ALIASES
from .activations import DERIVATIVES
from .backprop import bp1, bp2, bp3, bp4, cost_per_sample, forward
from .initializers import INITS
from .mlp import MLP

__all__ = ["InvalidParameterError", "MLPClassifier", "MLPRegressor"]

_STOCHASTIC = ("sgd", "adam")
_SEED_MAX = np.iinfo(np.int32).max
_NO_Y = "no_validation"  # scikit-learn's marker for "X only"
#: the network's output activation -> scikit-learn's name for it (``out_activation_``)
_OUT_NAMES = {"softmax": "softmax", "sigmoid": "logistic", "identity": "identity"}


class InvalidParameterError(ValueError, TypeError):
    """A parameter has a bad type or value (scikit-learn's exception of the same name: both a
    ValueError and a TypeError)."""


# -- the optimizers and learning-rate rules: one table --------------------------------------------
def _sklearn_sgd(lr, momentum, nesterov):
    """scikit-learn's SGD with momentum, which keeps the *rate-scaled* velocity:
    v ← μ v − η g;  p ← p + v  (nesterov: p ← p + μ v − η g).

    At a constant η it equals torch's rule (``optim.momentum``: v ← μ v + g; p ← p − η v), which
    is what ``learning_rate="constant"`` uses. When η changes (invscaling, adaptive) the two differ:
    torch's applies the new η to the whole accumulated velocity, scikit-learn's only to new gradients.
    """
    lr = float(lr)
    tree_map = optim.tree_map

    def update(grads, state, params):
        eta = lr * state.lr_scale
        (v,) = state.slots
        v = tree_map(lambda v, g: momentum * v - eta * g, v, grads)
        d = tree_map(lambda v, g: momentum * v - eta * g, v, grads) if nesterov else v
        new_params = tree_map(lambda p, d: p + d, params, d)
        return new_params, optim.OptState(state.step + 1, state.lr_scale, (v,))

    init = optim.momentum(lr).init  # step 0, scale 1, one zero slot shaped like the parameters
    return optim.Optimizer("sklearn_sgd", lr, {"momentum": float(momentum), "nesterov": bool(nesterov)}, init,
                           update)


def _optimizer_from_config(cfg):
    if cfg["name"] == "sklearn_sgd":
        return _sklearn_sgd(cfg["lr"], cfg["momentum"], cfg["nesterov"])
    return optim.from_config(cfg)


def _adam(est):
    return optim.adam(est.learning_rate_init, beta1=est.beta_1, beta2=est.beta_2, eps=est.epsilon)


def _constant_sgd(est):
    if est.momentum == 0:
        return optim.sgd(est.learning_rate_init)
    if est.momentum < 1:  # torch's rule; equal to scikit-learn's at a constant rate
        return optim.momentum(est.learning_rate_init, beta=est.momentum, nesterov=bool(est.nesterovs_momentum))
    return _sklearn_sgd(est.learning_rate_init, est.momentum, est.nesterovs_momentum)


def _scheduled_sgd(est):
    return _sklearn_sgd(est.learning_rate_init, est.momentum, est.nesterovs_momentum)


def _invscaling(est, lr):
    """After every epoch η = learning_rate_init / (t_ + 1)^power_t, t_ counting the samples seen
    (scikit-learn's SGDOptimizer.iteration_ends; the first epoch runs at learning_rate_init)."""
    return est.learning_rate_init / (est.t_ + 1) ** est.power_t


def _divide_by_5(est, lr):
    """On a plateau (the loss, or validation score, has not improved by tol for more than
    n_iter_no_change epochs) η ← η / 5, and training stops once η is at most 1e-6."""
    return lr / 5.0 if lr > 1e-6 else None


class _Rule(NamedTuple):
    optimizer: Callable  # estimator -> portable_bp.optim optimizer
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


class _EpochEnd(train.Callback):
    """scikit-learn's end of an iteration, after every epoch of ``MLP.fit``: loss_curve_, n_iter_, t_;
    the no-improvement count on the training loss (or on the validation score with early stopping,
    keeping the best parameters); the learning-rate rule; the stop."""

    def __init__(self, est, rule, n_samples, penalty, val):
        self.est, self.rule, self.n_samples, self.penalty, self.val = est, rule, n_samples, penalty, val
        self.stopped = False

    def on_train_begin(self, training):
        self.training = training

    def _set_lr(self, lr):
        self.training.scale_lr(lr / self.training.lr())

    def on_epoch_end(self, epoch, logs):
        est, training = self.est, self.training
        loss = est._epoch_loss(logs["cost"], training.params, self.penalty)
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
            self._set_lr(self.rule.at_epoch_end(est, training.lr()))
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.val is not None else "Training loss"
            msg = f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} consecutive epochs."
            lr = None if self.rule.on_plateau is None else self.rule.on_plateau(est, training.lr())
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


# -- parameter checks (at fit, as scikit-learn does; __init__ only stores) -----------------------
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


# -- arrays from other libraries ------------------------------------------------------------------
class _Input(NamedTuple):
    """X's library when it is a torch / JAX / CuPy / array-api-strict array: the estimator trains on
    that library and answers with its arrays, on X's device."""

    lib: str
    xp: object
    device: object


_LIBRARIES = (("torch", array_api_compat.is_torch_array), ("jax", array_api_compat.is_jax_array),
              ("cupy", array_api_compat.is_cupy_array))


def _input_of(X):
    if isinstance(X, np.ndarray) or not array_api_compat.is_array_api_obj(X):
        return None  # NumPy, lists, pandas, sparse: validated and used as NumPy
    for lib, test in _LIBRARIES:
        if test(X):
            return _Input(lib, array_api_compat.array_namespace(X), array_api_compat.device(X))
    xp = array_api_compat.array_namespace(X)
    if array_api_compat.is_array_api_strict_namespace(xp):
        return _Input("array_api_strict", xp, array_api_compat.device(X))
    return None  # another library (Dask, ...): through NumPy


def _host(a):
    """y or sample_weight as NumPy (they may come from any library, as scikit-learn allows)."""
    return a if (a is None or isinstance(a, np.ndarray) or _input_of(a) is None) else _backend.to_numpy(a)


def _take(X, idx):
    if isinstance(X, np.ndarray):
        return X[idx]
    xp = array_api_compat.array_namespace(X)
    return xp.take(X, xp.asarray(idx, device=array_api_compat.device(X)), axis=0)


def _device_token(backend, device):
    """A picklable name for the network's device, from which ``MLP(device=...)`` finds it again."""
    if device is None:
        return None
    if backend == "jax":
        return getattr(device, "platform", None)
    if backend == "cupy":
        return int(getattr(device, "id", device))
    if backend == "torch":
        return str(device)
    return None


def _loss_and_grads(spec, weights, biases, X, Y, w):
    """Σ_x w_x C_x and its gradients (BP1–BP4 with δ^L weighted per sample; w None: all ones),
    from one forward pass: the L-BFGS objective's data term."""
    xp = spec.xp
    zs, activations = forward(spec, weights, biases, X)
    costs = cost_per_sample(spec, zs, activations, Y)
    delta = bp1(spec, zs[-1], activations[-1], Y)
    if w is not None:
        costs, delta = costs * w, delta * xp.reshape(w, (-1, 1))
    L = len(weights)
    grads_w, grads_b = [None] * L, [None] * L
    for l in range(L - 1, -1, -1):
        if l < L - 1:
            delta = bp2(spec, weights[l + 1], delta, zs[l], activations[l + 1])
        grads_w[l] = bp4(spec, delta, activations[l])
        grads_b[l] = bp3(spec, delta)
    return xp.sum(costs), grads_w, grads_b


# -- the estimators -------------------------------------------------------------------------------
class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, network, solvers, pickling."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, backend=None, device=None, dtype=None,
                 kernel="matmul", init="sklearn", dropout=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.kernel = kernel
        self.init = init
        self.dropout = dropout

    # -- checks ------------------------------------------------------------------------------
    def _check_params(self):
        _hidden_sizes(self)
        activations = set(DERIVATIVES) | set(_ACTIVATION_ALIASES)
        _check_choice(self, "activation", activations)
        _check_choice(self, "solver", {"lbfgs", "sgd", "adam"})
        _check_choice(self, "learning_rate", {"constant", "invscaling", "adaptive"})
        _check_real(self, "alpha", 0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            _check_real(self, "batch_size", 1, integer=True)
        _check_real(self, "learning_rate_init", 0, lo_open=True)
        _check_real(self, "power_t", 0)
        _check_real(self, "max_iter", 1, integer=True)
        _check_real(self, "tol", 0)
        _check_real(self, "momentum", 0, 1)
        _check_real(self, "validation_fraction", 0, 1, hi_open=True)
        _check_real(self, "beta_1", 0, 1, hi_open=True)
        _check_real(self, "beta_2", 0, 1, hi_open=True)
        _check_real(self, "epsilon", 0, lo_open=True)
        _check_real(self, "n_iter_no_change", 1, integer=True, allow_inf=True)
        _check_real(self, "max_fun", 1, integer=True)
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise _bad(self, name, "an instance of 'bool'", getattr(self, name))
        if self.init != "sklearn":
            _check_choice(self, "init", {"sklearn", *INITS})
        if self._dropout_rate() and self.solver == "lbfgs":
            raise ValueError("dropout needs a stochastic solver ('adam' or 'sgd'): L-BFGS needs a deterministic "
                             "loss")

    def _dropout_rate(self):
        d = self.dropout
        if d is None:
            return 0.0
        rates = [d] if isinstance(d, numbers.Real) else list(d)
        for r in rates:
            if isinstance(r, bool) or not isinstance(r, numbers.Real) or not 0 <= r < 1:
                raise _bad(self, "dropout", "None, a float in [0, 1) or one per hidden layer", d)
        return max(rates, default=0.0)

    def _network_kwargs(self, inp, X):
        """MLP's keyword arguments: activations and cost by subclass; backend and device from the
        parameters, else from X's library; dtype from the parameter, else X's (float32 stays)."""
        backend = self.backend if self.backend is not None else (inp.lib if inp is not None else None)
        device = self.device
        if device is None and inp is not None and backend == inp.lib:
            device = inp.device
            if inp.lib == "jax":  # the default device: let the arrays stay uncommitted, as MLP does
                import jax

                device = None if device == jax.devices()[0] else device
        dtype = self.dtype
        if dtype is None:
            dtype = "float32" if "float32" in str(X.dtype) else "float64"
        kwargs = dict(activation=_ACTIVATION_ALIASES.get(self.activation, self.activation), backend=backend,
                      device=device, dtype=dtype, kernel=self.kernel)
        if self._dropout_rate():
            kwargs["dropout"] = self.dropout
        return kwargs

    # -- inputs ------------------------------------------------------------------------------
    def _validate_X(self, X, reset, y=_NO_Y):
        """(X, y) checked: NumPy (dense: sparse X is densified) through scikit-learn's
        validate_data, or an array of another library checked where it lives (no host copy)."""
        inp = _input_of(X)
        if inp is None or y is None:
            kwargs = dict(accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32), reset=reset)
            if y is _NO_Y:
                X = validate_data(self, X, **kwargs)
            else:
                X, y = validate_data(self, X, y, multi_output=True, y_numeric=not is_classifier(self), **kwargs)
            if scipy.sparse.issparse(X):
                X = X.toarray()
            return X, y, None
        xp = inp.xp
        if X.ndim != 2:
            raise ValueError(f"Expected a 2D array, got a {X.ndim}D array of {inp.lib} instead")
        if X.shape[0] < 1:
            raise ValueError(f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a minimum of 1 is required.")
        if not xp.isdtype(X.dtype, "real floating"):
            X = xp.astype(X, xp.float64)
        if reset:
            self.n_features_in_ = X.shape[1]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input.")
        if y is not _NO_Y:
            y = np.asarray(y)
            if y.shape[0] != X.shape[0]:
                raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                                 f"[{X.shape[0]}, {y.shape[0]}]")
            if not is_classifier(self):
                y = y.astype(np.float64)
        return X, y, inp

    def _sample_weight(self, sample_weight, n):
        if sample_weight is None:
            return None
        sw = np.asarray(_host(sample_weight), dtype=np.float64)
        if sw.ndim == 0:
            sw = np.full(n, float(sw))
        if sw.shape != (n,):
            raise ValueError(f"sample_weight.shape == {sw.shape}, expected ({n},)!")
        if not np.all(np.isfinite(sw)):
            raise ValueError("sample_weight contains NaN or infinity")
        if not np.any(sw):
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return sw

    # -- fitting ---------------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False):
        self._check_params()
        first = not hasattr(self, "net_") or not (self.warm_start or incremental)
        X, Y, y_out, inp = self._validate_input(X, _host(y), incremental, reset=first)
        sw = self._class_weighted(self._sample_weight(sample_weight, X.shape[0]), y_out)
        rs = check_random_state(self.random_state)
        if first:
            self._initialize(X, Y, inp, rs)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs per sample but the network was fitted with "
                             f"{self.n_outputs_}")
        self._fit_lib = None if inp is None else inp.lib
        if self.solver in _STOCHASTIC:
            self._fit_stochastic(X, Y, y_out, sw, incremental, rs)
        else:
            self._fit_lbfgs(X, Y, sw)
        return self

    def _class_weighted(self, sw, y):
        return sw

    def _initialize(self, X, Y, inp, rs):
        """A new network: scikit-learn's _initialize, with the parameters drawn as it draws them for init="sklearn"."""
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_ = Y.shape[1]
        sizes = [X.shape[1], *_hidden_sizes(self), self.n_outputs_]
        self.n_layers_ = len(sizes)
        out = self._output_activation()
        self.out_activation_ = _OUT_NAMES[out]
        kwargs = dict(self._network_kwargs(inp, X), output_activation=out,
                      loss="mse" if out == "identity" else "cross_entropy")
        if self.init == "sklearn":  # Glorot-uniform, exactly scikit-learn's _init_coef draws, in its order
            factor = 2.0 if kwargs["activation"] == "sigmoid" else 6.0
            weights, biases = [], []
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
                bound = np.sqrt(factor / (fan_in + fan_out))
                weights.append(rs.uniform(-bound, bound, (fan_in, fan_out)).T)
                biases.append(rs.uniform(-bound, bound, fan_out))
            self.net_ = MLP.from_params(weights, biases, **kwargs)
        else:
            self.net_ = MLP(sizes, init=self.init, seed=int(rs.randint(_SEED_MAX)), **kwargs)
        self._best_params = self.net_.params
        self._no_improvement_count = 0
        if self.solver in _STOCHASTIC:
            self.loss_curve_ = []
            if self.early_stopping:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
            else:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = None, None, np.inf

    def _fit_stochastic(self, X, Y, y_out, sw, incremental, rs):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        net, alpha = self.net_, float(self.alpha)
        rule = _RULES[(self.solver, self.learning_rate if self.solver == "sgd" else "constant")]
        opt = rule.optimizer(self)
        # partial_fit continues its optimizer (as scikit-learn's); so does a warm-started fit with the
        # same optimizer settings (scikit-learn's starts a new one: its issue #6091)
        keep = net.optimizer is not None and (incremental or (self.warm_start
                                                              and net.optimizer.config() == opt.config()))
        val = None
        if self.early_stopping:
            stratify = Y if (is_classifier(self) and Y.shape[1] == 1) else None
            train_idx, val_idx = train_test_split(np.arange(X.shape[0]), random_state=rs,
                                                  test_size=self.validation_fraction, stratify=stratify)
            if val_idx.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                                 "your dataset.")
            val = (net.to_backend(_take(X, val_idx)), y_out[val_idx], None if sw is None else sw[val_idx])
            X, Y = _take(X, train_idx), Y[train_idx]
            sw = None if sw is None else sw[train_idx]
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                              stacklevel=4)
            batch_size = int(np.clip(self.batch_size, 1, n))
        mean_weight = 1.0 if sw is None else float(np.mean(sw))
        penalty = 0.5 * alpha / batch_size  # the training cost's L2 term is penalty · Σ‖W‖²
        callback = _EpochEnd(self, rule, n, penalty, val)
        extra = {} if sw is None else {"sample_weight": sw}
        self.n_iter_ = 0
        try:
            net.fit(X, Y, epochs=1 if incremental else int(self.max_iter), batch_size=batch_size,
                    optimizer=None if keep else opt, l2=alpha * n / (batch_size * mean_weight), callbacks=[callback],
                    shuffle=bool(self.shuffle), seed=int(rs.randint(_SEED_MAX)), progress=False, **extra)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        except train.DivergenceError as exc:
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             f"values and need to be preprocessed. ({exc})") from exc
        if not incremental and not callback.stopped and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                          "hasn't converged yet.", ConvergenceWarning, stacklevel=4)


    def _epoch_loss(self, cost, params, penalty):
        """scikit-learn's loss_ from the network's training cost: the same for classifiers; for a
        regressor with k outputs scikit-learn averages the squared error over the outputs too, so
        the data term is divided by k (the L2 term is not)."""
        k = self.n_outputs_ if not is_classifier(self) else 1
        if k == 1:
            return float(cost)
        squares = sum(float(np.sum(_backend.to_numpy(W) ** 2)) for W in params[0])
        return (float(cost) - penalty * squares) / k + penalty * squares

    def _validation_score(self, params, X_val, y_val, sw_val):
        out = forward(self.net_.spec, *params, X_val)[1][-1]
        out = _backend.to_numpy(out)
        if not np.all(np.isfinite(out)):
            return np.nan
        return float(self._score_fn(y_val, self._decode(out), sample_weight=sw_val))

    def _fit_lbfgs(self, X, Y, sw):
        """scipy's L-BFGS-B on the flattened parameters (coefs then intercepts, scikit-learn's packing),
        with scikit-learn's objective: mean loss + ½·alpha·Σ‖W‖² / n (weights: weighted mean, / Σw)."""
        net, alpha = self.net_, float(self.alpha)
        xp = net.xp
        Xb, Yb = net.to_backend(X, Y)
        w = None if sw is None else xp.asarray(sw, dtype=net.dtype, device=net.device)
        total = float(X.shape[0]) if sw is None else float(np.sum(sw))
        k = 1 if is_classifier(self) else self.n_outputs_
        shapes = [(W.shape[1], W.shape[0]) for W in net.weights]  # scikit-learn's (n_in, n_out)
        coef_end = np.cumsum([0] + [a * b for a, b in shapes])
        n_coef = coef_end[-1]
        bias_end = n_coef + np.cumsum([0] + [b for _, b in shapes])
        fn = functools.partial(_loss_and_grads, net.spec)
        fn = _backend.jit(fn, net.backend) if net.spec.kernel.jittable else fn
        np_dtype = np.dtype(net.dtype_name)

        def unpack(theta):
            coefs = [theta[coef_end[i]:coef_end[i + 1]].reshape(s) for i, s in enumerate(shapes)]
            intercepts = [theta[bias_end[i]:bias_end[i + 1]] for i in range(len(shapes))]
            ws = [xp.asarray(np.ascontiguousarray(c.T, dtype=np_dtype), device=net.device) for c in coefs]
            bs = [xp.asarray(b.astype(np_dtype).reshape(-1, 1), device=net.device) for b in intercepts]
            return coefs, ws, bs

        def objective(theta):
            coefs, ws, bs = unpack(theta)
            data, grads_w, grads_b = fn(ws, bs, Xb, Yb, w)
            squares = sum(float(np.dot(c.ravel(), c.ravel())) for c in coefs)
            loss = float(_backend.to_numpy(data)) / total / k + 0.5 * alpha * squares / total
            grad = np.concatenate(
                [((_backend.to_numpy(g).T + alpha * c) / total).ravel() for g, c in zip(grads_w, coefs)]
                + [(_backend.to_numpy(g) / total).ravel() for g in grads_b])
            return loss, grad.astype(np.float64)

        curve = []

        def record(intermediate_result):
            curve.append(float(intermediate_result.fun))
            if self.verbose:
                print(f"Iteration {len(curve)}, loss = {curve[-1]:.8f}")

        weights, biases = net.params_numpy()
        theta0 = np.concatenate([W.T.ravel() for W in weights] + [b.ravel() for b in biases]).astype(np.float64)
        res = scipy.optimize.minimize(objective, theta0, method="L-BFGS-B", jac=True, callback=record,
                                      options={"maxfun": int(self.max_fun), "maxiter": int(self.max_iter),
                                               "gtol": float(self.tol)})
        self.n_iter_ = min(int(res.nit), int(self.max_iter))
        if res.status != 0:
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s) (status={res.status}):\n{res.message}.\n\n"
                f"Increase the number of iterations to improve the convergence (max_iter={self.max_iter}).\nYou might "
                "also want to scale the data as shown in:\n    https://scikit-learn.org/stable/modules/"
                "preprocessing.html", ConvergenceWarning, stacklevel=4)
        if not np.all(np.isfinite(res.x)):
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large values "
                             "and need to be preprocessed.")
        self.loss_ = float(res.fun)
        self.loss_curve_ = curve
        _, net.weights, net.biases = unpack(res.x)

    # -- prediction ------------------------------------------------------------------------------
    def _forward(self, X, method):
        """The network's outputs (a backend array) and X's library, after scikit-learn's checks."""
        check_is_fitted(self, "net_")
        inp = _input_of(X)
        if get_config().get("array_api_dispatch", False):
            fitted = getattr(self, "_fit_lib", None)
            if (None if inp is None else inp.lib) != fitted:
                raise ValueError(f"Inputs passed to {type(self).__name__}.{method}() must use the same namespace and "
                                 f"the same device as those passed to fit(): fit() had {fitted or 'numpy'} arrays, "
                                 f"this is {'numpy' if inp is None else inp.lib}")
        X, _, inp = self._validate_X(X, reset=False)
        return self.net_.predict(X), inp

    @staticmethod
    def _as_output(arr, inp):
        """``arr`` in the library and on the device of the X given (NumPy for NumPy-like inputs)."""
        if inp is None:
            return _backend.to_numpy(arr)
        if isinstance(arr, np.ndarray) and not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
            return arr  # string class labels stay NumPy (as scikit-learn keeps classes_)
        same = _input_of(arr)
        if same is not None and same.xp is inp.xp:
            return arr if same.device == inp.device else array_api_compat.to_device(arr, inp.device)
        return inp.xp.asarray(_backend.to_numpy(arr), device=inp.device)

    # -- fitted attributes in scikit-learn's orientation -----------------------------------------
    def _attribute(self, arrays):
        return [self._as_output(a, None) if getattr(self, "_fit_lib", None) is None else a for a in arrays]

    @property
    def coefs_(self):
        """Weight matrices, (n_in, n_out) each (scikit-learn's orientation: W^l transposed)."""
        if "net_" not in self.__dict__:
            raise AttributeError("coefs_: the estimator is not fitted yet")
        return self._attribute([W.T for W in self.net_.weights])

    @coefs_.setter
    def coefs_(self, coefs):
        net = self.net_
        net.weights = [net.xp.asarray(np.ascontiguousarray(_backend.to_numpy(c).T), dtype=net.dtype, device=net.device)
                       for c in coefs]

    @property
    def intercepts_(self):
        """Bias vectors, (n_out,) each."""
        if "net_" not in self.__dict__:
            raise AttributeError("intercepts_: the estimator is not fitted yet")
        return self._attribute([b[:, 0] for b in self.net_.biases])

    @intercepts_.setter
    def intercepts_(self, intercepts):
        net = self.net_
        net.biases = [net.xp.asarray(_backend.to_numpy(b).reshape(-1, 1), dtype=net.dtype, device=net.device)
                      for b in intercepts]

    def _score(self, X, y, sample_weight=None):
        """Accuracy (classifier) or R² (regressor) of ``predict(X)`` against y, as a float, computed on
        the host whatever the library of X and y (the mixins' score would hand them to scikit-learn)."""
        y_pred = _backend.to_numpy(self.predict(X))
        if np.issubdtype(y_pred.dtype, np.floating) and not np.all(np.isfinite(y_pred)):
            return float("nan")
        return float(self._score_fn(_backend.to_numpy(y), y_pred, sample_weight=_host(sample_weight)))

    def _stochastic(self):
        if self.solver not in _STOCHASTIC:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                                 "stochastic.")
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True
        return tags

    # -- pickling: the network as NumPy parameters and optimizer state, rebuilt on its backend -----
    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_best_params", None)
        net = state.pop("net_", None)
        if net is not None:
            opt = net.optimizer
            state["_net_state"] = dict(
                params=net.params_numpy(), activation=net.activation, output_activation=net.output_activation,
                loss=net.loss, backend=net.backend, dtype=net.dtype_name, kernel=net.kernel,
                device=_device_token(net.backend, net.device),
                optimizer=None if opt is None else opt.config(),
                optimizer_state=None if opt is None else optim.tree_map(_backend.to_numpy, list(net.optimizer_state)))
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_net_state", None)
        super().__setstate__(state)
        if saved is None:
            return
        weights, biases = saved["params"]
        kwargs = dict(activation=saved["activation"], output_activation=saved["output_activation"], loss=saved["loss"],
                      backend=saved["backend"], dtype=saved["dtype"], kernel=saved["kernel"])
        if self._dropout_rate():  # the network was built with the estimator's dropout
            kwargs["dropout"] = self.dropout
        try:
            net = MLP.from_params(weights, biases, device=saved["device"], **kwargs)
        except ValueError:  # that device is not here (a GPU pickle read on a CPU machine): the default one
            net = MLP.from_params(weights, biases, **kwargs)
        if saved["optimizer"] is not None:
            opt = _optimizer_from_config(saved["optimizer"])
            to = lambda a: net.xp.asarray(a, dtype=net.dtype, device=net.device)
            step, lr_scale, slots = saved["optimizer_state"]
            fresh = opt.init(net.params)
            net.optimizer = opt
            net.optimizer_state = fresh._replace(step=to(step), lr_scale=to(lr_scale),
                                                 slots=tuple(optim.tree_map(to, list(slots))))
        self.net_ = net
        self._best_params = net.params


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """scikit-learn's MLPClassifier, trained by :class:`portable_bp.MLP` on any array-API backend.

    Parameters are scikit-learn's (see its documentation; same names, meanings and defaults), and:

    backend : {"numpy", "jax", "torch", "cupy", "array_api_strict"} or None
        Where the network trains. None: X's library for a torch / JAX / CuPy array, else
        ``$PORTABLE_BP_BACKEND`` or numpy.
    device : backend device or None
        None: X's device for an array of the backend's library, else the backend's default.
    dtype : {"float32", "float64"} or None
        None: float32 for float32 X, else float64 (as scikit-learn keeps X's precision).
    kernel : {"matmul", "einsum", "stacked", "loop"}, default "matmul"
    init : "sklearn" or one of portable_bp's initialisers, default "sklearn"
        "sklearn" draws scikit-learn's Glorot-uniform weights and biases from ``random_state``,
        exactly as scikit-learn does; "glorot_uniform", "he_normal", "torch", ... portable_bp's.
    dropout : None, float or one float per hidden layer
        Inverted dropout on the hidden activations while training (needs ``MLP(dropout=)``).
    class_weight : None, "balanced" or dict
        Sample weights by class (scikit-learn's convention), multiplied into ``sample_weight``.

    ``activation`` also takes "sigmoid" (= "logistic"), "leaky_relu", "elu", "softplus", "gelu".
    Fitted attributes: scikit-learn's (``classes_``, ``coefs_``, ``intercepts_``, ``loss_``,
    ``loss_curve_``, ``best_loss_``, ``validation_scores_``, ``best_validation_score_``, ``t_``,
    ``n_iter_``, ``n_layers_``, ``n_outputs_``, ``out_activation_``, ``n_features_in_``,
    ``feature_names_in_``) and ``net_``, the :class:`portable_bp.MLP`.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, backend=None, device=None, dtype=None,
                 kernel="matmul", init="sklearn", dropout=None, class_weight=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun, backend=backend, device=device,
            dtype=dtype, kernel=kernel, init=init, dropout=dropout)
        self.class_weight = class_weight

    _score_fn = staticmethod(accuracy_score)

    def _output_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "sigmoid"

    def _validate_input(self, X, y, incremental, reset):
        X, y, inp = self._validate_X(X, reset, y=y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the previous "
                                     f"call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        Y = self._label_binarizer.transform(y).astype(np.float64)
        return X, Y, y, inp

    def _class_weighted(self, sw, y):
        if self.class_weight is None:
            return sw
        weights = compute_sample_weight(self.class_weight, y)
        return weights if sw is None else sw * weights

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y (class labels; a 2-D indicator matrix for multilabel)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(_BaseMLP._stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y). The first call needs ``classes`` (every label y may take)."""
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            y_host = _host(y)
            self._label_binarizer.fit(y_host if type_of_target(y_host).startswith("multilabel") else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"`classes={classes!r}` is not the same as on last call to partial_fit, was: "
                             f"{self.classes_!r}")
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _decode(self, out):
        """Class labels from the network's (NumPy) outputs."""
        if self.n_outputs_ == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    def predict(self, X):
        """The predicted classes (an indicator matrix for multilabel)."""
        out, inp = self._forward(X, "predict")
        return self._as_output(self._decode(_backend.to_numpy(out)), inp)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict(X)`` against y (subset accuracy for multilabel), a float."""
        return self._score(X, y, sample_weight)

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        return self._proba(X, "predict_proba")

    def _proba(self, X, method):
        out, inp = self._forward(X, method)
        if self.n_outputs_ == 1:
            xp = array_api_compat.array_namespace(out)
            out = xp.concat([1.0 - out, out], axis=1)
        return self._as_output(out, inp)

    def predict_log_proba(self, X):
        """log(predict_proba(X))."""
        proba = self._proba(X, "predict_log_proba")
        xp = array_api_compat.array_namespace(proba)
        with np.errstate(divide="ignore"):
            return xp.log(proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """scikit-learn's MLPRegressor (squared error, identity output), trained by :class:`portable_bp.MLP`.

    Parameters as scikit-learn's, with ``loss="squared_error"`` (its "poisson" is not available
    here), plus ``backend``, ``device``, ``dtype``, ``kernel``, ``init`` and ``dropout`` as for
    :class:`MLPClassifier`. ``loss_`` is scikit-learn's: half the squared error, averaged over the
    samples and the outputs, plus the L2 term.
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, backend=None, device=None,
                 dtype=None, kernel="matmul", init="sklearn", dropout=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun, backend=backend, device=device,
            dtype=dtype, kernel=kernel, init=init, dropout=dropout)
        self.loss = loss

    _score_fn = staticmethod(r2_score)

    def _check_params(self):
        if self.loss != "squared_error":
            if self.loss == "poisson":
                raise NotImplementedError("loss='poisson' (an exp output with the Poisson deviance) is not in "
                                          "portable_bp's tables yet; use loss='squared_error'")
            raise _bad(self, "loss", "a str among ['poisson', 'squared_error']", self.loss)
        super()._check_params()

    def _output_activation(self):
        return "identity"

    def _validate_input(self, X, y, incremental, reset):
        X, y, inp = self._validate_X(X, reset, y=y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = np.asarray(y, dtype=np.float64)
        return X, (Y.reshape(-1, 1) if Y.ndim == 1 else Y), y, inp

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y ((n_samples,) or (n_samples, n_outputs))."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(_BaseMLP._stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y) (a new network on the first call)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _decode(self, out):
        return out.ravel() if out.shape[1] == 1 else out

    def score(self, X, y, sample_weight=None):
        """R² of ``predict(X)`` against y, a float."""
        return self._score(X, y, sample_weight)

    def predict(self, X):
        """Predictions: (n_samples,) for one output, else (n_samples, n_outputs)."""
        out, inp = self._forward(X, "predict")
        if out.shape[1] == 1:
            out = out[:, 0]
        return self._as_output(out, inp)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
