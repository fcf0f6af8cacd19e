"""portable_bp.sklearn: scikit-learn's estimator checks, the same numbers as scikit-learn's own MLP,
its fitted attributes, sample weights, array-API inputs, pickling and parallel model selection."""

import copy
import inspect
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from scipy import sparse  # noqa: E402
from sklearn import config_context  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_validate  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from portable_bp import MLP, _backend, datasets  # noqa: E402
from portable_bp.sklearn import InvalidParameterError, MLPClassifier, MLPRegressor  # noqa: E402

HAS_SAMPLE_WEIGHT = "sample_weight" in inspect.signature(MLP.fit).parameters
HAS_DROPOUT = "dropout" in inspect.signature(MLP.__init__).parameters
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# scikit-learn's defaults on the NumPy backend, and the L-BFGS solver (which weights samples already).
CHECKED = [MLPClassifier(backend="numpy"), MLPRegressor(backend="numpy"),
           MLPClassifier(solver="lbfgs", backend="numpy"), MLPRegressor(solver="lbfgs", backend="numpy")]

_NO_WEIGHTS = ("unequal sample weights with solver='adam' or 'sgd' need MLP.fit(sample_weight=), which the "
               "training engine does not have yet")
SAMPLE_WEIGHT_CHECKS = ["check_sample_weights_not_overwritten", "check_sample_weight_equivalence_on_dense_data",
                        "check_sample_weight_equivalence_on_sparse_data"]


def expected_failed_checks(estimator):
    failed = {}
    if estimator.solver != "lbfgs" and not HAS_SAMPLE_WEIGHT:
        failed.update(dict.fromkeys(SAMPLE_WEIGHT_CHECKS, _NO_WEIGHTS))
        if isinstance(estimator, MLPClassifier):
            failed["check_class_weight_classifiers"] = _NO_WEIGHTS
    if estimator.solver == "lbfgs" and isinstance(estimator, MLPClassifier):
        failed["check_classifiers_multilabel_output_format_predict_proba"] = (
            "L-BFGS overfits the tiny data until a sigmoid output is exactly 0.0; scikit-learn's own MLPClassifier("
            "solver='lbfgs') fails this check the same way")
    return failed


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_array_api_estimator_checks_pass_with_scipy_array_api():
    """scikit-learn's array-API checks (torch CPU, array-api-strict) skip themselves unless
    SCIPY_ARRAY_API=1 is set before SciPy is imported: run them in a fresh interpreter."""
    pytest.importorskip("torch")
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "from sklearn.utils.estimator_checks import check_estimator\n"
        "from portable_bp.sklearn import MLPClassifier, MLPRegressor\n"
        "for est in (MLPClassifier(max_iter=20), MLPRegressor(max_iter=20)):\n"
        "    res = [r for r in check_estimator(est, on_fail=None) if r['check_name'].startswith('check_array_api')]\n"
        "    ran = [r for r in res if r['status'] == 'passed']\n"
        "    bad = [(r['check_name'], repr(r['exception'])) for r in res if r['status'] == 'failed']\n"
        "    assert not bad, bad\n"
        "    print(type(est).__name__, len(ran))\n"
    )
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    counts = dict(line.split() for line in out.stdout.splitlines())
    assert int(counts["MLPClassifier"]) >= 5 and int(counts["MLPRegressor"]) >= 5, out.stdout


# -- the same numbers as scikit-learn's MLP ------------------------------------------------------
def classification(n=200, classes=3, seed=0):
    return make_classification(n_samples=n, n_features=6, n_informative=4, n_classes=classes, random_state=seed)


def max_param_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(p) - np.asarray(q))))
               for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_))


EXACT = dict(hidden_layer_sizes=(8,), shuffle=False, random_state=0, max_iter=20, batch_size=50)


@pytest.mark.parametrize("params, tol", [
    (dict(solver="sgd", learning_rate_init=0.05), 1e-12),  # nesterov momentum
    (dict(solver="sgd", learning_rate_init=0.05, nesterovs_momentum=False, alpha=0.1), 1e-12),
    (dict(solver="sgd", learning_rate_init=0.05, momentum=0.0, activation="tanh"), 1e-12),
    (dict(solver="sgd", learning_rate_init=0.05, learning_rate="invscaling", power_t=0.3), 1e-12),
    # tol so large that every epoch counts as no improvement: the rate drops / the run stops on schedule
    (dict(solver="sgd", learning_rate_init=0.05, learning_rate="adaptive", tol=100.0, n_iter_no_change=1), 1e-12),
    (dict(solver="sgd", learning_rate_init=0.05, tol=100.0, n_iter_no_change=3), 1e-12),
    (dict(solver="sgd", learning_rate_init=0.05, early_stopping=True, batch_size=60, alpha=0.01, max_iter=30), 1e-12),
    # Adam's ε is added to √v̂ (torch's rule), scikit-learn's to √v: the only difference, gone as ε → 0
    (dict(solver="adam"), 1e-6),
    (dict(solver="adam", activation="logistic", learning_rate_init=0.01), 1e-3),
    (dict(solver="adam", activation="logistic", learning_rate_init=0.01, epsilon=1e-14), 1e-9),
    (dict(solver="lbfgs", max_iter=50), 1e-9),
    (dict(solver="lbfgs", max_iter=50, activation="logistic", alpha=1.0), 1e-9),
])
def test_classifier_trains_exactly_as_scikit_learn(params, tol):
    """Same random_state: the same initial weights (init="sklearn"), the same optimizer arithmetic,
    the same alpha, stopping rule, learning-rate rule and validation split; without shuffling (the
    order is drawn differently) the parameters agree to rounding."""
    X, y = classification()
    ours = MLPClassifier(backend="numpy", **{**EXACT, **params}).fit(X, y)
    theirs = SkClassifier(**{**EXACT, **params}).fit(X, y)
    assert max_param_diff(ours, theirs) < tol
    assert ours.n_iter_ == theirs.n_iter_
    if params["solver"] == "lbfgs":
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
        return
    assert ours.t_ == theirs.t_
    if params.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
        assert ours.best_validation_score_ == theirs.best_validation_score_ and ours.best_loss_ is None
    else:
        assert ours.validation_scores_ is None and ours.best_loss_ == min(ours.loss_curve_)
    # loss_curve_ is scikit-learn's: each batch's loss (with its L2 term) as the step computed it, weighted
    # by the batch's size (fit(running_cost=True)); as exact as the parameters
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10 if tol <= 1e-12 else 10 * tol)


@pytest.mark.parametrize("params", [
    dict(solver="lbfgs", max_iter=50),
    dict(solver="sgd", learning_rate_init=0.01, early_stopping=True, batch_size=60, max_iter=30),
])
def test_multi_output_regressor_trains_exactly_as_scikit_learn(params):
    X, y = make_regression(n_samples=200, n_features=5, n_targets=3, random_state=0)
    y = y / 100
    ours = MLPRegressor(backend="numpy", **{**EXACT, **params}).fit(X, y)
    theirs = SkRegressor(**{**EXACT, **params}).fit(X, y)
    assert max_param_diff(ours, theirs) < 1e-9
    if params["solver"] == "lbfgs":  # loss_: ½ squared error averaged over samples AND outputs, + the L2 term
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
    else:
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-9)
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_regressor_loss_is_scikit_learns_half_mean_squared_error(alpha):
    """loss_: ½ squared error averaged over samples AND outputs, at the parameters the last step
    started from (one full batch: the step's own forward pass), plus ½ α Σ‖W‖² / n."""
    X, y = make_regression(n_samples=120, n_features=4, n_targets=2, random_state=1)
    kw = dict(hidden_layer_sizes=(6,), max_iter=3, alpha=alpha, batch_size=120, solver="sgd", random_state=0)
    before = MLPRegressor(backend="numpy", **{**kw, "max_iter": 2}).fit(X, y / 50)
    reg = MLPRegressor(backend="numpy", **kw).fit(X, y / 50)
    penalty = 0.5 * alpha * sum(float(np.sum(W**2)) for W in before.coefs_) / 120
    assert reg.loss_ == pytest.approx(0.5 * np.mean((before.predict(X) - y / 50) ** 2) + penalty, rel=1e-10)
    assert reg.loss_curve_ == pytest.approx(SkRegressor(**kw).fit(X, y / 50).loss_curve_, rel=1e-10)


def test_digits_accuracy_close_to_scikit_learn():
    X_tr, X_te, y_tr, y_te = datasets.digits()
    ours = MLPClassifier(max_iter=60, random_state=0, backend="numpy").fit(X_tr, y_tr)
    theirs = SkClassifier(max_iter=60, random_state=0).fit(X_tr, y_tr)
    assert abs(ours.score(X_te, y_te) - theirs.score(X_te, y_te)) < 0.015
    assert ours.score(X_te, y_te) > 0.95


# -- fitted attributes, targets, methods --------------------------------------------------------
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression", "multi-output"])
def test_fitted_attributes_like_scikit_learn(kind):
    if kind in ("binary", "multiclass"):
        X, y = classification(classes=2 if kind == "binary" else 3)
    elif kind == "multilabel":
        X, y = make_multilabel_classification(n_samples=100, n_features=6, n_classes=3, random_state=0)
    else:
        X, y = make_regression(n_samples=100, n_features=6, n_targets=1 if kind == "regression" else 2,
                               random_state=0)
        y = y / 100
    Ours, Theirs = (MLPRegressor, SkRegressor) if "regression" in kind or "output" in kind else (MLPClassifier,
                                                                                                SkClassifier)
    kw = dict(hidden_layer_sizes=(7, 5), max_iter=5, random_state=0)
    ours, theirs = Ours(backend="numpy", **kw).fit(X, y), Theirs(**kw).fit(X, y)
    for name in ("n_layers_", "n_outputs_", "out_activation_", "n_features_in_", "n_iter_", "t_"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_]
    assert len(ours.loss_curve_) == 5 and ours.loss_ == ours.loss_curve_[-1]
    assert ours.predict(X).shape == theirs.predict(X).shape
    if Ours is MLPClassifier:
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)
        assert ours.predict_proba(X).shape == theirs.predict_proba(X).shape
        np.testing.assert_allclose(np.exp(ours.predict_log_proba(X)), ours.predict_proba(X), rtol=1e-12)
        if kind != "multilabel":
            np.testing.assert_allclose(ours.predict_proba(X).sum(axis=1), 1.0, rtol=1e-12)
    assert isinstance(ours.score(X, y), float)


def test_string_labels_column_y_and_float32():
    X, y = classification(n=120)
    labels = np.array(["ant", "bee", "cat"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(10,), max_iter=100, learning_rate_init=0.01, random_state=0,
                        backend="numpy").fit(X.astype(np.float32), labels)
    assert list(clf.classes_) == ["ant", "bee", "cat"] and clf.net_.dtype_name == "float32"
    assert clf.coefs_[0].dtype == np.float32 and clf.predict_proba(X).dtype == np.float32
    assert set(clf.predict(X)) <= set(labels) and clf.score(X, labels) > 0.8
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, backend="numpy", random_state=0)
    with pytest.warns(Warning, match="column-vector"):
        reg.fit(X, y[:, None].astype(float))
    assert reg.predict(X).shape == (120,)  # as scikit-learn: one output -> 1-D


def test_sparse_input_gives_the_dense_result():
    X, y = classification(n=100)
    X[np.abs(X) < 0.8] = 0.0
    kw = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0, backend="numpy", shuffle=False)
    dense = MLPClassifier(**kw).fit(X, y)
    for fmt in (sparse.csr_matrix, sparse.csc_array):
        sp = MLPClassifier(**kw).fit(fmt(X), y)
        np.testing.assert_array_equal(sp.predict_proba(fmt(X)), dense.predict_proba(X))


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu", "sigmoid", "leaky_relu", "elu",
                                        "softplus", "gelu"])
def test_every_activation_learns(activation):
    X, y = datasets.moons(n=300, noise=0.1, seed=0)
    clf = MLPClassifier(hidden_layer_sizes=(16,), activation=activation, learning_rate_init=0.02, max_iter=150,
                        random_state=0, backend="numpy").fit(X[:200], y[:200])
    assert clf.score(X[200:], y[200:]) > (0.8 if activation == "identity" else 0.9)


def test_convergence_stops_on_tol_and_warns_at_max_iter():
    X, y = classification()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        stopped = MLPClassifier(hidden_layer_sizes=(8,), tol=0.5, n_iter_no_change=2, random_state=0,
                                backend="numpy").fit(X, y)
    assert stopped.n_iter_ == 4  # epoch 1 sets best_loss_; 2, 3 and 4 miss it by tol: 3 > n_iter_no_change
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(4\)"):
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=4, random_state=0, backend="numpy").fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=3, random_state=0, backend="numpy").fit(X, y)


def test_verbose_prints_the_iterations(capsys):
    X, y = classification(n=60)
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, verbose=True, random_state=0, backend="numpy").fit(X, y)
    assert "Iteration 2, loss = " in capsys.readouterr().out


def test_warm_start_keeps_the_optimizer_state():
    """Two warm-started fits of 5 epochs are one fit of 10, Adam moments and step count included
    (scikit-learn's warm_start starts a new Adam: its issue #6091)."""
    X, y = classification()
    kw = dict(hidden_layer_sizes=(8,), shuffle=False, random_state=0, backend="numpy")
    ten = MLPClassifier(max_iter=10, **kw).fit(X, y)
    warm = MLPClassifier(max_iter=5, warm_start=True, **kw).fit(X, y).fit(X, y)
    assert max_param_diff(warm, ten) < 1e-14
    assert warm.n_iter_ == 5 and warm.t_ == ten.t_ and len(warm.loss_curve_) == 10
    cold = MLPClassifier(max_iter=5, **kw).fit(X, y).fit(X, y)
    assert max_param_diff(cold, MLPClassifier(max_iter=5, **kw).fit(X, y)) == 0  # no warm start: a new network
    changed = clone(warm).fit(X, y).set_params(learning_rate_init=0.01).fit(X, y)  # new settings: a new Adam
    assert changed.net_.optimizer.lr == 0.01


def test_partial_fit_like_scikit_learn():
    X, y = classification()
    clf = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.05, random_state=0, backend="numpy")
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    for k in range(20):
        rows = slice(50 * (k % 4), 50 * (k % 4) + 50)
        clf.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and clf.t_ == 1000 and len(clf.loss_curve_) == 20  # as scikit-learn counts them
    assert clf.score(X, y) > 0.7
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(X[:5], np.array([0, 1, 2, 3, 1]))
    with pytest.raises(ValueError, match="early_stopping"):
        clone(clf).set_params(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    reg = MLPRegressor(hidden_layer_sizes=(4,), backend="numpy", random_state=0)
    for _ in range(3):
        reg.partial_fit(X, y.astype(float))
    assert reg.t_ == 600 and len(reg.loss_curve_) == 3


@pytest.mark.parametrize("params, error, match", [
    (dict(hidden_layer_sizes=(0,)), ValueError, "hidden_layer_sizes must be > 0"),
    (dict(hidden_layer_sizes="wide"), InvalidParameterError, "hidden_layer_sizes"),
    (dict(activation="swish"), InvalidParameterError, "'activation' parameter"),
    (dict(solver="rmsprop"), InvalidParameterError, "'solver' parameter"),
    (dict(alpha=-1.0), InvalidParameterError, "'alpha' parameter"),
    (dict(learning_rate_init=0), InvalidParameterError, "learning_rate_init"),
    (dict(max_iter=2.5), InvalidParameterError, "max_iter"),
    (dict(batch_size=0), InvalidParameterError, "batch_size"),
    (dict(momentum=1.5), InvalidParameterError, "momentum"),
    (dict(shuffle="yes"), InvalidParameterError, "shuffle"),
    (dict(init="zeros"), InvalidParameterError, "init"),
    (dict(dropout=1.5), InvalidParameterError, "dropout"),
    (dict(dropout=0.2, solver="lbfgs"), ValueError, "stochastic solver"),
    (dict(backend="tensorflow"), ValueError, "backend"),
    (dict(kernel="fft"), ValueError, "kernel"),
    (dict(dtype="float16"), ValueError, "dtype"),
])
def test_bad_parameters_are_reported_at_fit(params, error, match):
    X, y = classification(n=40)
    clf = MLPClassifier(**{"max_iter": 1, "backend": "numpy", **params})  # __init__ never validates (scikit-learn rule)
    with pytest.raises(error, match=match):
        clf.fit(X, y)
    assert issubclass(InvalidParameterError, ValueError) and issubclass(InvalidParameterError, TypeError)
    with pytest.raises(InvalidParameterError, match="'loss' parameter of MLPRegressor"):
        MLPRegressor(loss="huber", backend="numpy").fit(X, y)


# -- sample weights, class weights, dropout -----------------------------------------------------
def test_lbfgs_integer_weights_equal_repeated_samples_and_class_weight():
    X, y = classification(n=80)
    w = np.random.default_rng(0).integers(0, 3, len(y))
    kw = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, random_state=0, backend="numpy")
    weighted = MLPClassifier(**kw).fit(X, y, sample_weight=w)
    repeated = MLPClassifier(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    assert max_param_diff(weighted, repeated) < 1e-8
    theirs = SkClassifier(**{k: v for k, v in kw.items() if k != "backend"}).fit(X, y, sample_weight=w)
    assert max_param_diff(weighted, theirs) < 1e-8
    balanced = MLPClassifier(class_weight="balanced", **kw).fit(X[:50], y[:50])
    assert balanced.n_iter_ > 0


def test_equal_and_zero_sample_weights_without_engine_support():
    """Without MLP.fit(sample_weight=): equal weights c are alpha / c, zero weights drop their samples,
    exactly scikit-learn's meaning; unequal weights ask for the engine's support."""
    X, y = classification(n=100)
    kw = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0, backend="numpy", shuffle=False, batch_size=100)
    twice = MLPClassifier(alpha=0.1, **kw).fit(X, y, sample_weight=np.full(100, 2.0))
    np.testing.assert_allclose(twice.coefs_[0], MLPClassifier(alpha=0.05, **kw).fit(X, y).coefs_[0], rtol=1e-12)
    keep = np.arange(100) % 3 != 0
    zeros = MLPClassifier(**{**kw, "batch_size": "auto"}).fit(X, y, sample_weight=keep.astype(float))
    subset = MLPClassifier(**{**kw, "batch_size": "auto"}).fit(X[keep], y[keep])
    np.testing.assert_allclose(zeros.coefs_[0], subset.coefs_[0], rtol=1e-12)
    if HAS_SAMPLE_WEIGHT:
        MLPClassifier(**kw).fit(X, y, sample_weight=np.arange(100.0) + 1)
    else:
        with pytest.raises(NotImplementedError, match="sample_weight"):
            MLPClassifier(**kw).fit(X, y, sample_weight=np.arange(100.0) + 1)
        with pytest.raises(NotImplementedError, match="sample_weight"):
            MLPClassifier(class_weight={0: 1.0, 1: 2.0, 2: 1.0}, **kw).fit(X, y)


@pytest.mark.skipif(not HAS_SAMPLE_WEIGHT, reason="MLP.fit has no sample_weight yet")
def test_full_batch_integer_weights_equal_repeated_samples():
    X, y = classification(n=60)
    w = np.random.default_rng(1).integers(1, 3, len(y))
    kw = dict(hidden_layer_sizes=(5,), solver="sgd", learning_rate_init=0.1, max_iter=10, random_state=0,
              shuffle=False, backend="numpy")
    weighted = MLPClassifier(batch_size=60, **kw).fit(X, y, sample_weight=w)
    repeated = MLPClassifier(batch_size=int(w.sum()), **kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    assert max_param_diff(weighted, repeated) < 1e-10


def test_dropout_is_passed_to_the_network_or_refused():
    X, y = classification(n=60)
    clf = MLPClassifier(hidden_layer_sizes=(8,), dropout=0.2, max_iter=3, random_state=0, backend="numpy")
    if HAS_DROPOUT:
        clf.fit(X, y)
        np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))  # no dropout when predicting
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), clf.predict_proba(X))
    else:
        with pytest.raises(NotImplementedError, match="dropout"):
            clf.fit(X, y)
    MLPClassifier(hidden_layer_sizes=(8,), dropout=0.0, max_iter=1, backend="numpy").fit(X, y)  # 0: nothing to do


# -- backends and array-API inputs --------------------------------------------------------------
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_every_backend_matches_numpy(backend, solver):
    X, y = classification(n=120)
    kw = dict(hidden_layer_sizes=(8,), max_iter=10, random_state=0, solver=solver)
    ref = MLPClassifier(backend="numpy", **kw).fit(X, y)
    est = MLPClassifier(backend=backend, **kw).fit(X, y)
    assert est.net_.backend == backend and est.net_.dtype_name == "float64"
    np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X), rtol=1e-7, atol=1e-9)
    assert type(est.predict(X)) is np.ndarray and est.n_iter_ == ref.n_iter_


def library_arrays(lib, *arrays):
    if lib == "torch":
        torch = pytest.importorskip("torch")
        return [torch.asarray(a, device="cpu") for a in arrays]
    if _backend.unavailable_reason("jax") is not None:
        pytest.skip("JAX is not installed here")
    import jax.numpy as jnp

    _backend.namespace("jax")  # float64 on, as the backend does
    _backend.resolve_dtype(jnp, "float64", "jax")
    return [jnp.asarray(a) for a in arrays]


@pytest.mark.parametrize("dispatch", [False, True])
@pytest.mark.parametrize("lib", ["torch", "jax"])
def test_torch_and_jax_inputs_train_there_and_predict_there(lib, dispatch, monkeypatch):
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")  # what scikit-learn asks before array_api_dispatch=True
    X, y = classification(n=120)
    Xl, yl = library_arrays(lib, X, y)
    kw = dict(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    with config_context(array_api_dispatch=dispatch):
        clf = MLPClassifier(**kw).fit(Xl, yl)
        assert clf.net_.backend == lib
        proba, labels = clf.predict_proba(Xl), clf.predict(Xl)
        assert _backend.backend_of_array(proba) == lib and _backend.backend_of_array(labels) == lib
        assert isinstance(clf.score(Xl, yl), float)
        assert _backend.backend_of_array(clf.coefs_[0]) == lib
        reg = MLPRegressor(**kw).fit(Xl, yl * 1.0)
        assert _backend.backend_of_array(reg.predict(Xl)) == lib and reg.predict(Xl).shape == (120,)
    ref = MLPClassifier(backend="numpy", **kw).fit(X, y)
    np.testing.assert_allclose(_backend.to_numpy(proba), ref.predict_proba(X), rtol=1e-7, atol=1e-9)
    if dispatch:
        with config_context(array_api_dispatch=True), pytest.raises(ValueError, match="same namespace"):
            clf.predict(X)  # fitted on another library: scikit-learn's rule under dispatch
    else:
        assert type(clf.predict(X)) is np.ndarray  # NumPy in, NumPy out


# -- pickling, copies, parallel model selection -------------------------------------------------
def test_pickle_and_deepcopy_keep_the_model_and_its_optimizer(backend):
    X, y = classification(n=100)
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, shuffle=False, random_state=0, backend=backend).fit(X, y)
    for restored in (pickle.loads(pickle.dumps(clf)), copy.deepcopy(clf)):
        assert restored.net_.backend == backend and restored.net_.optimizer.name == "adam"
        np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
        assert restored.loss_curve_ == clf.loss_curve_
        restored.partial_fit(X, y)  # continues the same Adam: the same next step as the original's
    clf.partial_fit(X, y)
    np.testing.assert_allclose(restored.predict_proba(X), clf.predict_proba(X), rtol=1e-12)
    lbfgs = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5, backend=backend).fit(X, y * 1.0)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(lbfgs)).predict(X), lbfgs.predict(X))


def test_pipeline_grid_search_and_cross_validate_in_two_processes():
    X_tr, X_te, y_tr, y_te = datasets.digits()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=20, random_state=0,
                                                         backend="numpy"))
    grid = GridSearchCV(pipe, {"mlpclassifier__learning_rate_init": [1e-5, 1e-2]}, cv=3, n_jobs=2)
    grid.fit(X_tr[:600], y_tr[:600])
    assert grid.best_params_["mlpclassifier__learning_rate_init"] == 1e-2
    assert grid.score(X_te, y_te) > 0.9
    backends = ["numpy"] + (["jax"] if _backend.unavailable_reason("jax") is None else [])
    for backend in backends:
        est = MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.01, random_state=0,
                            backend=backend)
        out = cross_validate(est, X_tr[:300], y_tr[:300], cv=2, n_jobs=2, return_estimator=True)
        for fitted in out["estimator"]:
            assert fitted.net_.backend == backend and fitted.score(X_te, y_te) > 0.7
