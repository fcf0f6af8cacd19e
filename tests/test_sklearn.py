"""portable_bp.sklearn: scikit-learn's estimator checks, Pipeline, GridSearchCV, partial_fit, JAX."""

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from portable_bp import _backend, datasets  # noqa: E402
from portable_bp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# The default parameters, on the NumPy backend (about 10 s for the ~110 checks of both).
CHECKED = [MLPClassifier(backend="numpy"), MLPRegressor(backend="numpy")]

# Every check passes with these estimators, so nothing is marked expected-to-fail. (The two
# array-API-input checks skip themselves unless SCIPY_ARRAY_API=1: the estimators take and
# return NumPy arrays and run the backend inside, so they do not set the array_api_support tag.)
EXPECTED_FAILED = {"MLPClassifier": {}, "MLPRegressor": {}}


def expected_failed_checks(estimator):
    return EXPECTED_FAILED.get(type(estimator).__name__, {})


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def moons(n=300, seed=0):
    X, y = datasets.moons(n=n, noise=0.15, seed=seed)
    return X, y


def test_classifier_learns_moons_and_probabilities_are_consistent():
    X, y = moons()
    clf = MLPClassifier(hidden_layer_sizes=(16, 16), lr=0.5, epochs=150, backend="numpy", random_state=0)
    assert clf.fit(X[:200], y[:200]) is clf
    assert clf.score(X[200:], y[200:]) > 0.95
    proba = clf.predict_proba(X[200:])
    assert proba.shape == (100, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X[200:]))
    assert clf.n_iter_ == 150 and len(clf.loss_curve_) == 150
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 5


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_classifier_string_labels_multiclass(loss):
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [3, 0], [0, 3]])
    X = np.vstack([c + 0.4 * rng.standard_normal((40, 2)) for c in centres])
    y = np.repeat(np.array(["ant", "bee", "cat"]), 40)
    clf = MLPClassifier(hidden_layer_sizes=8, loss=loss, lr=0.5, epochs=30, backend="numpy", random_state=1)
    clf.fit(X, y)
    assert list(clf.classes_) == ["ant", "bee", "cat"]
    assert clf.net_.sizes == [2, 8, 3]
    assert clf.net_.output_activation == ("softmax" if loss == "cross_entropy" else "sigmoid")
    assert clf.score(X, y) > 0.95
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-12)


def test_pipeline_and_grid_search_on_digits():
    X_tr, X_te, y_tr, y_te = datasets.digits()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), epochs=10, lr=0.1,
                                                         backend="numpy", random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__lr": [0.001, 0.1], "mlpclassifier__hidden_layer_sizes": [(32,)]},
                        cv=3)
    grid.fit(X_tr[:600], y_tr[:600])
    assert grid.best_params_["mlpclassifier__lr"] == 0.1  # 0.001 is far too small for 10 epochs
    assert grid.cv_results_["mean_test_score"].min() < grid.best_score_
    assert grid.score(X_te, y_te) > 0.9


def test_regressor_fits_a_curve_multi_output_and_partial_fit():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (200, 1))
    Y = np.c_[np.sin(X[:, 0]), 0.5 * X[:, 0] ** 2]
    reg = MLPRegressor(hidden_layer_sizes=(20,), lr=0.05, epochs=150, backend="numpy", random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (200, 2)
    assert reg.score(X, Y) > 0.95
    one = clone(reg).fit(X, Y[:, 0])
    assert one.predict(X).shape == (200,)
    inc = clone(reg)
    for _ in range(5):
        inc.partial_fit(X, Y)
    assert inc.n_iter_ == 5 and len(inc.loss_curve_) == 5
    assert inc.loss_curve_[-1] < inc.loss_curve_[0]
    with pytest.raises(ValueError, match="outputs"):
        inc.partial_fit(X, Y[:, 0])


def test_partial_fit_classifier_needs_classes_then_learns():
    X, y = moons()
    clf = MLPClassifier(hidden_layer_sizes=(16,), lr=0.5, backend="numpy", random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    for k in range(20):
        batch = slice(50 * (k % 4), 50 * (k % 4) + 50)
        clf.partial_fit(X[batch], y[batch], classes=[0, 1])
    assert clf.n_iter_ == 20
    assert clf.score(X, y) > 0.85
    with pytest.raises(ValueError, match="not among classes"):
        clf.partial_fit(X[:5], np.array([0, 1, 2, 0, 1]))


def test_same_random_state_same_model_and_pickle_round_trip():
    X, y = moons()
    a = MLPClassifier(hidden_layer_sizes=(8,), epochs=5, backend="numpy", random_state=3).fit(X, y)
    b = MLPClassifier(hidden_layer_sizes=(8,), epochs=5, backend="numpy", random_state=3).fit(X, y)
    c = MLPClassifier(hidden_layer_sizes=(8,), epochs=5, backend="numpy", random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.allclose(a.predict_proba(X), c.predict_proba(X))
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.predict_proba(X), a.predict_proba(X))
    restored.partial_fit(X, y)  # and it keeps training
    assert restored.n_iter_ == 6


@pytest.mark.parametrize("params, error, match", [
    (dict(hidden_layer_sizes=(0,)), ValueError, "positive integers"),
    (dict(hidden_layer_sizes="wide"), ValueError, "positive integers"),
    (dict(activation="swish"), ValueError, "activation"),
    (dict(loss="l1"), ValueError, "cross_entropy"),
    (dict(lr=-1.0), ValueError, "lr"),
    (dict(epochs=2.5), TypeError, "epochs"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(backend="tensorflow"), ValueError, "backend"),
    (dict(kernel="fft"), ValueError, "kernel"),
    (dict(dtype="float16"), ValueError, "dtype"),
])
def test_bad_parameters_are_reported_at_fit(params, error, match):
    X, y = moons(n=40)
    clf = MLPClassifier(**{"epochs": 1, "backend": "numpy", **params})  # __init__ never validates (scikit-learn rule)
    with pytest.raises(error, match=match):
        clf.fit(X, y)


@pytest.mark.skipif(_backend.unavailable_reason("jax") is not None, reason="JAX is not installed here")
def test_estimators_on_jax_match_numpy():
    X, y = moons()
    kw = dict(hidden_layer_sizes=(8,), lr=0.5, epochs=10, random_state=0)
    clf_np = MLPClassifier(backend="numpy", **kw).fit(X, y)
    clf_jax = MLPClassifier(backend="jax", **kw).fit(X, y)
    assert clf_jax.net_.backend == "jax" and clf_jax.net_.dtype_name == "float64"
    np.testing.assert_allclose(clf_jax.predict_proba(X), clf_np.predict_proba(X), rtol=1e-9, atol=1e-12)
    assert clf_jax.score(X, y) == clf_np.score(X, y) > 0.85
    np.testing.assert_allclose(clf_jax.loss_curve_, clf_np.loss_curve_, rtol=1e-9)
    rng = np.random.default_rng(0)
    Xr = rng.uniform(-2, 2, (100, 2))
    yr = np.sin(Xr[:, 0]) + Xr[:, 1]
    rkw = dict(hidden_layer_sizes=(8,), lr=0.05, epochs=20, random_state=0)
    reg_np = MLPRegressor(backend="numpy", **rkw).fit(Xr, yr)
    reg_jax = make_pipeline(StandardScaler(), MLPRegressor(backend="jax", **rkw)).fit(Xr, yr)
    reg_np_pipe = make_pipeline(StandardScaler(), MLPRegressor(backend="numpy", **rkw)).fit(Xr, yr)
    np.testing.assert_allclose(reg_jax.predict(Xr), reg_np_pipe.predict(Xr), rtol=1e-9, atol=1e-12)
    assert reg_np.score(Xr, yr) > 0.8
    restored = pickle.loads(pickle.dumps(clf_jax))
    assert restored.net_.backend == "jax"
    np.testing.assert_array_equal(restored.predict_proba(X), clf_jax.predict_proba(X))
