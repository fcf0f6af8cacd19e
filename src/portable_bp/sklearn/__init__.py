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
* one table, ``_solvers._RULES``, maps (solver, learning_rate) to an optimizer of :mod:`portable_bp.optim`
  and to what happens at the end of an epoch: ``_EpochEnd`` is scikit-learn's end of an iteration
  (loss_curve_, t_, the tol / n_iter_no_change test on the training loss or the validation score,
  invscaling, adaptive) as a :class:`portable_bp.train.Callback`;
* ``solver="lbfgs"`` (``_lbfgs``): ``scipy.optimize.minimize(method="L-BFGS-B")`` on the flattened parameters,
  with scikit-learn's loss and gradient (BP1–BP4, mean over the samples, plus the alpha term).

``loss_curve_`` / ``loss_`` are scikit-learn's own: the batch losses (with their L2 terms) as the
steps computed them, from ``MLP.fit(running_cost=True)``.

Known differences, all documented in docs/sklearn.md: the shuffling order is drawn from
``random_state`` differently; Adam's ε is added to √v̂ as in PyTorch (scikit-learn
adds it to √v); sparse X is densified for each fit and predict.

Elsewhere (:mod:`portable_bp.export`, docs/export.md): ``est.to_sklearn()`` gives scikit-learn's own
fitted estimator, :func:`from_sklearn` takes one, and skl2onnx converts these estimators (alone or in a
Pipeline) once it is imported.

One job per module: ``_params`` (parameter checks), ``_solvers`` (the table, ``_EpochEnd``,
scikit-learn's momentum SGD, the stochastic fit), ``_lbfgs``, ``_arrays`` (inputs from other array
libraries, outputs back), ``_pickling``, ``_base`` (the shared estimator), ``_classifier``,
``_regressor``.
"""

try:  # the third-party modules the submodules import (validate_data: scikit-learn >= 1.6)
    import scipy.optimize  # noqa: F401
    import scipy.sparse  # noqa: F401
    from sklearn.utils.validation import validate_data  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'portable_bp.sklearn needs scikit-learn >= 1.6 and SciPy: pip install "portable_bp[sklearn]"'
    ) from exc

from ._classifier import MLPClassifier
from ._params import InvalidParameterError
from ._regressor import MLPRegressor


def from_sklearn(sk_est, **params):
    """Our estimator from a fitted ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``, on the
    ``backend=`` (device, dtype, ...) given: :func:`portable_bp.export.sklearn.from_sklearn`."""
    from ..export.sklearn import from_sklearn as convert

    return convert(sk_est, **params)


__all__ = ["InvalidParameterError", "MLPClassifier", "MLPRegressor", "from_sklearn"]

# skl2onnx learns the estimators when it is (or once it is) imported; importing it here would cost ~1 s
from ..export.skl2onnx import register_when_imported as _register_skl2onnx  # noqa: E402

_register_skl2onnx()
