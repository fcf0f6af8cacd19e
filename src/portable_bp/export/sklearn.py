"""To and from scikit-learn: a fitted ``portable_bp.sklearn`` estimator as a fitted
``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor`` (:func:`to_sklearn`), and back
(:func:`from_sklearn`).

What travels: the weights and biases (scikit-learn's (n_in, n_out) orientation is our W^l
transposed), the activations, the classes and label binarizer, the shared hyper-parameters and
the training record (``n_iter_``, ``t_``, ``loss_``, ``loss_curve_``, ``best_loss_``, validation
scores). What does not: the optimizer's state (Adam's moments, the velocity: the two libraries
keep them differently), so a ``partial_fit`` after the crossing starts a fresh optimizer from
the weights; and the parameters only one side has (``backend``, ``dtype``, ``kernel``, ``init``,
``dropout``, ``class_weight``: scikit-learn's estimator gets the others).
"""

from __future__ import annotations

import copy

import numpy as np

#: our activation -> scikit-learn's name; the others scikit-learn's MLP does not have
TO_SKLEARN_ACTIVATION = {"identity": "identity", "sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}
FROM_SKLEARN_ACTIVATION = {v: k for k, v in TO_SKLEARN_ACTIVATION.items()}
#: scikit-learn's out_activation_ -> ours (its "exp", the Poisson loss's, has no counterpart here)
FROM_SKLEARN_OUTPUT = {"softmax": "softmax", "logistic": "sigmoid", "identity": "identity"}

#: fitted attributes copied as they are, when the estimator has them
_RECORD = ("n_iter_", "t_", "loss_", "best_loss_", "best_validation_score_", "n_features_in_",
           "feature_names_in_", "_no_improvement_count")
_LISTS = ("loss_curve_", "validation_scores_")


def _copy_record(src, dst):
    for name in _RECORD:
        if hasattr(src, name):
            setattr(dst, name, getattr(src, name))
    for name in _LISTS:
        value = getattr(src, name, None)
        if hasattr(src, name):
            setattr(dst, name, None if value is None else list(value))


def to_sklearn(est):
    """The fitted ``est`` (portable_bp.sklearn.MLPClassifier / MLPRegressor) as a fitted
    scikit-learn estimator of the same name, whose ``predict`` / ``predict_proba`` equal ``est``'s.

    Its coefficients are NumPy arrays in the network's dtype. scikit-learn's MLP has four hidden
    activations (identity, logistic, tanh, relu): a network with another one raises ValueError
    (``to_onnx`` exports those).
    """
    from sklearn import neural_network
    from sklearn.utils.validation import check_is_fitted

    from ..sklearn import MLPClassifier, MLPRegressor

    if not isinstance(est, (MLPClassifier, MLPRegressor)):
        raise TypeError(f"est must be a portable_bp.sklearn MLPClassifier or MLPRegressor; got {type(est).__name__}")
    check_is_fitted(est, "net_")
    net = est.net_
    if net.activation not in TO_SKLEARN_ACTIVATION:
        raise ValueError(
            f"scikit-learn's MLP has no {net.activation!r} activation (it has {sorted(FROM_SKLEARN_ACTIVATION)}): "
            f"this network cannot become a scikit-learn estimator. Export it with est.net_.to_onnx() instead, or "
            f"train with activation in {sorted(TO_SKLEARN_ACTIVATION)}")
    cls = getattr(neural_network, type(est).__name__)
    shared = cls().get_params()
    params = {k: v for k, v in est.get_params(deep=False).items() if k in shared}
    params["activation"] = TO_SKLEARN_ACTIVATION[net.activation]
    sk = cls(**params)
    weights, biases = net.params_numpy()
    sk.coefs_ = [np.ascontiguousarray(W.T) for W in weights]
    sk.intercepts_ = [np.reshape(b, -1).copy() for b in biases]
    sk.n_layers_, sk.n_outputs_, sk.out_activation_ = est.n_layers_, est.n_outputs_, est.out_activation_
    _copy_record(est, sk)
    if cls is neural_network.MLPClassifier:
        sk.classes_ = est.classes_
        sk._label_binarizer = copy.deepcopy(est._label_binarizer)
    sk._best_coefs = [c.copy() for c in sk.coefs_]
    sk._best_intercepts = [i.copy() for i in sk.intercepts_]
    return sk


def from_sklearn(sk_est, **params):
    """portable_bp's estimator (same class name) from a fitted scikit-learn MLPClassifier /
    MLPRegressor: the same weights and predictions, on the backend (device, dtype, kernel) given
    in ``params`` — any parameter of portable_bp's estimator, overriding scikit-learn's.
    ``partial_fit`` then continues training there, with a fresh optimizer (scikit-learn's state
    is not carried over); ``fit`` starts again from scratch unless ``warm_start=True``.

    ``dtype`` defaults to the coefficients' (float64, or float32 for a network fitted on float32 X).
    """
    from sklearn import neural_network
    from sklearn.utils.validation import check_is_fitted

    from ..mlp import MLP
    from ..sklearn import MLPClassifier, MLPRegressor

    kinds = {neural_network.MLPClassifier: MLPClassifier, neural_network.MLPRegressor: MLPRegressor}
    cls = kinds.get(type(sk_est))
    if cls is None:
        raise TypeError("sk_est must be a fitted sklearn.neural_network.MLPClassifier or MLPRegressor; got "
                        f"{type(sk_est).__name__}")
    check_is_fitted(sk_est, "coefs_")
    if sk_est.out_activation_ not in FROM_SKLEARN_OUTPUT:
        raise ValueError(f"scikit-learn's output activation {sk_est.out_activation_!r} (loss="
                         f"{getattr(sk_est, 'loss', None)!r}) has no counterpart in portable_bp; "
                         f"only loss='squared_error' regressors and classifiers convert")
    mine = cls().get_params()
    kwargs = {k: v for k, v in sk_est.get_params(deep=False).items() if k in mine}
    kwargs["activation"] = FROM_SKLEARN_ACTIVATION[sk_est.activation]
    unknown = set(params) - set(mine)
    if unknown:
        raise TypeError(f"from_sklearn got unexpected parameters {sorted(unknown)}; it takes those of "
                        f"{cls.__name__}")
    kwargs.update(params)
    est = cls(**kwargs)
    est._check_params()
    coefs = [np.asarray(c) for c in sk_est.coefs_]
    dtype = est.dtype or ("float32" if coefs[0].dtype == np.float32 else "float64")
    out = FROM_SKLEARN_OUTPUT[sk_est.out_activation_]
    net_kwargs = dict(activation=kwargs["activation"], output_activation=out,
                      loss="mse" if out == "identity" else "cross_entropy", backend=est.backend, device=est.device,
                      dtype=dtype, kernel=est.kernel)
    if est._dropout_rate():
        net_kwargs["dropout"] = est.dropout
    est.net_ = MLP.from_params([c.T for c in coefs], [np.asarray(b) for b in sk_est.intercepts_], **net_kwargs)
    est.n_layers_, est.n_outputs_, est.out_activation_ = sk_est.n_layers_, sk_est.n_outputs_, sk_est.out_activation_
    _copy_record(sk_est, est)
    if cls is MLPClassifier:
        est.classes_ = sk_est.classes_
        est._label_binarizer = copy.deepcopy(sk_est._label_binarizer)
    for name, default in (("n_iter_", 0), ("t_", 0), ("_no_improvement_count", 0)):
        if not hasattr(est, name):
            setattr(est, name, default)
    if not hasattr(est, "loss_curve_"):  # fitted by L-BFGS: a stochastic partial_fit needs a record to extend
        est.loss_curve_ = []
    if getattr(est, "best_loss_", None) is None and not est.early_stopping:
        est.best_loss_ = np.inf
    if not hasattr(est, "validation_scores_"):
        est.validation_scores_, est.best_validation_score_ = None, None
    est._best_params = est.net_.params
    est._fit_lib = None
    return est
