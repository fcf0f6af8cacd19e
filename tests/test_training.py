"""SGD: network.py's algorithm reproduced, cross-backend agreement, learning, gradient checks."""

import itertools

import numpy as np
import pytest

import portable_bp as pbp
from helpers import TOL, assert_close, problem
from network_py import Network
from portable_bp import _backend, datasets

SMOOTH = [  # (hidden, output, loss): every combination with a smooth cost
    ("sigmoid", "sigmoid", "mse"),
    ("tanh", "identity", "mse"),
    ("tanh", "tanh", "mse"),
    ("sigmoid", "softmax", "cross_entropy"),
    ("tanh", "sigmoid", "cross_entropy"),
    ("sigmoid", "softmax", "mse"),
    ("identity", "sigmoid", "mse"),
]


@pytest.mark.parametrize("kernel", ["matmul", "loop"])
def test_fit_reproduces_network_py(backend, kernel):
    """The seed notebook's comparison: same start, same batches -> the same weights (1e-9)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 2))
    Y = rng.uniform(0, 1, (40, 1))
    ref = Network([rng.standard_normal((4, 2)), rng.standard_normal((3, 4)), rng.standard_normal((1, 3))],
                  [rng.standard_normal((4, 1)), rng.standard_normal((3, 1)), rng.standard_normal((1, 1))])
    net = pbp.MLP.from_params(ref.weights, ref.biases, activation="sigmoid", loss="mse", backend=backend,
                              kernel=kernel)
    ref.SGD([(x.reshape(-1, 1), y.reshape(-1, 1)) for x, y in zip(X, Y)], epochs=3, mini_batch_size=7, eta=3.0)
    net.fit(X, Y, epochs=3, batch_size=7, lr=3.0, shuffle=False, progress=False)
    for l in range(3):
        assert_close(net.weights[l], ref.weights[l], rtol=1e-9, atol=1e-9)
        assert_close(net.biases[l], ref.biases[l], rtol=1e-9, atol=1e-9)
    outputs = np.hstack([ref.feedforward(x.reshape(-1, 1)) for x in X]).T
    assert_close(net.predict(X), outputs, rtol=1e-9, atol=1e-9)


def _run(backend, dtype, hidden="tanh", output="softmax", loss="cross_entropy"):
    """Outputs, gradients and weights after 3 epochs of shuffled fit, as NumPy arrays."""
    X, Y = problem(sizes=(3, 6, 5, 3), n=24, seed=5, output=output)
    net = pbp.MLP([3, 6, 5, 3], activation=hidden, output_activation=output, loss=loss, backend=backend,
                  dtype=dtype, seed=11)
    out = [net.predict(X)]
    gw, gb = net.backprop(X, Y)
    history = net.fit(X, Y, epochs=3, batch_size=5, lr=0.4, seed=2, progress=False)
    return [pbp.to_numpy(a) for a in out + gw + gb + net.weights + net.biases], history["cost"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("combo", [("tanh", "softmax", "cross_entropy"), ("relu", "identity", "mse")])
def test_every_pair_of_backends_agrees(other_backends, dtype, combo):
    if len(other_backends) < 2:
        pytest.skip(f"needs two backends, have {other_backends}")
    runs = {b: _run(b, dtype, *combo) for b in other_backends}
    rel = 1e-12 if dtype == "float64" else 1e-5
    worst = 0.0
    for a, b in itertools.combinations(other_backends, 2):
        for x, y in zip(runs[a][0], runs[b][0]):
            assert x.dtype == y.dtype == np.dtype(dtype), (a, b, x.dtype, y.dtype)
            dev = np.max(np.abs(x.astype(float) - y.astype(float))) / max(np.max(np.abs(y)), 1e-300)
            worst = max(worst, dev)
            assert dev <= rel, f"{a} vs {b} ({dtype}): relative deviation {dev:.3g} > {rel:g}"
        np.testing.assert_allclose(runs[a][1], runs[b][1], rtol=rel)
    print(f"worst pairwise relative deviation {dtype} {combo}: {worst:.3g}")


def test_same_seed_same_network_everywhere(other_backends):
    nets = [pbp.MLP([4, 3, 2], backend=b, seed=42) for b in other_backends]
    ref = nets[0].params_numpy()
    for net in nets[1:]:
        ws, bs = net.params_numpy()
        for a, b in zip(ws + bs, ref[0] + ref[1]):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(pbp.MLP([4, 3, 2], seed=43).params_numpy()[0][0], ref[0][0])


@pytest.mark.parametrize("hidden,output,loss", SMOOTH)
def test_gradcheck_smooth_combinations(backend, hidden, output, loss):
    X, Y = problem(sizes=(3, 4, 2), n=5, seed=2, output=output)
    net = pbp.MLP([3, 4, 2], activation=hidden, output_activation=output, loss=loss, backend=backend, seed=4)
    err = pbp.gradcheck(net, X, Y)
    assert err < 1e-7, f"gradcheck {err:.3g} for {hidden}/{output}/{loss} on {backend}"


def test_gradcheck_catches_a_wrong_gradient(monkeypatch):
    X, Y = problem(sizes=(3, 4, 2), n=5, seed=2)
    net = pbp.MLP([3, 4, 2], activation="sigmoid", loss="mse", seed=4)
    assert pbp.gradcheck(net, X, Y) < 1e-7
    from portable_bp import activations

    # A classic slip: σ'(z) written as σ(z) instead of σ(z)(1 − σ(z)).
    monkeypatch.setitem(activations.DERIVATIVES, "sigmoid", lambda xp, z, a: a)
    assert pbp.gradcheck(net, X, Y) > 1e-2


def test_gradcheck_catches_a_wrong_bp4(monkeypatch):
    from portable_bp import backprop

    X, Y = problem(sizes=(3, 4, 2), n=5, seed=2)
    net = pbp.MLP([3, 4, 2], activation="tanh", output_activation="identity", loss="mse", seed=4)
    monkeypatch.setattr(backprop, "bp4", lambda spec, d, a: 2 * spec.kernel.outer_sum(d, a))
    assert pbp.gradcheck(net, X, Y) > 1e-2


def test_learns_circles(backend):
    X, y = datasets.circles(n=600, seed=1)
    net = pbp.MLP([2, 8, 8, 1], activation="sigmoid", loss="cross_entropy", backend=backend, seed=0)
    history = net.fit(X[:450], y[:450], epochs=40, batch_size=10, lr=0.5, seed=0, progress=False)
    assert history["cost"][-1] < history["cost"][0]
    acc = net.accuracy(X[450:], y[450:])
    assert acc >= 0.95, f"held-out accuracy {acc:.3f} on {backend}"


def test_cost_is_mean_and_backprop_is_sum(backend):
    X, Y = problem(n=6)
    net = pbp.MLP([3, 4, 5, 2], backend=backend, seed=0)
    gw, _ = net.backprop(X, Y)
    parts = [net.backprop(X[i : i + 1], Y[i : i + 1])[0] for i in range(6)]
    for l in range(3):
        assert_close(gw[l], sum(pbp.to_numpy(p[l]) for p in parts), **TOL["float64"])
    costs = [net.cost(X[i : i + 1], Y[i : i + 1]) for i in range(6)]
    assert net.cost(X, Y) == pytest.approx(np.mean(costs), rel=1e-12)


def test_strict_backend_runs_with_strictest_flags():
    if _backend.unavailable_reason("array_api_strict"):
        pytest.skip("array_api_strict not installed")
    import array_api_strict

    net = pbp.MLP([2, 3, 2], activation="relu", output_activation="softmax", loss="cross_entropy",
                  backend="array_api_strict", seed=0)
    flags = array_api_strict.get_array_api_strict_flags()
    assert flags["boolean_indexing"] is False and flags["data_dependent_shapes"] is False
    X, y = datasets.moons(n=40, seed=0)
    net.fit(X, y, epochs=2, batch_size=8, lr=0.1, seed=0, progress=False)
    assert type(net.weights[0]).__module__.startswith("array_api_strict")
    # the flags really bite: boolean-mask indexing is refused while portable_bp still works
    with pytest.raises(Exception):  # noqa: B017 - array_api_strict's own error type
        net.weights[0][net.weights[0] > 0]


def test_jax_step_is_jitted():
    if _backend.unavailable_reason("jax"):
        pytest.skip("jax not installed")
    step = lambda backend: pbp.train.make_step(pbp.MLP([2, 3, 1], backend=backend, seed=0).spec,
                                               pbp.optim.sgd(0.1), False, backend)
    assert hasattr(step("jax"), "lower"), "the JAX training step should be a jax.jit function"
    assert not hasattr(step("numpy"), "lower")
