"""Input handling at every public entry point beyond tests/test_bad_input.py: integer and boolean
data become floats, arrays of another backend or device are converted through the host, and the
remaining mistakes are ValueError/TypeError naming what was expected."""

import numpy as np
import pytest

import portable_bp as pbp
from portable_bp import _backend

X = np.array([[1, 0, 2], [0, 1, 1], [2, 2, 0], [1, 1, 1], [0, 0, 3]])
LABELS = np.array([0, 1, 1, 0, 1])


def softmax_net(backend, **kw):
    return pbp.MLP([3, 4, 2], activation="tanh", output_activation="softmax", loss="cross_entropy",
                   backend=backend, seed=0, **kw)


def host(a):
    return pbp.to_numpy(a)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_integer_and_boolean_inputs_become_floats(backend, dtype):
    net = softmax_net(backend, dtype=dtype)
    Xf = X.astype(np.float64)
    Yb = np.eye(2, dtype=bool)[LABELS]
    for Xi in (X, X.astype(np.int32), X.tolist()):
        np.testing.assert_array_equal(host(net.predict(Xi)), host(net.predict(Xf)))
    gw, _ = net.backprop(X, Yb)
    ref, _ = net.backprop(Xf, Yb.astype(float))
    for a, b in zip(gw, ref):
        np.testing.assert_array_equal(host(a), host(b))
    assert net.cost(X > 0, LABELS) == net.cost((X > 0).astype(float), LABELS)
    net.fit(X, LABELS, epochs=1, batch_size=2, lr=0.1, progress=False)
    assert str(net.weights[0].dtype).endswith(dtype)


@pytest.mark.filterwarnings("error::UserWarning")  # e.g. torch's about a read-only NumPy view of a JAX array
def test_arrays_of_another_backend_are_converted(backend, other_backends):
    """X and Y given as any other backend's arrays (or other dtypes) give the NumPy-input results,
    without a warning from the receiving library."""
    net = softmax_net(backend)
    Xf, Y = X.astype(np.float64), np.eye(2)[LABELS]
    ref_out = host(net.predict(Xf))
    ref_cost = net.cost(Xf, Y)
    for source in other_backends:
        for dtype in ("float64", "float32"):
            xp = _backend.namespace(source)
            Xs = xp.asarray(Xf, dtype=_backend.resolve_dtype(xp, dtype, source))  # X as a `source` array
            Ys = xp.asarray(Y, dtype=_backend.resolve_dtype(xp, dtype, source))
            tol = 0 if dtype == "float64" else 1e-6
            np.testing.assert_allclose(host(net.predict(Xs)), ref_out, rtol=tol, atol=tol)
            assert net.cost(Xs, Ys) == pytest.approx(ref_cost, rel=tol, abs=tol)
            assert _backend.backend_of_array(net.predict(Xs)) == backend


def test_array_on_another_device_is_moved():
    """array_api_strict has several virtual devices: a network on one accepts data on another."""
    if _backend.unavailable_reason("array_api_strict"):
        pytest.skip("array_api_strict not installed")
    import array_api_strict as xs

    net = softmax_net("array_api_strict", device="device1")
    Xc = xs.asarray(X.astype(np.float64))  # on CPU_DEVICE
    assert str(Xc.device) != str(net.weights[0].device)
    out = net.predict(Xc)
    assert out.device == net.weights[0].device
    np.testing.assert_array_equal(host(out), host(softmax_net("numpy").predict(X)))
    net.fit(Xc, LABELS, epochs=1, batch_size=2, lr=0.1, progress=False)


def test_bad_device_is_a_clear_error(backend):
    with pytest.raises(ValueError, match=f"device='nowhere' is not usable with backend '{backend}'") as info:
        pbp.MLP([2, 1], backend=backend, device="nowhere")
    assert len(str(info.value)) < 500


@pytest.mark.parametrize(
    "bad_Y,match",
    [
        (3.0, "scalar"),
        (np.array([[0.5, 1.5]] * 5), r"\[0, 1\] for loss='cross_entropy'.*0.5 to 1.5"),
        (np.array([[-0.1, 1.1]] * 5), r"\[0, 1\] for loss='cross_entropy'"),
        (np.zeros((5, 2), dtype=complex), "real-valued"),
        (np.array(["a"] * 5), "numeric"),
    ],
)
def test_bad_targets(backend, bad_Y, match):
    net = softmax_net(backend)
    with pytest.raises((ValueError, TypeError), match=match):
        net.backprop(X, bad_Y)
    if np.ndim(bad_Y) == 2 and np.isrealobj(bad_Y):  # the same mistake as a backend array (fast path)
        Yb = net._asarray(bad_Y)
        with pytest.raises(ValueError, match=match):
            net.cost(net._asarray(X), Yb)


def test_fast_path_still_checks(backend):
    net = softmax_net(backend)
    bad = net._asarray(np.array([[np.nan, 1.0, 0.0]] * 5))
    for call in (lambda: net.predict(bad), lambda: net.backprop(bad, LABELS),
                 lambda: net.fit(bad, LABELS, epochs=1, batch_size=1, lr=0.1, progress=False)):
        with pytest.raises(ValueError, match="NaN or infinity"):
            call()


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(seed=-1), ValueError, "non-negative"),
        (dict(seed=1.5), TypeError, "seed must be"),
        (dict(seed=True), TypeError, "seed must be"),
        (dict(bias="no"), TypeError, "bias must be True or False"),
    ],
)
def test_bad_constructor_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        pbp.MLP([2, 3, 1], **kwargs)


def test_seed_may_be_a_generator():
    a = pbp.MLP([2, 3, 1], seed=np.random.default_rng(5))
    b = pbp.MLP([2, 3, 1], seed=5)
    for p, q in zip(a.params_numpy()[0], b.params_numpy()[0]):
        np.testing.assert_array_equal(p, q)


def test_gradcheck_entry_point():
    net = softmax_net("numpy")
    with pytest.raises(TypeError, match="needs a portable_bp.MLP"):
        pbp.gradcheck("net", X, LABELS)
    with pytest.raises(ValueError, match="4 features"):
        pbp.gradcheck(net, np.ones((2, 4)), [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        pbp.gradcheck(net, np.full((2, 3), np.inf), [0, 1])
    assert pbp.gradcheck(net, X, LABELS) < 1e-7  # ints become floats here too


def test_accuracy_and_cost_validate(backend):
    net = softmax_net(backend)
    with pytest.raises(ValueError, match="empty"):
        net.accuracy(np.ones((0, 3)), np.ones((0, 2)))
    with pytest.raises(ValueError, match="5 samples but Y has 3"):
        net.cost(X, LABELS[:3])
