"""The per-call fast path (backend arrays in, no conversion) keeps every guard of the slow path.

On JAX the finiteness check of X and Y is compiled into the same call as the step; these tests
pin that a NaN or infinity is still refused with a ValueError naming the input, and that the
network keeps its parameters.
"""

import numpy as np
import pytest

import portable_bp as pbp
from helpers import assert_close, problem
from portable_bp import _backend


def _net(backend, dtype="float64", kernel="matmul"):
    return pbp.MLP([3, 4, 2], activation="tanh", output_activation="softmax", loss="cross_entropy",
                   backend=backend, dtype=dtype, kernel=kernel, seed=0)


def _data(net, n=6):
    X, Y = problem((3, 4, 2), n=n, output="softmax")
    return net.xp.asarray(X, dtype=net.dtype), net.xp.asarray(Y, dtype=net.dtype)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["X", "Y"])
def test_update_refuses_non_finite_backend_arrays_and_keeps_params(backend, where, bad):
    net = _net(backend)
    X, Y = problem((3, 4, 2), n=6, output="softmax")
    (X if where == "X" else Y)[2, 1] = bad
    X, Y = net.xp.asarray(X, dtype=net.dtype), net.xp.asarray(Y, dtype=net.dtype)
    before = net.params_numpy()
    with pytest.raises(ValueError, match=f"{where} contains NaN or infinity"):
        net.update(X, Y, 0.5)
    with pytest.raises(ValueError, match=f"{where} contains NaN or infinity"):
        net.backprop(X, Y)
    after = net.params_numpy()
    for a, b in zip(before[0] + before[1], after[0] + after[1]):
        np.testing.assert_array_equal(a, b)
    if where == "X":
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            net.forward(X)


def test_update_with_changing_lr_matches_numpy(backend):
    """The learning rate may change from call to call (a schedule): each value is used."""
    net, ref = _net(backend), _net("numpy")
    X, Y = _data(net)
    Xn, Yn = _data(ref)
    for lr in (0.5, 0.1, 0.1, 2.0):
        net.update(X, Y, lr)
        ref.update(Xn, Yn, lr)
    for a, b in zip(net.weights + net.biases, ref.weights + ref.biases):
        assert_close(a, b)


def test_fast_path_matches_host_input(backend):
    """Backend arrays (fast path) and NumPy input (converted) give the same step and forward."""
    fast, slow = _net(backend), _net(backend)
    X, Y = problem((3, 4, 2), n=5, output="softmax")
    fast.update(fast.xp.asarray(X, dtype=fast.dtype), fast.xp.asarray(Y, dtype=fast.dtype), 0.3)
    slow.update(X, Y, 0.3)
    for a, b in zip(fast.weights + fast.biases, slow.weights + slow.biases):
        assert_close(a, b)
    assert_close(fast.predict(fast.xp.asarray(X, dtype=fast.dtype)), slow.predict(X))


@pytest.mark.parametrize("lr", [10**400, float("nan"), float("inf"), 0, -1.0])
def test_lr_must_be_positive_and_finite(lr):
    net = _net("numpy")
    X, Y = _data(net)
    with pytest.raises(ValueError, match="lr must be > 0 and finite"):
        net.update(X, Y, lr)


def test_same_namespace_remembers_types_without_confusing_them():
    import array_api_compat.numpy as xp_np

    x = np.zeros((2, 2))
    assert _backend.same_namespace(x, xp_np)
    assert _backend.same_namespace(x, xp_np)  # second call: from the per-type memory
    assert not _backend.same_namespace([[0.0]], xp_np)
    assert not _backend.same_namespace(x, object())
    if _backend.unavailable_reason("array_api_strict") is None:
        strict = _backend.namespace("array_api_strict")
        assert _backend.same_namespace(strict.asarray([1.0]), strict)
        assert not _backend.same_namespace(strict.asarray([1.0]), xp_np)


@pytest.mark.parametrize("total", ["small", "large"])  # checked as one concatenated vector, or array by array
def test_all_finite_finds_each_bad_value(backend, total):
    from portable_bp.backprop import ONE_PASS_ELEMENTS, all_finite

    xp = _backend.namespace(backend)
    rows = 2 if total == "small" else ONE_PASS_ELEMENTS  # "large": more elements than one pass takes
    shapes = [(rows, 3), (4, 1), (1, 5)]
    assert (sum(r * c for r, c in shapes) > ONE_PASS_ELEMENTS) == (total == "large")
    arrays = [np.ones(s) for s in shapes]
    as_xp = lambda arrs: [xp.asarray(a, dtype=xp.float32) for a in arrs]
    assert _backend.to_bool(all_finite(xp, *as_xp(arrays)), backend)
    for i in range(len(arrays)):
        for bad in (np.nan, np.inf, -np.inf):
            spoilt = [a.copy() for a in arrays]
            spoilt[i][-1, -1] = bad
            assert not _backend.to_bool(all_finite(xp, *as_xp(spoilt)), backend), (i, bad)
    big = [np.full(s, np.finfo(np.float32).max) for s in shapes]  # finite, however large
    assert _backend.to_bool(all_finite(xp, *as_xp(big)), backend)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, "inf-inf"])
@pytest.mark.parametrize("where", ["X", "Y"])
def test_fit_and_evaluate_refuse_non_finite_backend_arrays(backend, where, bad):
    """X and Y arrays that need no conversion are checked by one sum each (NaN and ±inf propagate;
    +inf and −inf together give NaN): still a ValueError naming the input, parameters kept."""
    net = _net(backend)
    X, Y = problem((3, 4, 2), n=6, output="softmax")
    target = X if where == "X" else Y
    if bad == "inf-inf":
        target[1, 0], target[4, 1] = np.inf, -np.inf
    else:
        target[2, 1] = bad
    X, Y = net.xp.asarray(X, dtype=net.dtype), net.xp.asarray(Y, dtype=net.dtype)
    before = net.params_numpy()
    for call in (lambda: net.fit(X, Y, epochs=1, batch_size=3, lr=0.5, progress=False),
                 lambda: net.evaluate(X, Y), lambda: net.to_backend(X, Y)):
        with pytest.raises(ValueError, match=f"{where} contains NaN or infinity"):
            call()
    for a, b in zip(before[0] + before[1], net.params_numpy()[0] + net.params_numpy()[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("error")
def test_huge_finite_backend_arrays_pass_the_quick_check(backend):
    """A sum of finite values may overflow: the exact check then decides, and accepts them, quietly."""
    net = _net(backend, dtype="float32")
    big = np.finfo(np.float32).max / 2
    X = net.xp.asarray(np.full((64, 3), big, dtype=np.float32))
    Y = net.xp.asarray(np.eye(2, dtype=np.float32)[np.arange(64) % 2])
    with np.errstate(over="ignore"):
        assert _backend.to_bool(net.xp.isinf(net.xp.sum(X)), backend)  # the quick test does fail here
    Xc, Yc = net.to_backend(X, Y)
    assert Xc.shape == (64, 3) and Yc.shape == (64, 2)
    assert net.to_backend(X).shape == (64, 3)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool"])
def test_lean_numpy_reductions_equal_numpys(dtype):
    """The NumPy compute namespace's sum and max: the same values, dtypes and shapes as
    array-api-compat's for every axis form (ufunc fast path for floats over an axis; the rest
    delegated), NaN propagated, an empty max refused the same way."""
    import array_api_compat.numpy as base

    lean = _backend.compute_namespace(base)
    assert lean is _backend.lean_numpy() and lean is not base
    assert _backend.compute_namespace(_backend.namespace("numpy")) is lean
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 4, 5)) * 10).astype(dtype)
    if dtype.startswith("float"):
        x[1, 2, 3] = np.nan
    for axis in (None, 0, 1, -1, (0, 2), (-2, -1)):
        for keepdims in (False, True):
            for f in ("sum", "max"):
                got = getattr(lean, f)(x, axis=axis, keepdims=keepdims)
                want = getattr(base, f)(x, axis=axis, keepdims=keepdims)
                assert type(got) is type(want) and got.dtype == want.dtype and np.shape(got) == np.shape(want)
                np.testing.assert_array_equal(got, want)
    assert lean.sum(x, axis=0, dtype=base.float64).dtype == np.float64
    with pytest.raises(ValueError):
        base.max(np.ones((0, 3)), axis=0)
    with pytest.raises(ValueError):
        lean.max(np.ones((0, 3)), axis=0)


def test_numpy_networks_compute_with_the_lean_namespace():
    """The numpy backend's Spec computes with lean_numpy; its public namespace stays array-api-compat's."""
    net = _net("numpy")
    assert net._spec.xp is _backend.lean_numpy()
    assert net.xp is _backend.namespace("numpy")
    assert _net("numpy", kernel="einsum").forward(np.ones((2, 3)))[1][-1].shape == (2, 2)
