"""est.to_sklearn() and portable_bp.sklearn.from_sklearn(): scikit-learn's own predict /
predict_proba (its forward pass, an independent implementation) give ours, and a partial_fit after
the crossing matches scikit-learn's own partial_fit."""

import copy
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn import neural_network  # noqa: E402
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression  # noqa: E402

import portable_bp as pbp  # noqa: E402
from portable_bp.sklearn import MLPClassifier, MLPRegressor, from_sklearn  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short fits
        yield


def task(kind):
    if kind == "regression":
        X, y = make_regression(120, 4, n_targets=2, noise=0.1, random_state=0)
        return X, y / 50, MLPRegressor, neural_network.MLPRegressor
    if kind == "multilabel":
        X, y = make_multilabel_classification(120, 4, n_classes=3, random_state=0)
        return X, y, MLPClassifier, neural_network.MLPClassifier
    X, y = make_classification(120, 4, n_informative=3, n_redundant=0, n_classes=2 if kind == "binary" else 3,
                               random_state=0)
    if kind == "multiclass":
        y = np.array(["ant", "bee", "cat"])[y]  # string labels travel too
    return X, y, MLPClassifier, neural_network.MLPClassifier


def outputs(est, X):
    out = [np.asarray(pbp.to_numpy(est.predict(X)))]
    if hasattr(est, "predict_proba"):
        out.append(pbp.to_numpy(est.predict_proba(X)))
    return out


KINDS = ["binary", "multiclass", "multilabel", "regression"]


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("kind", KINDS)
def test_to_sklearn_predicts_as_we_do(kind, activation):
    X, y, ours, theirs = task(kind)
    est = ours(hidden_layer_sizes=(7, 5), activation=activation, max_iter=15, random_state=0, backend="numpy").fit(X, y)
    sk = est.to_sklearn()
    assert type(sk) is theirs and sk.activation == activation
    for want, got in zip(outputs(est, X), outputs(sk, X)):
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
        else:
            np.testing.assert_array_equal(got, want)
    for name in ("n_layers_", "n_outputs_", "out_activation_", "n_features_in_", "n_iter_", "loss_"):
        assert getattr(sk, name) == getattr(est, name), name
    for a, b in zip(sk.coefs_ + sk.intercepts_, est.coefs_ + est.intercepts_):
        np.testing.assert_array_equal(a, b)
    if ours is MLPClassifier:
        np.testing.assert_array_equal(sk.classes_, est.classes_)
    assert sk.get_params()["hidden_layer_sizes"] == (7, 5) and sk.max_iter == 15
    sk.partial_fit(X, y)  # scikit-learn's own training continues on it
    assert len(sk.loss_curve_) == len(est.loss_curve_) + 1


def test_to_sklearn_float32_lbfgs_and_refusals():
    X, y, *_ = task("multiclass")
    est = MLPClassifier(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=20, random_state=0,
                        dtype="float32").fit(X, y)
    sk = est.to_sklearn()
    assert sk.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(sk.predict_proba(X.astype(np.float32)), est.predict_proba(X), rtol=0, atol=1e-6)
    gelu = MLPClassifier(hidden_layer_sizes=(6,), activation="gelu", max_iter=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"no 'gelu' activation.*to_onnx"):
        gelu.to_sklearn()
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MLPClassifier().to_sklearn()


@pytest.mark.parametrize("kind", KINDS)
def test_from_sklearn_on_every_backend(kind, backend):
    X, y, ours, theirs = task(kind)
    sk = theirs(hidden_layer_sizes=(6,), activation="tanh", max_iter=20, random_state=0).fit(X, y)
    est = from_sklearn(sk, backend=backend)
    assert type(est) is ours and est.net_.backend == backend and est.activation == "tanh"
    for want, got in zip(outputs(sk, X), outputs(est, X)):
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
        else:
            np.testing.assert_array_equal(got, want)
    before = np.array(pbp.to_numpy(est.net_.weights[0]))
    kwargs = {"classes": None} if ours is MLPClassifier else {}
    est.partial_fit(X, y, **kwargs)
    assert not np.array_equal(pbp.to_numpy(est.net_.weights[0]), before)
    assert len(est.loss_curve_) == len(sk.loss_curve_) + 1


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_partial_fit_after_from_sklearn_is_sklearns_step(kind, backend):
    """Full-batch SGD without momentum or shuffling: one partial_fit is one gradient step (with the
    L2 term), which scikit-learn's own partial_fit computes independently."""
    X, y, ours, theirs = task(kind)
    sk = theirs(hidden_layer_sizes=(6,), activation="relu", solver="sgd", momentum=0.0, batch_size=len(X),
                shuffle=False, learning_rate_init=0.05, alpha=1e-3, max_iter=10, random_state=0).fit(X, y)
    est = from_sklearn(sk, backend=backend)
    copy.deepcopy(sk).partial_fit(X, y)
    sk.partial_fit(X, y)
    est.partial_fit(X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(pbp.to_numpy(a), b, rtol=0, atol=1e-12)
    assert est.loss_ == pytest.approx(sk.loss_, rel=1e-12)


def test_round_trip_and_bad_input():
    X, y, *_ = task("binary")
    est = MLPClassifier(hidden_layer_sizes=(5,), activation="logistic", max_iter=10, random_state=0).fit(X, y)
    back = from_sklearn(est.to_sklearn(), dtype="float32")
    assert back.net_.dtype_name == "float32" and back.activation == "sigmoid"
    np.testing.assert_allclose(back.predict_proba(X), est.predict_proba(X), rtol=0, atol=1e-6)
    with pytest.raises(TypeError, match="sk_est must be"):
        from_sklearn(est)
    with pytest.raises(TypeError, match="unexpected parameters"):
        from_sklearn(est.to_sklearn(), bakend="numpy")
    poisson = neural_network.MLPRegressor(hidden_layer_sizes=(3,), loss="poisson", max_iter=5).fit(X, np.abs(y) + 1)
    with pytest.raises(ValueError, match="'exp'"):
        from_sklearn(poisson)
    with pytest.raises(TypeError, match="est must be"):
        from portable_bp.export import to_sklearn

        to_sklearn(neural_network.MLPClassifier())
