"""pbp.trace: one forward pass and BP1–BP4 with their numbers, equal to net.forward / net.backprop on
every backend and to a NumPy oracle written here from Nielsen's per-example equations; its text,
LaTeX and HTML renderings; its errors."""

import re

import numpy as np
import pytest

import portable_bp as pbp

TOL = 1e-12

NETS = [  # sizes, hidden, output, loss
    ([3, 4, 2], "sigmoid", "sigmoid", "mse"),  # network.py
    ([3, 5, 4, 3], "tanh", "softmax", "cross_entropy"),  # seed 002's softmax + cross-entropy
    ([3, 4, 1], "relu", "identity", "mse"),
]


def problem(sizes, output, n=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, sizes[0]))
    if output == "softmax":
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    elif output == "sigmoid":
        Y = rng.uniform(size=(n, sizes[-1]))
    else:
        Y = rng.normal(size=(n, sizes[-1]))
    return X, Y


def np_(a):
    return None if a is None else pbp.to_numpy(a)


def close(a, b, tol=TOL):
    a, b = np_(a), np_(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=0, atol=tol)


# -- an independent oracle: Nielsen's equations for ONE example at a time, column vectors ---------
SIG = {
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
    "tanh": (np.tanh, lambda z: 1 / np.cosh(z) ** 2),
    "relu": (lambda z: np.where(z > 0, z, 0.0), lambda z: (z > 0).astype(float)),
    "identity": (lambda z: z, lambda z: np.ones_like(z)),
}


def oracle(weights, biases, x, y, hidden, output, loss):
    """(zs, activations, deltas, nabla_w, nabla_b) of one example x (n_0, 1), network.py's backprop."""
    a, zs, acts = x, [], [x]
    L = len(weights)
    for l, (W, b) in enumerate(zip(weights, biases)):
        z = W @ a + b  # z^l = W^l a^{l-1} + b^l
        if l == L - 1 and output == "softmax":
            e = np.exp(z - z.max())
            a = e / e.sum()
        else:
            a = SIG[output if l == L - 1 else hidden][0](z)
        zs.append(z)
        acts.append(a)
    if loss == "cross_entropy":
        delta = acts[-1] - y  # BP1 with the σ' cancelled
    else:
        delta = (acts[-1] - y) * SIG[output][1](zs[-1])  # BP1: ∇_a C ⊙ σ'(z^L)
    deltas = [None] * L
    deltas[-1] = delta
    for l in range(L - 2, -1, -1):
        deltas[l] = (weights[l + 1].T @ deltas[l + 1]) * SIG[hidden][1](zs[l])  # BP2
    nabla_b = list(deltas)  # BP3
    nabla_w = [d @ a_prev.T for d, a_prev in zip(deltas, acts[:-1])]  # BP4
    return zs, acts, deltas, nabla_w, nabla_b


@pytest.mark.parametrize("sizes, hidden, output, loss", NETS)
def test_trace_equals_forward_and_backprop(backend, sizes, hidden, output, loss):
    net = pbp.MLP(sizes, activation=hidden, output_activation=output, loss=loss, backend=backend, seed=3)
    X, Y = problem(sizes, output)
    t = pbp.trace(net, X, Y)
    zs, acts = net.forward(X)
    grads_w, grads_b = net.backprop(X, Y)
    assert not t.single and t.m == len(X) and t.reduction == "sum" and t.weights is None
    close(t.x.value, acts[0])
    for l, layer in enumerate(t.layers):
        assert layer.l == l + 1
        close(layer.z.value, zs[l])
        close(layer.a.value, acts[l + 1])
        close(layer.grad_w.value, grads_w[l])
        close(layer.grad_b.value, grads_b[l])
        assert layer.grad_w.shape == (sizes[l + 1], sizes[l]) and layer.grad_b.shape == (sizes[l + 1], 1)
        assert layer.z.shape == layer.a.shape == layer.delta.shape == (len(X), sizes[l + 1])
        assert type(layer.z.value) is type(zs[l])  # the values stay the backend's arrays


def test_trace_update_equals_net_update(backend):
    net = pbp.MLP([3, 4, 2], backend=backend, seed=3)
    X, Y = problem([3, 4, 2], "sigmoid")
    before = [np_(W) for W in net.weights]
    t = pbp.trace(net, X, Y, lr=0.7)
    for W, W0 in zip(net.weights, before):  # the trace does not train the network
        np.testing.assert_array_equal(np_(W), W0)
    stepped = net.to()
    stepped.update(X, Y, 0.7)
    for l, layer in enumerate(t.layers):
        close(layer.W_new.value, stepped.weights[l])
        close(layer.b_new.value, stepped.biases[l])
        # p − (η/m) Σ∇ by hand from the summed gradients
        close(layer.W_new.value, before[l] - 0.7 / len(X) * layer.grad_w.numpy())
    half_sq = 0.5 * ((np_(t.layers[-1].a.value) - Y) ** 2).sum()  # Σ_x ½‖a^L − y‖²
    assert t.cost == pytest.approx(half_sq, rel=1e-12)


@pytest.mark.parametrize("sizes, hidden, output, loss", NETS)
def test_trace_equals_numpy_oracle(backend, sizes, hidden, output, loss):
    net = pbp.MLP(sizes, activation=hidden, output_activation=output, loss=loss, backend=backend, seed=5)
    X, Y = problem(sizes, output, seed=1)
    t = pbp.trace(net, X, Y)
    weights, biases = net.params_numpy()
    sums_w = [np.zeros_like(W) for W in weights]
    sums_b = [np.zeros_like(b) for b in biases]
    for i in range(len(X)):
        zs, acts, deltas, nw, nb = oracle(weights, biases, X[i][:, None], Y[i][:, None], hidden, output, loss)
        for l, layer in enumerate(t.layers):  # row i of the batch arrays is sample i's column vector
            np.testing.assert_allclose(np_(layer.z.value)[i], zs[l][:, 0], rtol=0, atol=TOL)
            np.testing.assert_allclose(np_(layer.a.value)[i], acts[l + 1][:, 0], rtol=0, atol=TOL)
            np.testing.assert_allclose(np_(layer.delta.value)[i], deltas[l][:, 0], rtol=0, atol=TOL)
            sums_w[l] += nw[l]
            sums_b[l] += nb[l]
    for l, layer in enumerate(t.layers):  # BP3, BP4 summed over the batch
        np.testing.assert_allclose(np_(layer.grad_w.value), sums_w[l], rtol=0, atol=TOL)
        np.testing.assert_allclose(np_(layer.grad_b.value), sums_b[l], rtol=0, atol=TOL)


def test_one_example_is_nielsens_column_vectors(backend):
    net = pbp.MLP([3, 4, 2], backend=backend, seed=0)
    x, y = np.array([0.2, -1.0, 0.5]), np.array([1.0, 0.0])
    t = pbp.trace(net, x, y, lr=0.5)
    batch = pbp.trace(net, x[None, :], y[None, :], lr=0.5)
    assert t.single and t.m == 1
    assert t.x.shape == (3, 1) and t.y.shape == (2, 1)
    assert [layer.z.shape for layer in t.layers] == [(4, 1), (2, 1)]
    assert [layer.delta.shape for layer in t.layers] == [(4, 1), (2, 1)]
    assert [layer.grad_w.shape for layer in t.layers] == [(4, 3), (2, 4)]
    for one, row in zip(t.layers, batch.layers):
        for name in ("z", "a", "delta"):
            close(getattr(one, name).value, np_(getattr(row, name).value).T)
        for name in ("grad_w", "grad_b", "W_new", "b_new"):
            close(getattr(one, name).value, getattr(row, name).value)


def test_one_example_takes_y_as_targets_a_column_or_a_label():
    x = np.array([0.2, -1.0, 0.5])
    net = pbp.MLP([3, 4, 2], output_activation="softmax", loss="cross_entropy", seed=0)
    ref = pbp.trace(net, x, np.array([1.0, 0.0]))
    for y_form in ([1.0, 0.0], np.array([[1.0], [0.0]]), 0):  # targets, Nielsen's column, a class label
        close(pbp.trace(net, x, y_form).layers[0].grad_w.value, ref.layers[0].grad_w.value)
    one = pbp.MLP([3, 2, 1], seed=0)  # one output: y a number
    close(pbp.trace(one, x, 0.25).layers[0].grad_w.value, pbp.trace(one, x[None], [[0.25]]).layers[0].grad_w.value)


def test_network_without_bias(backend):
    W = [np.array([[0.5, -0.2], [0.1, 0.3]]), np.array([[1.0, -1.0]])]
    net = pbp.MLP.from_params(W, [None, np.array([[0.1]])], backend=backend)
    t = pbp.trace(net, np.array([1.0, 2.0]), 1.0, lr=1.0)
    gw, gb = net.backprop(np.array([[1.0, 2.0]]), np.array([[1.0]]))
    assert t.layers[0].grad_b is None and t.layers[0].b_new is None and t.biases[0] is None
    close(t.layers[0].grad_w.value, gw[0])
    close(t.layers[1].grad_b.value, gb[1])
    assert "∂C/∂b^1" not in str(t) and "∂C/∂b^2" in str(t)


# -- rendering ------------------------------------------------------------------------------------
BMATRIX = re.compile(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", re.S)


def parse_bmatrix(body):
    return [[c.strip() for c in row.split("&")] for row in body.split(r"\\")]


def number(cell):
    m = re.fullmatch(r"(-?[\d.]+)(?: \\times 10\^\{(-?\d+)\})?", cell)
    assert m, cell
    return float(m.group(1)) * 10.0 ** int(m.group(2) or 0)


def test_text_shows_equations_shapes_and_rounded_values():
    net = pbp.MLP([2, 3, 1], seed=0)
    t = pbp.trace(net, np.array([0.5, -1.0]), 1.0, lr=0.5)
    text = str(t)
    for needle in ("z^1 = W^1 a^0 + b^1", "a^2 = σ(z^2)", "BP1  δ^2 = ∇_a C ⊙ σ'(z^2)",
                   "BP2  δ^1 = ((W^2)^T δ^2) ⊙ σ'(z^1)", "BP3  ∂C/∂b^1 = δ^1", "BP4  ∂C/∂W^1 = δ^1 (a^0)^T",
                   "W^1 ← W^1 − (η/m) ∂C/∂W^1", "shape (3, 1)", "shape (3, 2)", "shape (1, 3)", "SUMMED"):
        assert needle in text, needle
    g = np_(t.layers[0].grad_w.value)
    assert f"{g[0, 0]:.4f}".rstrip("0") in text  # 4 decimals
    assert "e+" not in text or "e-" in text
    batch = str(pbp.trace(net, np.zeros((4, 2)), np.ones(4)))
    assert "Σ_x δ^1_x (a^0_x)^T = (Δ^1)^T A^0   (summed over the batch)" in batch and "shape (4, 3)" in batch


def test_latex_bmatrix_rows_parse_to_the_values():
    net = pbp.MLP([2, 3, 2], output_activation="softmax", loss="cross_entropy", seed=1)
    X = np.array([[0.5, -1.0], [2.0, 0.25], [-0.3, 0.8]])
    t = pbp.trace(net, X, np.array([0, 1, 1]), lr=0.1)
    tex = t.latex()
    matrices = BMATRIX.findall(tex)
    quantities = t.quantities()
    assert len(matrices) == len(quantities)
    for body, q in zip(matrices, quantities):
        cells = parse_bmatrix(body)
        assert (len(cells), len(cells[0])) == q.shape  # one row of the bmatrix per row of the array
        np.testing.assert_allclose([[number(c) for c in row] for row in cells], q.numpy(), rtol=1e-3, atol=1e-12)
    assert tex.count(r"\begin{align*}") == tex.count(r"\end{align*}") == 4  # forward, 2 backward, update
    assert r"\text{BP1: } \Delta^{2} = A^{2} - Y" in tex
    assert r"\frac{\partial C}{\partial W^{1}} = \sum_x \delta^{1}_x (a^{0}_x)^T" in tex
    assert t._repr_latex_().startswith("$$\\begin{aligned}") and t._repr_latex_().endswith("\\end{aligned}$$")


def test_large_matrices_are_shown_by_their_corners():
    net = pbp.MLP([784, 100, 10], output_activation="softmax", loss="cross_entropy", seed=0)
    X = np.random.default_rng(0).uniform(size=(2, 784))
    t = pbp.trace(net, X, np.array([3, 7]))
    index = [q is t.layers[0].grad_w for q in t.quantities()].index(True)
    cells = parse_bmatrix(BMATRIX.findall(t.latex())[index])  # ∂C/∂W^1, (100, 784)
    assert len(cells) == 6 and all(len(row) == 6 for row in cells)  # 3 + ⋮ + 2 rows, 3 + ⋯ + 2 columns
    assert cells[3] == [r"\vdots"] * 3 + [r"\ddots"] + [r"\vdots"] * 2 and cells[0][3] == r"\cdots"
    g = t.layers[0].grad_w.numpy()
    assert number(cells[-1][-1]) == pytest.approx(g[-1, -1], rel=1e-3, abs=1e-12)
    text = str(t)
    assert "..." in text and len(text.splitlines()) < 150  # numpy's elision, not 100 × 784 numbers


def test_html_holds_mathjax_latex_and_the_text():
    net = pbp.MLP([2, 3, 1], seed=0)
    t = pbp.trace(net, np.array([0.5, -1.0]), 1.0)
    page = t._repr_html_()
    assert page.count("<table") == 3 and r"\(\begin{bmatrix}" in page
    assert r"\(\text{BP4: } \frac{\partial C}{\partial W^{1}} = \delta^{1} (a^{0})^T\)" in page
    assert "<pre>" in page and "BP2  δ^1" in page  # readable without MathJax too
    assert "<script" not in page


# -- errors ---------------------------------------------------------------------------------------
def test_bad_inputs_are_named():
    net = pbp.MLP([3, 4, 2], seed=0)
    X, Y = np.zeros((5, 3)), np.zeros((5, 2))
    with pytest.raises(ValueError, match="X"):
        pbp.trace(net, np.zeros((5, 4)), Y)
    with pytest.raises(ValueError, match="Y"):
        pbp.trace(net, X, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="Y"):
        pbp.trace(net, X, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="x has 2 features"):
        pbp.trace(net, np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match=r"y for one example"):
        pbp.trace(net, np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="X must be one example"):
        pbp.trace(net, 1.0, 1.0)
    with pytest.raises(ValueError, match="X"):
        pbp.trace(net, np.zeros((2, 3, 3)), Y)
    with pytest.raises(ValueError, match="X"):
        pbp.trace(net, np.full((5, 3), np.nan), Y)
    with pytest.raises(ValueError, match="lr"):
        pbp.trace(net, X, Y, lr=-1.0)
    with pytest.raises(TypeError, match="lr"):
        pbp.trace(net, X, Y, lr="0.1")
    with pytest.raises(TypeError, match="portable_bp.MLP"):
        pbp.trace("net", X, Y)
