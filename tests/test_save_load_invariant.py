"""The invariant: every file ``save`` writes, ``load`` reads back to an equal network — parameters,
optimizer, its state, schedule, dropout — for every optimizer (the scikit-learn estimators' own
among them), every schedule, sample weights, after a DivergenceError, on every backend; and the
loaded network trains on exactly as the saved one would have. ``save`` never writes a file ``load``
refuses: what it would refuse, save refuses before writing anything.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import portable_bp as pbp
from portable_bp import optim
from portable_bp.optim import schedules

OPTIMIZERS = {
    "sgd": lambda lr: optim.sgd(lr),
    "momentum": lambda lr: optim.momentum(lr, beta=0.8),
    "nesterov": lambda lr: optim.momentum(lr, beta=0.7, nesterov=True),
    "adam": lambda lr: optim.adam(lr),
    "adamw": lambda lr: optim.adamw(lr, weight_decay=0.1),
    "sklearn_sgd": lambda lr: optim._sklearn.sklearn_sgd(lr, momentum=0.9, nesterov=True),
}
SCHEDULES = {
    "float": 0.05,
    "constant": schedules.constant(0.05),
    "step_decay": schedules.step_decay(0.05, drop=0.5, every=2),
    "invscaling": schedules.invscaling(0.05, power_t=0.5),
    "cosine": schedules.cosine(0.05, decay_steps=5, alpha=0.1),
}


def host(tree):
    return [np.asarray(pbp.to_numpy(a)) for a in optim.tree_leaves(tree)]


def assert_equal_networks(a, b):
    """Same spec, same parameter bits, same optimizer (config) and the same state bits."""
    assert (a.sizes, a.activation, a.output_activation, a.loss, a.kernel, a.dtype_name, a.dropout) == (
        b.sizes, b.activation, b.output_activation, b.loss, b.kernel, b.dtype_name, b.dropout)
    for x, y in zip(host(a.params), host(b.params)):
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
    assert (a.optimizer is None) == (b.optimizer is None)
    if a.optimizer is not None:
        assert a.optimizer.config() == b.optimizer.config()
        for x, y in zip(host(a.optimizer_state), host(b.optimizer_state), strict=True):
            assert x.astype(a.dtype_name).tobytes() == y.astype(b.dtype_name).tobytes()


def data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.integers(0, 2, n)


def net_for(backend, dtype="float64", dropout=None):
    return pbp.MLP([3, 5, 4, 2], activation="tanh", output_activation="softmax", loss="cross_entropy",
                   backend=backend, dtype=dtype, seed=0, dropout=dropout)


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("lr", list(SCHEDULES))
def test_every_optimizer_and_schedule_round_trips_and_trains_on_identically(backend, opt, lr, tmp_path):
    if backend == "jax" and lr not in ("float", "cosine"):
        pytest.skip("on JAX every schedule compiles anew: a float and cosine stand for them (the schedules' own "
                    "numerics are checked on every backend in test_optim)")
    X, y = data()
    net = net_for(backend)
    net.fit(X, y, epochs=1, batch_size=4, optimizer=OPTIMIZERS[opt](SCHEDULES[lr]), progress=False, seed=1)
    back = pbp.load(net.save(tmp_path / "m.npz"), backend=backend)
    assert_equal_networks(net, back)
    for n in (net, back):  # the optimizer continues with its state: the same next epoch, bit for bit
        n.fit(X, y, epochs=1, batch_size=4, progress=False, seed=2)
    assert_equal_networks(net, back)


def test_dropout_sample_weights_lr_scale_and_float32_round_trip(backend, tmp_path):
    X, y = data(15)
    w = np.linspace(0.5, 2.0, 15)
    net = net_for(backend, "float32", dropout=[0.25, 0.1])
    reduce = pbp.train.callbacks.ReduceLROnPlateau("cost", factor=0.5, patience=0, min_delta=10.0)
    net.fit(X, y, epochs=2, batch_size=5, optimizer="adam", lr=0.01, sample_weight=w, callbacks=[reduce],
            progress=False, seed=3)
    assert float(pbp.to_numpy(net.optimizer_state.lr_scale)) < 1  # the scale is part of the state
    back = pbp.load(net.save(tmp_path / "m.npz"), backend=backend)
    assert_equal_networks(net, back)
    for n in (net, back):
        n.fit(X, y, epochs=1, batch_size=5, sample_weight=w, progress=False, seed=4)
    assert_equal_networks(net, back)


def test_a_custom_schedule_is_saved_as_its_current_rate(tmp_path):
    X, y = data()
    net = net_for("numpy")
    net.fit(X, y, epochs=1, batch_size=4, optimizer=optim.sgd(lambda step: 0.1 / (1 + step)), progress=False)
    back = pbp.load(net.save(tmp_path / "m.npz"))
    assert back.optimizer.config() == {"name": "sgd", "lr": 0.1 / (1 + 3)}
    for x, y2 in zip(host(net.params), host(back.params)):
        np.testing.assert_array_equal(x, y2)


@pytest.mark.parametrize("solver,learning_rate,momentum", [
    ("sgd", "adaptive", 0.9), ("sgd", "invscaling", 0.9), ("sgd", "constant", 0.9), ("sgd", "constant", 1.0),
    ("sgd", "constant", 0.0), ("adam", "constant", 0.9),
])
def test_the_estimators_networks_round_trip(backend, solver, learning_rate, momentum, tmp_path):
    """Was: learning_rate="adaptive"/"invscaling" saved an optimizer ("sklearn_sgd") load refused."""
    from portable_bp.sklearn import MLPClassifier

    if backend != "numpy" and (solver, learning_rate) != ("sgd", "adaptive"):
        pytest.skip("the whole table on NumPy; adaptive (scikit-learn's SGD and a changing lr_scale) elsewhere")

    X, y = data(30)
    clf = MLPClassifier((4,), solver=solver, learning_rate=learning_rate, momentum=momentum, max_iter=4,
                        batch_size=10, random_state=0, backend=backend, n_iter_no_change=1, tol=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    net = clf.net_
    back = pbp.load(net.save(tmp_path / "m.npz"), backend=backend)
    assert_equal_networks(net, back)
    if backend == "jax":
        return  # training on: the same on every backend (a JAX compilation more, for nothing new)
    for n in (net, back):
        n.fit(X, np.eye(2)[y][:, 1:], epochs=1, batch_size=10, progress=False, seed=0)
    assert_equal_networks(net, back)


def test_sklearn_sgd_is_built_by_from_config_and_pickles():
    import pickle

    opt = optim._sklearn.sklearn_sgd(0.1, momentum=0.5, nesterov=False)
    assert optim.from_config(opt.config()).config() == opt.config()
    assert pickle.loads(pickle.dumps(opt)).config() == opt.config()
    with pytest.raises(ValueError, match="momentum"):
        optim._sklearn.sklearn_sgd(0.1, momentum=1.5)
    assert opt.layout == ("params",)  # one velocity slot: optim.chain can wrap it (the estimators' clip_norm)
    warm = optim._sklearn.sklearn_sgd(schedules.with_warmup(0.1, 3))  # the estimators' warmup_steps
    assert optim.from_config(warm.config()).config() == warm.config()


# -- after a divergence ----------------------------------------------------------------------------
def diverging(backend):
    """AdamW in float32 at lr=1000 on a [2, 8, 2] relu network: Adam's v overflows (g² beyond float32)
    while the weights stay finite — the case of the issue."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((40, 2)) * 3, rng.standard_normal((40, 2)) * 3
    net = pbp.MLP([2, 8, 2], activation="relu", output_activation="identity", backend=backend, dtype="float32",
                  seed=0)
    return net, X, Y


def test_after_a_divergence_the_state_goes_back_with_the_weights(backend, tmp_path):
    """Was: the weights were finite but Adam's second moment was inf, and load refused the saved file."""
    net, X, Y = diverging(backend)
    with pytest.raises(pbp.DivergenceError) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.fit(X, Y, epochs=30, batch_size=5, optimizer=optim.adamw(1000.0), shuffle=False, progress=False)
    err = info.value
    assert all(np.isfinite(a).all() for a in host(net.params) + host(net.optimizer_state))
    steps = (err.epoch - 1) * err.n_batches + (err.batch - 1)  # the steps before the bad batch
    assert float(pbp.to_numpy(net.optimizer_state.step)) == steps
    # the oracle: the same training stopped by hand just before the bad batch (no divergence there)
    ref, _, _ = diverging(backend)
    if err.epoch > 1:
        ref.fit(X, Y, epochs=err.epoch - 1, batch_size=5, optimizer=optim.adamw(1000.0), shuffle=False, progress=False)
    if err.batch > 1:
        n = (err.batch - 1) * 5
        ref.fit(X[:n], Y[:n], epochs=1, batch_size=5, shuffle=False, progress=False,
                **({"optimizer": optim.adamw(1000.0)} if err.epoch == 1 else {}))
    if steps:
        assert_equal_networks(net, ref)
    back = pbp.load(net.save(tmp_path / "m.npz"), backend=backend)
    assert_equal_networks(net, back)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@given(lr=st.floats(1.0, 1e6), opt=st.sampled_from(["sgd", "momentum", "adam", "adamw"]),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 3))
def test_whatever_fit_ends_with_save_then_load_is_equal(lr, opt, dtype, seed, tmp_path_factory):
    """Large rates on relu/identity: fit ends normally or with DivergenceError; either way the file
    save writes loads back equal."""
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((20, 2)) * 3, rng.standard_normal((20, 2))
    net = pbp.MLP([2, 6, 2], activation="relu", output_activation="identity", dtype=dtype, seed=seed)
    try:
        net.fit(X, Y, epochs=4, batch_size=5, optimizer=opt, lr=lr, progress=False, seed=seed)
    except pbp.DivergenceError:
        pass
    back = pbp.load(net.save(tmp_path_factory.mktemp("d") / "m.npz"))
    assert_equal_networks(net, back)


def test_save_refuses_what_load_would_refuse(tmp_path):
    """The last guard: a network holding NaN (set by hand) or metadata load would refuse is not written."""
    net = net_for("numpy")
    path = tmp_path / "m.npz"
    net.weights = [net.weights[0] * math.nan, *net.weights[1:]]
    with pytest.raises(ValueError, match="cannot save to .*nothing was written.*W1 contains NaN"):
        net.save(path)
    assert not path.exists()
    net = net_for("numpy")
    deep = []
    for _ in range(70):
        deep = [deep]
    with pytest.raises(ValueError, match="nests deeper than 64"):
        net.save(path, metadata={"deep": deep})
    assert not path.exists()
    net.save(path, metadata={"ok": [[[1]]]})
    assert pbp.checkpoint.read_metadata(path)["user"] == {"ok": [[[1]]]}
