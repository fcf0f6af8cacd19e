"""scikit-learn estimators on the portable MLP: :class:`MLPClassifier` and :class:`MLPRegressor`.

They follow scikit-learn's estimator API (``fit``, ``partial_fit``, ``predict``, ``predict_proba``,
``score``, ``get_params``/``set_params``), so they drop into a ``Pipeline`` or ``GridSearchCV``,
and pass ``sklearn.utils.estimator_checks.parametrize_with_checks`` on the NumPy backend. Unlike
scikit-learn's own MLP they train on any backend the core supports (``backend="jax"``, ``"torch"``,
``"cupy"``, ``"array_api_strict"``, with ``kernel=`` and ``dtype=``): inputs and outputs are NumPy
arrays, the training runs on the backend's arrays.

Training is network.py's mini-batch SGD, ``p ← p − (lr/m) Σ_x ∇C_x`` for ``epochs`` passes over the
data; ``partial_fit`` makes one pass. Needs scikit-learn >= 1.6 (``pip install "portable_bp[sklearn]"``).
"""

from __future__ import annotations

import numbers

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'portable_bp.sklearn needs scikit-learn >= 1.6: pip install "portable_bp[sklearn]"'
    ) from exc

from . import _backend
from .mlp import MLP

__all__ = ["MLPClassifier", "MLPRegressor"]

_SEED_MAX = np.iinfo(np.int32).max


def _hidden_sizes(hidden_layer_sizes):
    if isinstance(hidden_layer_sizes, numbers.Integral) and not isinstance(hidden_layer_sizes, bool):
        hidden_layer_sizes = [hidden_layer_sizes]
    try:
        sizes = list(hidden_layer_sizes)
    except TypeError:
        raise TypeError(
            f"hidden_layer_sizes must be an int or a sequence of ints like (100,) or (30, 10); "
            f"got {hidden_layer_sizes!r}"
        ) from None
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"hidden_layer_sizes must hold positive integers; got {hidden_layer_sizes!r}")
    return [int(s) for s in sizes]


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, the network, SGD, pickling."""

    def __init__(self, hidden_layer_sizes=(100,), activation="sigmoid", loss=None, lr=0.1, epochs=200,
                 batch_size=10, init="scaled_normal", shuffle=True, backend=None, kernel="matmul", dtype="float64",
                 device=None, random_state=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.init = init
        self.shuffle = shuffle
        self.backend = backend
        self.kernel = kernel
        self.dtype = dtype
        self.device = device
        self.random_state = random_state

    # -- subclasses say what the output layer is and how y becomes the network's targets -------
    def _output(self, n_outputs):  # -> (output_activation, loss)
        raise NotImplementedError

    def _new_network(self, n_features, n_outputs, seed):
        output_activation, loss = self._output(n_outputs)
        sizes = [n_features, *_hidden_sizes(self.hidden_layer_sizes), n_outputs]
        return MLP(sizes, activation=self.activation, output_activation=output_activation, loss=loss,
                   init=self.init, backend=self.backend, device=self.device, dtype=self.dtype, kernel=self.kernel,
                   seed=seed)

    def _sgd(self, X, T, epochs, seed):
        """``epochs`` passes of mini-batch SGD on the network; the per-epoch costs go to loss_curve_."""
        batch = self.batch_size
        if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch!r}")
        history = self.net_.fit(X, T, epochs=epochs, batch_size=min(int(batch), X.shape[0]), lr=self.lr,
                                shuffle=bool(self.shuffle), seed=seed, progress=False)
        self.loss_curve_ = list(getattr(self, "loss_curve_", [])) + history["cost"]
        self.n_iter_ = getattr(self, "n_iter_", 0) + epochs
        return self

    def _start(self, X, n_outputs):
        rng = check_random_state(self.random_state)
        self._rng = np.random.default_rng(rng.randint(_SEED_MAX))
        self.loss_curve_, self.n_iter_ = [], 0
        self.net_ = self._new_network(X.shape[1], n_outputs, int(rng.randint(_SEED_MAX)))

    def _train(self, X, T, epochs):
        return self._sgd(X, T, epochs, int(self._rng.integers(_SEED_MAX)))

    def _outputs(self, X):
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return _backend.to_numpy(self.net_.predict(X)).astype(np.float64)

    # -- pickling: the network holds a module and compiled functions; keep NumPy parameters ----
    def __getstate__(self):
        state = dict(super().__getstate__())
        net = state.pop("net_", None)
        if net is not None:
            weights, biases = net.params_numpy()
            state["_net_params"] = dict(weights=weights, biases=biases, activation=net.activation,
                                        output_activation=net.output_activation, loss=net.loss, backend=net.backend,
                                        dtype=net.dtype_name, kernel=net.kernel)
        return state

    def __setstate__(self, state):
        state = dict(state)
        params = state.pop("_net_params", None)
        super().__setstate__(state)
        if params is not None:
            self.net_ = MLP.from_params(device=self.device, **params)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multilayer perceptron classifier trained by backpropagation on any array-API backend.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default (100,)
        Widths of the hidden layers.
    activation : {"sigmoid", "tanh", "relu", "identity"}, default "sigmoid"
        Hidden activation.
    loss : {"cross_entropy", "mse"}, default "cross_entropy"
        Cross-entropy on a softmax output (a single sigmoid unit for two classes), or network.py's
        quadratic cost on sigmoid outputs with one-hot targets.
    lr : float, default 0.1
        Learning rate η of ``p ← p − (η/m) Σ_x ∇C_x``.
    epochs : int, default 200
        Passes over the data in ``fit`` (``partial_fit`` makes one).
    batch_size : int, default 10
        Mini-batch size m (clipped to the number of samples).
    init : {"scaled_normal", "normal"}
        Initial weights N(0, 1/n_in) or network.py's N(0, 1).
    shuffle : bool, default True
        Visit the samples in a new random order every epoch.
    backend : str or None
        "numpy", "array_api_strict", "jax", "torch", "cupy"; None: ``$PORTABLE_BP_BACKEND`` or numpy.
    kernel : {"matmul", "einsum", "stacked", "loop"}, default "matmul"
    dtype : {"float64", "float32"}, default "float64"
    device : backend device or None
    random_state : int, RandomState or None
        Seeds the initial weights and the shuffling.

    Attributes
    ----------
    classes_, n_features_in_, net_ (the fitted :class:`portable_bp.MLP`), loss_curve_ (mean training
    cost after every epoch), n_iter_ (epochs run).
    """

    def _output(self, n_outputs):
        loss = "cross_entropy" if self.loss is None else self.loss
        if loss not in ("cross_entropy", "mse"):
            raise ValueError(f"MLPClassifier's loss must be 'cross_entropy' or 'mse'; got {loss!r}")
        output = "softmax" if (loss == "cross_entropy" and n_outputs > 1) else "sigmoid"
        return output, loss

    def _targets(self, y):
        return self._encoder.transform(y)  # integer labels: the network one-hot encodes them

    def _check_y(self, y):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return y

    def fit(self, X, y):
        """Train a new network for ``epochs`` epochs on (X, y); returns self."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], reset=True)
        y = self._check_y(y)
        self._set_classes(np.unique(y))
        self._start(X, self._n_outputs())
        return self._train(X, self._targets(y), self.epochs)

    def partial_fit(self, X, y, classes=None):
        """One epoch of SGD on (X, y). The first call needs ``classes`` (every label y can take)."""
        first = not hasattr(self, "net_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit (all labels y may take)")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], reset=first)
        y = self._check_y(y)
        if first:
            self._set_classes(np.unique(column_or_1d(classes)))
            self._start(X, self._n_outputs())
        elif classes is not None and not np.array_equal(np.unique(column_or_1d(classes)), self.classes_):
            raise ValueError(f"classes={classes!r} differs from the classes of the first call, {self.classes_}")
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise ValueError(f"y holds labels {unseen} that are not among classes {self.classes_}")
        return self._train(X, self._targets(y), 1)

    def _set_classes(self, classes):
        if len(classes) < 2:
            raise ValueError(f"MLPClassifier needs samples of at least 2 classes in y; got 1 class: {classes}")
        self._encoder = LabelEncoder().fit(classes)
        self.classes_ = self._encoder.classes_

    def _n_outputs(self):
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def predict_proba(self, X):
        """Class probabilities (N, n_classes), columns in the order of ``classes_``."""
        out = self._outputs(X)
        if out.shape[1] == 1:
            p = np.clip(out[:, 0], 0.0, 1.0)
            return np.c_[1.0 - p, p]
        out = np.clip(out, 0.0, None)
        total = out.sum(axis=1, keepdims=True)
        # softmax rows already sum to 1; sigmoid outputs of the quadratic cost are normalised
        return np.where(total > 0, out / np.where(total > 0, total, 1.0), 1.0 / out.shape[1])

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of every sample."""
        proba = self.predict_proba(X)  # first: it raises NotFittedError before fit
        return self.classes_[np.argmax(proba, axis=1)]


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multilayer perceptron regressor (identity output) trained by backpropagation on any backend.

    Parameters as for :class:`MLPClassifier`, except ``loss`` ("mse", the default, or "l1") and the
    output layer, which is linear. ``y`` may be (N,) or (N, n_outputs). Defaults: tanh hidden units,
    ``lr=0.01``.

    Attributes: n_features_in_, n_outputs_, net_, loss_curve_, n_iter_.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="tanh", loss=None, lr=0.01, epochs=200,
                 batch_size=10, init="scaled_normal", shuffle=True, backend=None, kernel="matmul", dtype="float64",
                 device=None, random_state=None):
        super().__init__(hidden_layer_sizes=hidden_layer_sizes, activation=activation, loss=loss, lr=lr,
                         epochs=epochs, batch_size=batch_size, init=init, shuffle=shuffle, backend=backend,
                         kernel=kernel, dtype=dtype, device=device, random_state=random_state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _output(self, n_outputs):
        loss = "mse" if self.loss is None else self.loss
        if loss not in ("mse", "l1"):
            raise ValueError(f"MLPRegressor's loss must be 'mse' or 'l1'; got {loss!r}")
        return "identity", loss

    def _check_y(self, X, y, reset):
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=True, multi_output=True,
                             reset=reset)
        y = np.asarray(y, dtype=np.float64)
        T = y.reshape(-1, 1) if y.ndim == 1 else y
        return X, y, T

    def fit(self, X, y):
        """Train a new network for ``epochs`` epochs on (X, y); returns self."""
        X, y, T = self._check_y(X, y, reset=True)
        self._y_1d = y.ndim == 1
        self.n_outputs_ = T.shape[1]
        self._start(X, self.n_outputs_)
        return self._train(X, T, self.epochs)

    def partial_fit(self, X, y):
        """One epoch of SGD on (X, y) (a new network on the first call)."""
        first = not hasattr(self, "net_")
        X, y, T = self._check_y(X, y, reset=first)
        if first:
            self._y_1d = y.ndim == 1
            self.n_outputs_ = T.shape[1]
            self._start(X, self.n_outputs_)
        elif T.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {T.shape[1]} outputs per sample but the network was fitted with {self.n_outputs_}")
        return self._train(X, T, 1)

    def predict(self, X):
        """Predictions (N,) for a 1-D y in fit, else (N, n_outputs)."""
        out = self._outputs(X)
        return out[:, 0] if self._y_1d else out
