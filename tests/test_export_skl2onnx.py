"""skl2onnx.to_onnx() on portable_bp.sklearn's estimators, alone and in a Pipeline: onnxruntime gives
our labels and probabilities, and the same outputs (names, kinds, values) as scikit-learn's own MLP
with the same weights converted by skl2onnx's own converter."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import portable_bp as pbp  # noqa: E402
from portable_bp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

TOL = {np.float32: 1e-5, np.float64: 1e-11}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short fits
        yield


def run(model, X):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [o.name for o in session.get_outputs()], session.run(None, {session.get_inputs()[0].name: X})


def probabilities(out, classes):
    """A ZipMap's list of dicts, or the tensor, as an (N, n_classes) array."""
    if isinstance(out, list):
        return np.array([[row[c] for c in classes] for row in out])
    return out


def task(kind):
    if kind == "regression":
        X, y = make_regression(80, 4, n_targets=2, noise=0.1, random_state=0)
        return X * 10 + 3, y / 50
    if kind == "multilabel":
        return make_multilabel_classification(80, 4, n_classes=3, random_state=0)
    X, y = make_classification(80, 4, n_informative=3, n_redundant=0, n_classes=2 if kind == "binary" else 3,
                               random_state=0)
    return X * 10 + 3, y  # far from standardised: the Pipeline's scaler matters


def fitted(kind, activation="tanh", backend="numpy", max_iter=8):
    X, y = task(kind)
    cls = MLPRegressor if kind == "regression" else MLPClassifier
    est = cls(hidden_layer_sizes=(6, 5), activation=activation, max_iter=max_iter, random_state=0, backend=backend)
    return X, y, make_pipeline(StandardScaler(), est).fit(X, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_classifier_pipeline_equals_ours_and_sklearns(kind, dtype):
    X, y, pipe = fitted(kind)
    est = pipe[-1]
    zipmap = dtype is np.float32 and kind != "multilabel"  # ZipMap takes float only (skl2onnx's own MLP fails too)
    options = None if zipmap else {id(est): {"zipmap": False}}
    model = skl2onnx.to_onnx(pipe, X[:1].astype(dtype), options=options)
    names, (labels, proba) = run(model, X.astype(dtype))
    assert isinstance(proba, list) == zipmap
    np.testing.assert_array_equal(labels, pipe.predict(X))
    np.testing.assert_allclose(probabilities(proba, est.classes_), pipe.predict_proba(X), rtol=0, atol=TOL[dtype])
    if kind == "multilabel" and dtype is np.float64:
        return  # skl2onnx's own converter uses a Binarizer, which onnxruntime cannot run in double
    # scikit-learn's MLP, the same weights, through skl2onnx's own converter
    theirs = make_pipeline(pipe[0], est.to_sklearn())
    their_names, (their_labels, their_proba) = run(
        skl2onnx.to_onnx(theirs, X[:1].astype(dtype), options=None if zipmap else {id(theirs[-1]): {"zipmap": False}}),
        X.astype(dtype))
    assert names == their_names
    np.testing.assert_array_equal(labels, their_labels)
    np.testing.assert_allclose(probabilities(proba, est.classes_), probabilities(their_proba, est.classes_),
                               rtol=0, atol=TOL[dtype])


def test_options_by_type_string_classes_and_every_activation():
    X, y = task("multiclass")
    y = np.array(["ant", "bee", "cat"])[y]
    for activation in ("gelu", "softplus", "leaky_relu", "elu"):  # ones scikit-learn's MLP lacks
        est = MLPClassifier(hidden_layer_sizes=(5,), activation=activation, max_iter=5, random_state=0).fit(X, y)
        model = skl2onnx.to_onnx(est, X[:1], options={MLPClassifier: {"zipmap": False}})
        _, (labels, proba) = run(model, X)
        np.testing.assert_array_equal(labels, est.predict(X))
        np.testing.assert_allclose(proba, est.predict_proba(X), rtol=0, atol=1e-11, err_msg=activation)


@pytest.mark.parametrize("n_targets", [1, 2])
def test_regressor_alone_and_in_a_pipeline(n_targets):
    X, y = task("regression")
    y = y[:, 0] if n_targets == 1 else y
    est = MLPRegressor(hidden_layer_sizes=(6,), activation="relu", max_iter=8, random_state=0).fit(X, y)
    pipe = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(6,), max_iter=8, random_state=0)).fit(X, y)
    for model in (est, pipe):
        for dtype in (np.float32, np.float64):
            _, (out,) = run(skl2onnx.to_onnx(model, X[:1].astype(dtype)), X.astype(dtype))
            assert out.shape == (len(X), n_targets) and out.dtype == dtype
            np.testing.assert_allclose(out, np.reshape(model.predict(X), (len(X), -1)), rtol=0,
                                       atol=TOL[dtype] * max(1.0, float(np.abs(y).max())))


def test_trained_on_every_backend(backend):
    X, y, pipe = fitted("multiclass", backend=backend, max_iter=2)
    assert pipe[-1].net_.backend == backend
    _, (labels, proba) = run(skl2onnx.to_onnx(pipe, X[:1], options={id(pipe[-1]): {"zipmap": False}}), X)
    np.testing.assert_array_equal(labels, pbp.to_numpy(pipe.predict(X)))
    np.testing.assert_allclose(proba, pbp.to_numpy(pipe.predict_proba(X)), rtol=0, atol=1e-11)


def test_registration_needs_no_call_and_costs_no_import():
    """portable_bp.sklearn first, skl2onnx after: registered on skl2onnx's import, and importing the
    estimators alone imports neither skl2onnx nor onnx."""
    code = (
        "import sys, numpy as np\n"
        "from portable_bp.sklearn import MLPRegressor\n"
        "assert 'skl2onnx' not in sys.modules and 'onnx' not in sys.modules, 'imported eagerly'\n"
        "import importlib.util\n"
        "assert importlib.util.find_spec('skl2onnx') is not None  # a probe, as test_docs makes: no import\n"
        "assert 'skl2onnx' not in sys.modules\n"
        "X = np.random.default_rng(0).normal(size=(20, 3))\n"
        "est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3).fit(X, X[:, 0])\n"
        "import skl2onnx, onnxruntime as ort\n"
        "m = skl2onnx.to_onnx(est, X[:1])\n"
        "s = ort.InferenceSession(m.SerializeToString(), providers=['CPUExecutionProvider'])\n"
        "print(float(np.abs(s.run(None, {'X': X})[0][:, 0] - est.predict(X)).max()))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(os.path.dirname(__file__), "..", "src"),
                                                        os.environ.get("PYTHONPATH", "")]),
           "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.strip().splitlines()[-1]) < 1e-11


def test_register_is_idempotent_and_says_when_skl2onnx_is_missing(monkeypatch):
    from portable_bp.export import register_skl2onnx
    from portable_bp.export import skl2onnx as ours

    register_skl2onnx()
    register_skl2onnx()
    monkeypatch.setattr(ours, "_registered", False)
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    with pytest.raises(ImportError, match="pip install skl2onnx"):
        register_skl2onnx()
