"""Bad input becomes a ValueError/TypeError that names what was expected, before a backend sees it."""

import numpy as np
import pytest

import portable_bp as pbp
from portable_bp import _backend


@pytest.fixture
def net(backend):
    return pbp.MLP([3, 4, 2], activation="sigmoid", output_activation="softmax", loss="cross_entropy",
                   backend=backend, seed=0)


X = np.ones((5, 3))
Y = np.eye(2)[[0, 1, 0, 1, 1]]


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(sizes=[3]), ValueError, "at least an input and an output"),
        (dict(sizes=[3, 0, 2]), ValueError, ">= 1"),
        (dict(sizes=[3, 2.5]), TypeError, "positive integers"),
        (dict(sizes="3,2"), TypeError, "positive integers"),
        (dict(sizes=[3, 2], activation="swish"), ValueError, "unknown activation 'swish'.*sigmoid"),
        (dict(sizes=[3, 2], activation="softmax"), ValueError, "unknown activation"),
        (dict(sizes=[3, 2], output_activation="mish"), ValueError, "unknown output_activation"),
        (dict(sizes=[3, 2], loss="hinge"), ValueError, "unknown loss 'hinge'.*mse"),
        (dict(sizes=[3, 2], loss="cross_entropy", output_activation="tanh"), ValueError, "softmax' or 'sigmoid"),
        (dict(sizes=[3, 2], kernel="fft"), ValueError, "unknown kernel 'fft'.*matmul"),
        (dict(sizes=[3, 2], init="xavier"), ValueError, "unknown init 'xavier'.*scaled_normal"),
        (dict(sizes=[3, 2], dtype="float16"), ValueError, "float32.*float64"),
        (dict(sizes=[3, 2], backend="tensorflow"), ValueError, "unknown backend 'tensorflow'.*numpy"),
        (dict(sizes=[3, 2], backend=3), TypeError, "backend must be a string"),
        (dict(sizes=[3, 2], activation=None), TypeError, "activation must be a string"),
    ],
)
def test_bad_construction(kwargs, error, match):
    sizes = kwargs.pop("sizes")
    with pytest.raises(error, match=match):
        pbp.MLP(sizes, **kwargs)


def test_unavailable_backend_says_what_to_install(monkeypatch):
    real = _backend._probe
    missing = (None, "ModuleNotFoundError: No module named 'cupy'")
    monkeypatch.setattr(_backend, "_probe", lambda name: missing if name == "cupy" else real(name))
    with pytest.raises(ValueError, match=r"not available here.*pip install.*cupy.*Available here"):
        pbp.MLP([2, 1], backend="cupy")


def test_backend_from_environment(monkeypatch):
    monkeypatch.setenv("PORTABLE_BP_BACKEND", "array_api_strict")
    if _backend.unavailable_reason("array_api_strict"):
        pytest.skip("array_api_strict not installed")
    assert pbp.MLP([2, 1]).backend == "array_api_strict"
    monkeypatch.setenv("PORTABLE_BP_BACKEND", "nonsense")
    with pytest.raises(ValueError, match="unknown backend 'nonsense'"):
        pbp.MLP([2, 1])
    assert pbp.MLP([2, 1], backend="numpy").backend == "numpy"  # the argument wins


@pytest.mark.parametrize(
    "bad_X,match",
    [
        (np.ones((5, 4)), r"4 features.*expected shape \(N, 3\)"),
        (np.ones((5, 3, 1)), "must be 2-D"),
        (np.ones((0, 3)), "empty"),
        (np.full((5, 3), np.nan), "NaN or infinity"),
        (np.full((5, 3), np.inf), "NaN or infinity"),
        (np.ones((5, 3), dtype=complex), "real-valued"),
        ([["a", "b", "c"]] * 5, "numeric"),
        ([[1, 2, 3], [1, 2]], "array-like|numeric|ragged"),
    ],
)
def test_bad_X_everywhere(net, bad_X, match):
    for call in (lambda: net.forward(bad_X), lambda: net.predict(bad_X), lambda: net.backprop(bad_X, Y),
                 lambda: net.cost(bad_X, Y), lambda: net.update(bad_X, Y, 0.1),
                 lambda: net.fit(bad_X, Y, epochs=1, batch_size=2, lr=0.1, progress=False)):
        with pytest.raises((ValueError, TypeError), match=match):
            call()


@pytest.mark.parametrize(
    "bad_Y,match",
    [
        (np.ones((4, 2)), "5 samples but Y has 4"),
        (np.ones((5, 3)), r"shape \(N, 2\)"),
        (np.array([0, 1, 2, 0, 1]), r"\[0, 1\]"),
        (np.array([0.5, 1, 0, 0, 1]), "class labels|integer"),
        (np.full((5, 2), np.nan), "NaN or infinity"),
    ],
)
def test_bad_Y(net, bad_Y, match):
    with pytest.raises(ValueError, match=match):
        net.backprop(X, bad_Y)
    with pytest.raises(ValueError, match=match):
        net.fit(X, bad_Y, epochs=1, batch_size=2, lr=0.1, progress=False)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(lr=0), ValueError, "lr must be > 0"),
        (dict(lr=-1.0), ValueError, "lr must be > 0"),
        (dict(lr=float("nan")), ValueError, "lr must be > 0 and finite"),
        (dict(lr="0.1"), TypeError, "lr must be a number"),
        (dict(epochs=0), ValueError, "epochs must be > 0"),
        (dict(epochs=1.5), TypeError, "epochs must be an integer"),
        (dict(batch_size=0), ValueError, "batch_size must be > 0"),
        (dict(batch_size=6), ValueError, "batch_size=6 is larger than the 5 training samples"),
    ],
)
def test_bad_training_settings(net, kwargs, error, match):
    settings = dict(epochs=1, batch_size=2, lr=0.1, progress=False) | kwargs
    before = net.params_numpy()[0]
    with pytest.raises(error, match=match):
        net.fit(X, Y, **settings)
    for a, b in zip(net.params_numpy()[0], before):
        np.testing.assert_array_equal(a, b)  # nothing changed
    if "lr" in kwargs:
        with pytest.raises(error, match=match):
            net.update(X, Y, kwargs["lr"])


def test_bad_from_params():
    with pytest.raises(TypeError, match="non-empty list of 2-D arrays"):
        pbp.MLP.from_params([])
    with pytest.raises(ValueError, match="must be 2-D"):
        pbp.MLP.from_params([np.ones(3)])
    with pytest.raises(ValueError, match=r"weights\[1\] has shape \(2, 5\).*expected 2 x 4"):
        pbp.MLP.from_params([np.ones((4, 3)), np.ones((2, 5))])
    with pytest.raises(ValueError, match="2 weight matrices but 1 biases"):
        pbp.MLP.from_params([np.ones((4, 3)), np.ones((2, 4))], [np.ones((4, 1))])
    with pytest.raises(ValueError, match=r"biases\[0\] must have shape \(4, 1\) or \(4,\)"):
        pbp.MLP.from_params([np.ones((4, 3))], [np.ones((3, 1))])
    with pytest.raises(ValueError, match="NaN or infinity"):
        pbp.MLP.from_params([np.array([[np.nan, 1.0]])])


def test_from_params_accepts_lists_flat_biases_and_backend_arrays(other_backends):
    W = [[[0.1, -0.2], [0.3, 0.4]], [[0.5, 0.6]]]
    b = [np.array([0.1, 0.2]), [[0.3]]]
    ref = pbp.MLP.from_params(W, b)
    assert ref.sizes == [2, 2, 1] and ref.biases[0].shape == (2, 1)
    for name in other_backends:
        src = pbp.MLP.from_params(W, b, backend=name)
        net = pbp.MLP.from_params(src.weights, src.biases)  # another backend's arrays, to numpy
        np.testing.assert_array_equal(pbp.to_numpy(net.predict([[1.0, 2.0]])), pbp.to_numpy(ref.predict([[1.0, 2.0]])))


def test_gradcheck_bad_eps(net):
    with pytest.raises(ValueError, match="eps must be a positive float"):
        pbp.gradcheck(net, X, Y, eps=0)
