"""sample_weight (weighted-mean gradients) and dropout (inverted, masks from fit's seed) in MLP.fit."""

import numpy as np
import pytest

import portable_bp as pbp
from helpers import assert_close
from portable_bp import backprop

SIZES = [4, 7, 5, 3]


def data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, SIZES[0])), rng.integers(0, SIZES[-1], n)


def softmax_net(backend="numpy", **kw):
    return pbp.MLP(SIZES, activation="tanh", output_activation="softmax", loss="cross_entropy", backend=backend,
                   seed=0, **kw)


def test_integer_weights_equal_repeated_samples(backend):
    X, y = data()
    w = np.arange(len(X)) % 3 + 1  # 1, 2, 3, 1, ...
    a, b = softmax_net(backend), softmax_net(backend)
    ha = a.fit(X, y, epochs=4, batch_size=len(X), optimizer="adam", lr=0.05, shuffle=False, sample_weight=w,
               progress=False)
    Xr, yr = np.repeat(X, w, axis=0), np.repeat(y, w)
    hb = b.fit(Xr, yr, epochs=4, batch_size=len(Xr), optimizer="adam", lr=0.05, shuffle=False, progress=False)
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        assert_close(p, q)
    np.testing.assert_allclose(ha["cost"], hb["cost"], rtol=1e-12)  # the reported cost is the weighted mean
    np.testing.assert_allclose(ha["accuracy"], hb["accuracy"], rtol=1e-12)


def test_weighted_batches_match_a_hand_weighted_step():
    X, y = data(12)
    w = np.linspace(0.5, 2.0, 12)
    net = softmax_net()
    ref = softmax_net()
    net.fit(X, y, epochs=1, batch_size=4, lr=0.3, shuffle=False, sample_weight=w, progress=False)
    Y = np.eye(3)[y]
    for k in range(0, 12, 4):  # the oracle: per-sample gradients (batch of one), weighted mean, SGD
        gw = [np.zeros_like(W) for W in ref.weights]
        gb = [np.zeros_like(b) for b in ref.biases]
        for i in range(k, k + 4):
            dw, db = ref.backprop(X[i:i + 1], Y[i:i + 1])
            gw = [g + w[i] * d for g, d in zip(gw, dw)]
            gb = [g + w[i] * d for g, d in zip(gb, db)]
        total = w[k:k + 4].sum()
        ref.weights = [W - 0.3 * g / total for W, g in zip(ref.weights, gw)]
        ref.biases = [b - 0.3 * g / total for b, g in zip(ref.biases, gb)]
    for p, q in zip(net.weights + net.biases, ref.weights + ref.biases):
        assert_close(p, q)


def test_bad_sample_weight(tmp_path):
    X, y = data()
    net = softmax_net()
    for bad, match in [(np.ones(5), "one weight per sample"), (-np.ones(len(X)), ">= 0"),
                       (np.zeros(len(X)), "positive sum"), (np.full(len(X), np.nan), "finite")]:
        with pytest.raises(ValueError, match=match):
            net.fit(X, y, epochs=1, batch_size=5, lr=0.1, sample_weight=bad, progress=False)
    np.save(tmp_path / "X.npy", X)
    with pytest.raises(ValueError, match="sample_weight needs X and Y in memory"):
        net.fit(np.load(tmp_path / "X.npy", mmap_mode="r"), y, epochs=1, batch_size=5, lr=0.1,
                sample_weight=np.ones(len(X)), progress=False)


def test_dropout_is_one_training_run_on_every_backend(backend):
    X, y = data()
    ref = softmax_net(dropout=0.3)
    net = softmax_net(backend, dropout=[0.3, 0.3])
    kw = dict(epochs=5, batch_size=8, optimizer="adam", lr=0.02, seed=3, progress=False)
    h_ref, h = ref.fit(X, y, **kw), net.fit(X, y, **kw)  # 30 samples: 3 full batches and one of 6
    for p, q in zip(net.weights + net.biases, ref.weights + ref.biases):
        assert_close(p, q)
    np.testing.assert_allclose(h["cost"], h_ref["cost"], rtol=1e-10)
    plain = softmax_net()
    plain.fit(X, y, **kw)
    assert not np.allclose(plain.params_numpy()[0][0], ref.params_numpy()[0][0])  # dropout did something


def test_dropout_rate_zero_is_no_dropout_and_predict_never_drops():
    X, y = data()
    a, b = softmax_net(dropout=0.0), softmax_net()
    kw = dict(epochs=3, batch_size=8, lr=0.2, shuffle=False, progress=False)
    a.fit(X, y, **kw)
    b.fit(X, y, **kw)
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):  # (not bit for bit: a ⊙ 1 changes the
        assert_close(p, q)                                         # memory layout the next GEMM sees)
    c = softmax_net(dropout=0.5)
    c.fit(X, y, **kw)
    np.testing.assert_array_equal(pbp.to_numpy(c.predict(X)), pbp.to_numpy(c.predict(X)))


def test_backprop_with_dropout_masks_is_the_gradient_of_the_dropped_network():
    """BP1–BP4 with fixed keep masks against central differences of the cost of the dropped forward pass."""
    X, y = data(6)
    Y = np.eye(3)[y]
    net = softmax_net()
    spec = net.spec
    rng = np.random.default_rng(0)
    keep = [(rng.random((6, n)) >= 0.4) / 0.6 for n in SIZES[1:-1]]
    cost = lambda ws, bs: float(np.sum(backprop.cost_per_sample(spec, *backprop.forward(spec, ws, bs, X, keep), Y)))
    gw, gb = backprop.backprop(spec, net.weights, net.biases, X, Y, keep=keep)
    eps = 1e-6
    for group, grads in (("w", gw), ("b", gb)):
        for l, g in enumerate(grads):
            base = (net.weights if group == "w" else net.biases)[l]
            num = np.empty(base.size)
            for i in range(base.size):
                moved = []
                for sign in (1, -1):
                    p = base.copy()
                    p.flat[i] += sign * eps
                    ws = [p if (group == "w" and k == l) else W for k, W in enumerate(net.weights)]
                    bs = [p if (group == "b" and k == l) else b for k, b in enumerate(net.biases)]
                    moved.append(cost(ws, bs))
                num[i] = (moved[0] - moved[1]) / (2 * eps)
            np.testing.assert_allclose(g.ravel(), num, rtol=1e-6, atol=1e-8)


def test_dropout_is_kept_by_checkpoints_and_checked(tmp_path):
    net = softmax_net(dropout=[0.2, 0.5])
    assert pbp.load(net.save(tmp_path / "d.npz")).dropout == (0.2, 0.5)
    assert net.to(backend="numpy").dropout == (0.2, 0.5)
    for bad, error in [(1.0, ValueError), ([0.1], ValueError), ("0.1", TypeError), (-0.1, ValueError)]:
        with pytest.raises(error, match="dropout"):
            softmax_net(dropout=bad)
    with pytest.raises(ValueError, match="hidden layers, and this network has none"):
        pbp.MLP([3, 2], dropout=0.5)
