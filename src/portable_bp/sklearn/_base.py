"""The estimator the classifier and the regressor share: its parameters, the network it builds, the
fit that runs a solver on it, prediction, the fitted attributes in scikit-learn's orientation,
pickling. Each of those jobs beyond the class itself lives in its own module (_params, _solvers,
_lbfgs, _arrays, _pickling)."""

from __future__ import annotations

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import _backend
from ..activations import ALIASES as _ACTIVATION_ALIASES
from ..backprop import forward
from ..mlp import MLP
from ._arrays import _NO_Y, _as_output, _host, _input_of, _validate_X
from ._lbfgs import _fit_lbfgs
from ._params import _check_params, _check_size, _dropout_rate, _hidden_sizes
from ._pickling import _net_from_state, _net_state
from ._solvers import _SEED_MAX, _STOCHASTIC, _fit_stochastic

#: the network's output activation -> scikit-learn's name for it (``out_activation_``)
_OUT_NAMES = {"softmax": "softmax", "sigmoid": "logistic", "identity": "identity", "exp": "exp"}

#: the network's output activation -> its cost (scikit-learn's loss for that output)
_OUT_LOSSES = {"softmax": "cross_entropy", "sigmoid": "cross_entropy", "identity": "mse", "exp": "poisson"}


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, network, solvers, pickling."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, backend=None, device=None, dtype=None,
                 kernel="matmul", init="sklearn", dropout=None, clip_norm=None, warmup_steps=0):
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
        self.clip_norm = clip_norm
        self.warmup_steps = warmup_steps

    # -- checks ------------------------------------------------------------------------------
    def _check_params(self):
        _check_params(self)

    def _dropout_rate(self):
        return _dropout_rate(self)

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
        return _validate_X(self, X, reset, y=y)

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
            _fit_stochastic(self, X, Y, y_out, sw, incremental, rs)
        else:
            _fit_lbfgs(self, X, Y, sw)
        return self

    def _class_weighted(self, sw, y):
        return sw

    def _cost_divisor(self):
        """k in scikit-learn's loss_ = Σ_x C_x / (n k): 1 for the classifier's log-loss (a sum over outputs)."""
        return 1

    def _initialize(self, X, Y, inp, rs):
        """A new network: scikit-learn's _initialize, with the parameters drawn as it draws them for init="sklearn"."""
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_ = Y.shape[1]
        sizes = [X.shape[1], *_hidden_sizes(self), self.n_outputs_]
        _check_size(self, sizes)  # before drawing: a ValueError naming hidden_layer_sizes, not a MemoryError
        self.n_layers_ = len(sizes)
        out = self._output_activation()
        self.out_activation_ = _OUT_NAMES[out]
        kwargs = dict(self._network_kwargs(inp, X), output_activation=out, loss=_OUT_LOSSES[out])
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

    def _validation_score(self, params, X_val, y_val, sw_val):
        out = forward(self.net_.spec, *params, X_val)[1][-1]
        out = _backend.to_numpy(out)
        if not np.all(np.isfinite(out)):
            return np.nan
        return float(self._score_fn(y_val, self._decode(out), sample_weight=sw_val))

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

    _as_output = staticmethod(_as_output)

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

    def to_sklearn(self):
        """This fitted estimator as a fitted ``sklearn.neural_network`` one (same weights, same predictions;
        identity, logistic, tanh or relu hidden layers): :func:`portable_bp.export.sklearn.to_sklearn`."""
        from ..export.sklearn import to_sklearn

        return to_sklearn(self)

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
            state["_net_state"] = _net_state(net)
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_net_state", None)
        super().__setstate__(state)
        if saved is None:
            return
        # the network was built with the estimator's dropout when it has one
        self.net_ = _net_from_state(saved, self.dropout if self._dropout_rate() else None)
        self._best_params = self.net_.params
