"""fit fails loudly (epoch and batch named, last finite parameters kept), survives Ctrl-C with its
history, and stops early on a validation set."""

import math

import numpy as np
import pytest

import portable_bp as pbp
from helpers import params_bits, params_finite, wrap_steps
from portable_bp.train import divergence

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's overflow warnings while diverging


def regression(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.standard_normal((n, 2))


def relu_net(backend, seed=0):
    return pbp.MLP([3, 8, 2], activation="relu", output_activation="identity", loss="mse", backend=backend, seed=seed)


def reference_divergence(net, X, Y, *, epochs, batch_size, lr, seed):
    """An independent, slow oracle: step batch by batch with the public API and check everything.

    Returns (epoch, batch) 1-based of the first batch whose cost is not finite or whose step would
    make a parameter non-finite (or, failing that, the last batch of the first epoch whose
    training cost is not finite), with ``net`` left just before it.
    """
    rng = np.random.default_rng(seed)
    n = len(X)
    for epoch in range(epochs):
        order = rng.permutation(n)
        Xs, Ys = X[order], Y[order]
        starts = list(range(0, n, batch_size))
        for k, s in enumerate(starts):
            Xb, Yb = Xs[s : s + batch_size], Ys[s : s + batch_size]
            if not math.isfinite(net.cost(Xb, Yb)):
                return epoch + 1, k + 1
            before = (net.weights, net.biases)
            try:
                net.update(Xb, Yb, lr)  # raises, unchanged, if the step makes a parameter non-finite
            except FloatingPointError:
                return epoch + 1, k + 1
        if not math.isfinite(net.cost(X, Y)):
            net.weights, net.biases = before
            return epoch + 1, len(starts)
    return None


@pytest.mark.parametrize("lr", [0.8, 1.0, 1.5])
def test_divergence_names_epoch_and_batch_like_the_oracle(backend, lr):
    X, Y = regression()
    net, ref = relu_net(backend), relu_net(backend)
    expected = reference_divergence(ref, X, Y, epochs=20, batch_size=8, lr=lr, seed=1)
    assert expected is not None and expected[0] >= 2, "the test needs a divergence after the first epoch"
    with pytest.raises(FloatingPointError) as info:
        net.fit(X, Y, epochs=20, batch_size=8, lr=lr, seed=1, progress=False)
    err = info.value
    assert isinstance(err, pbp.DivergenceError)
    assert (err.epoch, err.batch) == expected
    assert err.n_batches == 5 and err.lr == lr and len(err.history["cost"]) == err.epoch - 1
    msg = str(err)
    assert f"epoch {err.epoch}, batch {err.batch} of 5" in msg and "smaller learning rate" in msg
    assert params_finite(net)
    assert params_bits(net) == params_bits(ref)  # exactly the parameters from just before the bad batch


def test_divergence_with_the_running_cost_is_located_the_same(backend):
    """fit(running_cost=True) makes no pass over the training set: a divergence still shows (a batch
    cost or a parameter not finite), is replayed and named like the full pass's, same parameters kept."""
    X, Y = regression()
    net, ref = relu_net(backend), relu_net(backend)
    errors = []
    for n, running in ((net, True), (ref, False)):
        with pytest.raises(pbp.DivergenceError) as info:
            n.fit(X, Y, epochs=20, batch_size=8, lr=1.5, seed=1, progress=False, running_cost=running)
        errors.append(info.value)
    assert (errors[0].epoch, errors[0].batch) == (errors[1].epoch, errors[1].batch)
    assert params_finite(net) and params_bits(net) == params_bits(ref)


def test_non_finite_cost_in_one_batch(backend):
    """A target so large its squared error overflows: batch 4 of epoch 1 is named, batches 1-3 kept."""
    X, Y = regression()
    Y[35, 0] = 1e300  # finite, so it passes validation; 0.5 (a - y)^2 overflows
    net, ref = relu_net(backend), relu_net(backend)
    with pytest.raises(pbp.DivergenceError, match=r"epoch 1, batch 4 of 4: the cost of this batch was inf") as info:
        net.fit(X, Y, epochs=3, batch_size=10, lr=0.1, shuffle=False, progress=False)
    assert info.value.history == {"cost": []}
    for s in (0, 10, 20):
        ref.update(X[s : s + 10], Y[s : s + 10], 0.1)
    assert params_bits(net) == params_bits(ref)


def test_non_finite_gradient_with_finite_cost(backend):
    """lr so large the very first step overflows the parameters: batch 1, the initial network kept."""
    X, Y = regression(n=8)
    net = pbp.MLP([3, 4, 2], activation="tanh", output_activation="identity", loss="mse", backend=backend, seed=0)
    start = params_bits(net)
    with pytest.raises(pbp.DivergenceError, match="epoch 1, batch 1 of 8: its gradient step gave non-finite"):
        net.fit(X, 100 * Y, epochs=2, batch_size=1, lr=1e307, shuffle=False, progress=False)
    assert params_bits(net) == start


def test_update_refuses_a_non_finite_step(backend):
    X, Y = regression(n=8)
    net = pbp.MLP([3, 4, 2], activation="tanh", output_activation="identity", loss="mse", backend=backend, seed=0)
    start = params_bits(net)
    with pytest.raises(FloatingPointError, match="NaN or infinite.*unchanged.*smaller learning rate"):
        net.update(X[:1], 100 * Y[:1], lr=1e307)
    assert params_bits(net) == start


def test_the_check_does_not_change_the_reported_cost(backend):
    """The finiteness check is folded into the epoch cost as 0·Σp: the history is bit-for-bit the cost."""
    X, Y = regression()
    net = relu_net(backend)
    history = net.fit(X, Y, epochs=3, batch_size=8, lr=0.05, seed=0, progress=False)
    assert history["cost"][-1] == net.cost(X, Y)


def test_no_replay_on_the_normal_path(monkeypatch):
    X, Y = regression()
    calls = []
    monkeypatch.setattr(divergence, "locate", lambda *a: calls.append(a))
    relu_net("numpy").fit(X, Y, epochs=3, batch_size=8, lr=0.05, seed=0, progress=False)
    assert calls == []


# -- KeyboardInterrupt --------------------------------------------------------------------------
def test_interrupt_mid_epoch_keeps_last_completed_step(backend, monkeypatch):
    if backend == "jax":
        pytest.skip("JAX runs an epoch's steps as one compiled call: Ctrl-C lands between calls "
                    "(test_interrupt_between_compiled_epochs)")
    X, Y = regression(n=24)
    net, ref = relu_net(backend), relu_net(backend)
    calls = []

    def step(real_step, *args):
        calls.append(1)
        if len(calls) == 7:  # epoch 2, batch 3 (4 batches per epoch)
            raise KeyboardInterrupt
        return real_step(*args)

    with monkeypatch.context() as m:
        wrap_steps(m, step)
        with pytest.raises(KeyboardInterrupt) as info:
            net.fit(X, Y, epochs=5, batch_size=6, lr=0.05, shuffle=False, progress=False)
    ref_history = ref.fit(X, Y, epochs=1, batch_size=6, lr=0.05, shuffle=False, progress=False)
    ref.update(X[:6], Y[:6], 0.05)
    ref.update(X[6:12], Y[6:12], 0.05)
    assert info.value.history == ref_history  # the one completed epoch
    assert params_bits(net) == params_bits(ref)  # six completed steps, nothing half-applied


def test_interrupt_between_compiled_epochs(backend, monkeypatch):
    """Ctrl-C while an epoch is being prepared (on JAX, between compiled epochs) keeps the epochs done."""
    X, Y = regression(n=24)
    net, ref = relu_net(backend), relu_net(backend)
    real, epochs = pbp.train.Arrays.groups, []

    def groups(self, *args):
        epochs.append(1)
        if len(epochs) == 3:
            raise KeyboardInterrupt
        yield from real(self, *args)

    with monkeypatch.context() as m:
        m.setattr(pbp.train.Arrays, "groups", groups)
        with pytest.raises(KeyboardInterrupt) as info:
            net.fit(X, Y, epochs=5, batch_size=6, lr=0.05, seed=2, progress=False)
    assert info.value.history == ref.fit(X, Y, epochs=2, batch_size=6, lr=0.05, seed=2, progress=False)
    assert params_bits(net) == params_bits(ref)


def test_interrupt_from_callback_keeps_the_epochs_done(backend):
    X, Y = regression(n=24)
    net, ref = relu_net(backend), relu_net(backend)

    def callback(epoch, net, history):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        net.fit(X, Y, epochs=10, batch_size=6, lr=0.05, seed=4, progress=False, callback=callback)
    ref_history = ref.fit(X, Y, epochs=3, batch_size=6, lr=0.05, seed=4, progress=False)
    assert info.value.history == ref_history and len(ref_history["cost"]) == 3
    assert params_bits(net) == params_bits(ref)


# -- validation and early stopping --------------------------------------------------------------
def classification(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return X, y


def test_early_stopping_restores_the_best_epoch(backend):
    """Validation labels flipped: the validation cost rises as training succeeds, so it stops."""
    X, y = classification()
    net = pbp.MLP([2, 6, 1], activation="tanh", output_activation="sigmoid", loss="cross_entropy",
                  backend=backend, seed=0)
    history = net.fit(X, y, epochs=40, batch_size=10, lr=0.5, seed=0, progress=False,
                      validation_data=(X, 1 - y), patience=3)
    val = history["val_cost"]
    best = int(np.argmin(val))
    assert len(val) == best + 1 + 3 < 40  # stopped 3 epochs after the best one
    assert set(history) == {"cost", "accuracy", "val_cost", "val_accuracy"}
    assert all(len(v) == len(val) for v in history.values())
    assert net.cost(X, 1 - y) == val[best]  # the best parameters, restored exactly


def test_patience_not_reached_ends_at_best(backend):
    X, y = classification()
    net = pbp.MLP([2, 6, 1], activation="tanh", output_activation="sigmoid", loss="cross_entropy",
                  backend=backend, seed=0)
    history = net.fit(X, y, epochs=6, batch_size=10, lr=0.5, seed=0, progress=False,
                      validation_data=(X, y), patience=50)
    assert len(history["val_cost"]) == 6
    assert net.cost(X, y) == min(history["val_cost"])


def test_validation_split_holds_out_the_last_samples(backend):
    X, y = classification()
    a = pbp.MLP([2, 6, 1], backend=backend, seed=0)
    b = pbp.MLP([2, 6, 1], backend=backend, seed=0)
    ha = a.fit(X, y, epochs=3, batch_size=9, lr=0.5, seed=2, progress=False, validation_split=0.25)
    hb = b.fit(X[:45], y[:45], epochs=3, batch_size=9, lr=0.5, seed=2, progress=False,
               validation_data=(X[45:], y[45:]))
    assert ha == hb and params_bits(a) == params_bits(b)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(patience=2), ValueError, "patience needs validation data"),
        (dict(patience=0, validation_split=0.2), ValueError, "patience must be > 0"),
        (dict(validation_split=0.2, validation_data="x"), ValueError, "not both"),
        (dict(validation_split=1.0), ValueError, r"must be in \(0, 1\)"),
        (dict(validation_split=0.001), ValueError, "at least one sample"),
        (dict(validation_split=-0.1), ValueError, r"validation_split must be in \(0, 1\)"),
        (dict(validation_data=np.ones((5, 2))), TypeError, "pair"),
        (dict(validation_data=(np.ones((5, 3)), np.ones(5))), ValueError, "validation_data X has 3 features"),
        (dict(validation_data=(np.ones((5, 2)), np.ones(4))), ValueError, "validation_data Y has 4"),
        (dict(validation_data=(np.full((5, 2), np.nan), np.ones(5))), ValueError, "NaN"),
        (dict(validation_split=0.5, batch_size=40), ValueError, "batch_size=40 is larger than the 30"),
        (dict(callback="print"), TypeError, "callback must be callable"),
        (dict(shuffle="yes"), TypeError, "shuffle must be True or False"),
        (dict(seed=-3), ValueError, "seed must be a non-negative integer"),
        (dict(seed="abc"), TypeError, "seed must be None"),
    ],
)
def test_bad_fit_options(kwargs, error, match):
    X, y = classification()
    net = pbp.MLP([2, 6, 1], seed=0)
    start = params_bits(net)
    settings = dict(epochs=2, batch_size=10, lr=0.5, progress=False) | kwargs
    with pytest.raises(error, match=match):
        net.fit(X, y, **settings)
    assert params_bits(net) == start


def test_an_internal_value_error_mid_epoch_is_not_called_bad_data(monkeypatch):
    """Only bad data read during training (out-of-core blocks) gets "the network keeps the parameters it
    had before this epoch"; any other ValueError raised by a step comes out as it is."""
    X, Y = regression()
    net = relu_net("numpy")

    def step(real, *args):
        raise ValueError("boom")

    wrap_steps(monkeypatch, step)
    with pytest.raises(ValueError, match="^boom$"):
        net.fit(X, Y, epochs=1, batch_size=8, lr=0.1, progress=False)
