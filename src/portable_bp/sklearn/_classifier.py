"""scikit-learn's ``MLPClassifier``: labels (binary, multiclass, multilabel) to the network's outputs
and back, class weights, probabilities."""

from __future__ import annotations

import array_api_compat
import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels

from .. import _backend
from ._arrays import _host
from ._base import _BaseMLP


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
    clip_norm : None or float > 0, default None
        Clip the gradient (the L2 term included) to this global norm before every update of "adam" or
        "sgd": g ← g · min(1, clip_norm / (‖g‖ + 1e-6)), torch's ``clip_grad_norm_`` over all the
        parameters together (``optim.chain(optim.clip_by_global_norm(clip_norm), solver)``). None: no
        clipping (scikit-learn's). Refused with solver="lbfgs".
    warmup_steps : int >= 0, default 0
        A linear warmup of the learning rate over the first ``warmup_steps`` updates: η_t = t / W times
        the solver's own rate (which follows ``learning_rate``: constant, invscaling, adaptive) for
        t < W, from 0 at the first update (optax's ``warmup_cosine_decay_schedule`` ramp,
        ``optim.schedules.with_warmup``); t counts updates across ``partial_fit`` calls. 0: no warmup
        (scikit-learn's). Refused (when > 0) with solver="lbfgs".
    class_weight : None, "balanced" or dict
        Sample weights by class (scikit-learn's convention), multiplied into ``sample_weight``.

    ``activation`` also takes "sigmoid" (= "logistic"), "leaky_relu", "elu", "softplus", "gelu".
    Fitted attributes: scikit-learn's (``classes_``, ``coefs_``, ``intercepts_``, ``loss_``,
    ``loss_curve_``, ``best_loss_``, ``validation_scores_``, ``best_validation_score_``, ``t_``,
    ``n_iter_``, ``n_layers_``, ``n_outputs_``, ``out_activation_``, ``n_features_in_``,
    ``feature_names_in_``) and ``net_``, the :class:`portable_bp.MLP`.
    """

    __module__ = "portable_bp.sklearn"  # its public name: reprs and pickles use it

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, backend=None, device=None, dtype=None,
                 kernel="matmul", init="sklearn", dropout=None, clip_norm=None, warmup_steps=0, class_weight=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun, backend=backend, device=device,
            dtype=dtype, kernel=kernel, init=init, dropout=dropout,
            clip_norm=clip_norm, warmup_steps=warmup_steps)
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
