"""Forward pass and BP1–BP4 of every backend and every kernel against the scalar-loop oracle."""

import numpy as np
import pytest

import portable_bp as pbp
from helpers import COMBOS, assert_close, problem
from oracle import batch_backprop, sample_forward

KERNELS = ["matmul", "einsum", "stacked", "loop"]


def make(backend, kernel, hidden, output, loss, bias=True, dtype="float64", sizes=(3, 4, 5, 2)):
    try:
        return pbp.MLP(list(sizes), activation=hidden, output_activation=output, loss=loss, bias=bias,
                       backend=backend, kernel=kernel, dtype=dtype, seed=1)
    except ValueError as exc:
        if kernel == "einsum" and backend == "array_api_strict":
            pytest.skip(f"no einsum in array_api_strict: {exc}")
        raise


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("hidden,output,loss", COMBOS)
def test_backprop_matches_oracle(backend, kernel, hidden, output, loss):
    net = make(backend, kernel, hidden, output, loss)
    X, Y = problem(output=output)
    W, b = net.params_numpy()
    Wl = [w.tolist() for w in W]
    bl = [v.ravel().tolist() for v in b]
    oW, ob, ocost = batch_backprop(Wl, bl, X.tolist(), Y.tolist(), hidden, output, loss)
    gw, gb = net.backprop(X, Y)
    for l in range(len(W)):
        assert gw[l].shape == net.weights[l].shape and gb[l].shape == net.biases[l].shape
        assert_close(gw[l], np.array(oW[l]), rtol=1e-10, atol=1e-12)
        assert_close(gb[l], np.array(ob[l]).reshape(-1, 1), rtol=1e-10, atol=1e-12)
    assert net.cost(X, Y) == pytest.approx(ocost, rel=1e-12)


@pytest.mark.parametrize("kernel", KERNELS)
def test_forward_matches_oracle(backend, kernel):
    net = make(backend, kernel, "tanh", "softmax", "cross_entropy")
    X, _ = problem()
    W, b = net.params_numpy()
    zs, acts = net.forward(X)
    assert len(zs) == 3 and len(acts) == 4
    assert_close(acts[0], X)
    for i, x in enumerate(X):
        ozs, oas = sample_forward([w.tolist() for w in W], [v.ravel().tolist() for v in b], x.tolist(),
                                  "tanh", "softmax")
        for l in range(3):
            assert_close(zs[l][i, ...], np.array(ozs[l]), rtol=1e-12, atol=1e-14)
            assert_close(acts[l + 1][i, ...], np.array(oas[l + 1]), rtol=1e-12, atol=1e-14)


def test_no_bias_network(backend):
    net = make(backend, "matmul", "sigmoid", "sigmoid", "mse", bias=False)
    assert all(b is None for b in net.biases)
    X, Y = problem()
    W, _ = net.params_numpy()
    oW, _, _ = batch_backprop([w.tolist() for w in W], [None] * 3, X.tolist(), Y.tolist(),
                              "sigmoid", "sigmoid", "mse")
    gw, gb = net.backprop(X, Y)
    assert gb == [None, None, None]
    for l in range(3):
        assert_close(gw[l], np.array(oW[l]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kernel", ["matmul", "stacked"])
def test_float32_matches_oracle(backend, kernel):
    net = make(backend, kernel, "sigmoid", "softmax", "cross_entropy", dtype="float32")
    assert str(net.weights[0].dtype).endswith("float32")
    X, Y = problem(output="softmax")
    W, b = net.params_numpy()
    oW, ob, _ = batch_backprop([w.astype(float).tolist() for w in W], [v.astype(float).ravel().tolist() for v in b],
                               X.astype(np.float32).astype(float).tolist(), Y.tolist(),
                               "sigmoid", "softmax", "cross_entropy")
    gw, gb = net.backprop(X, Y)
    for l in range(3):
        assert str(gw[l].dtype).endswith("float32")
        assert_close(gw[l], np.array(oW[l]), dtype="float32", atol=1e-5)


def test_update_is_network_py_rule(backend):
    net = make(backend, "matmul", "sigmoid", "sigmoid", "mse")
    X, Y = problem()
    W0, b0 = net.params_numpy()
    gw, gb = net.backprop(X, Y)
    net.update(X, Y, lr=0.3)
    for l in range(3):
        assert_close(net.weights[l], W0[l] - 0.3 / len(X) * pbp.to_numpy(gw[l]))
        assert_close(net.biases[l], b0[l] - 0.3 / len(X) * pbp.to_numpy(gb[l]))


def test_integer_labels_are_one_hot(backend):
    net = make(backend, "matmul", "sigmoid", "softmax", "cross_entropy")
    X, _ = problem()
    labels = np.array([0, 1, 1, 0, 1, 0, 0])
    onehot = np.eye(2)[labels]
    assert net.cost(X, labels) == pytest.approx(net.cost(X, onehot), rel=1e-14)


def test_einsum_unavailable_on_strict_is_clear():
    if pbp._backend.unavailable_reason("array_api_strict"):
        pytest.skip("array_api_strict not installed")
    with pytest.raises(ValueError, match="einsum"):
        pbp.MLP([2, 1], backend="array_api_strict", kernel="einsum")
