"""Pickles and checkpoints that travel: a network or estimator pickled on a backend or device this
machine lacks (cupy, torch on cuda, JAX on a GPU) lands on NumPy / the default device with a
PickleFallbackWarning that says so, with the same predictions and optimizer state. The pickles are
crafted here: a real pickle's bytes with the backend and device names a GPU machine would write."""

import copy
import pickle
import warnings

import numpy as np
import pytest

import portable_bp as pbp
from portable_bp import _backend, checkpoint


def craft(obj, **changes):
    """Pickle bytes of ``obj`` (pickle's own, made by ``pickle.dumps(obj)``) with entries of its state
    replaced; for an estimator, entries of its network's state (``net_...``)."""
    state = obj.__getstate__()
    for key, value in changes.items():
        if key.startswith("net_"):
            state["_net_state"] = {**state["_net_state"], key[4:]: value}
        else:
            state[key] = value

    obj.__dict__["__getstate__"] = lambda: state  # pickle asks the object for its state: this one, once
    try:
        return pickle.dumps(obj)
    finally:
        del obj.__dict__["__getstate__"]


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, np.eye(2)[(X[:, 0] + X[:, 1] > 0).astype(int)]


@pytest.fixture
def trained():
    X, Y = data()
    net = pbp.MLP([3, 5, 2], activation="tanh", output_activation="softmax", loss="cross_entropy", seed=0)
    net.fit(X, Y, epochs=2, batch_size=10, optimizer="adam", lr=0.01, seed=0, progress=False)
    return net, X, Y


def missing(backend):
    if _backend.unavailable_reason(backend) is None:
        pytest.skip(f"{backend} is available here: its pickles do not need to travel")


def land(blob, match):
    with pytest.warns(pbp.PickleFallbackWarning, match=match) as record:
        obj = pickle.loads(blob)
    assert len(record) == 1
    return obj, str(record[0].message)


def same_network(got, want, X, Y, continued=True):
    """Same predictions and optimizer state, and (``continued``) the optimizer continues exactly as the
    original would."""
    np.testing.assert_allclose(pbp.to_numpy(got.predict(X)), pbp.to_numpy(want.predict(X)), rtol=0, atol=1e-12)
    assert got.optimizer.config() == want.optimizer.config()
    for a, b in zip(*(pbp.optim.tree_leaves(net.optimizer_state) for net in (got, want))):
        np.testing.assert_array_equal(pbp.to_numpy(a), pbp.to_numpy(b))
    if not continued:
        return
    want = copy.deepcopy(want)
    for net in (got, want):
        net.fit(X, Y, epochs=1, batch_size=10, seed=1, progress=False)
    for a, b in zip(got.params_numpy()[0], want.params_numpy()[0]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_cupy_pickle_lands_on_numpy(trained, monkeypatch):
    missing("cupy")
    net, X, Y = trained
    monkeypatch.delenv("PORTABLE_BP_BACKEND", raising=False)
    got, message = land(craft(net, backend="cupy", device="<CUDA Device 0>"), r"pickled on backend 'cupy'")
    assert got.backend == "numpy" and got.device is None
    assert "unpickled on 'numpy'" in message and "PORTABLE_BP_BACKEND" in message and ".to('cupy')" in message
    same_network(got, net, X, Y)


def test_the_environment_chooses_where_it_lands(trained, monkeypatch):
    missing("cupy")
    if _backend.unavailable_reason("torch") is not None:
        pytest.skip("torch is not installed here")
    net, X, Y = trained
    monkeypatch.setenv("PORTABLE_BP_BACKEND", "torch")
    got, message = land(craft(net, backend="cupy", device="<CUDA Device 1>"), "unpickled on 'torch'")
    assert got.backend == "torch"
    same_network(got, net, X, Y)
    monkeypatch.setenv("PORTABLE_BP_BACKEND", "no-such-backend")  # unusable: NumPy
    assert land(craft(net, backend="cupy"), "unpickled on 'numpy'")[0].backend == "numpy"


def test_torch_cuda_pickle_lands_on_the_cpu(trained):
    if _backend.unavailable_reason("torch") is not None:
        pytest.skip("torch is not installed here")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: a cuda:0 pickle lands where it was made")
    net, X, Y = trained
    got, message = land(craft(net, backend="torch", device="cuda:0"), r"'torch' device 'cuda:0'.*no CUDA device")
    assert got.backend == "torch" and got.weights[0].device.type == "cpu"
    same_network(got, net, X, Y)


def test_jax_gpu_pickle_lands_on_the_cpu(trained):
    if _backend.unavailable_reason("jax") is not None:
        pytest.skip("jax is not installed here")
    import jax

    try:
        jax.devices("gpu")
        pytest.skip("this machine has a JAX GPU")
    except RuntimeError:
        pass
    net, X, Y = trained
    got, _ = land(craft(net, backend="jax", device="cuda:0"), r"'jax' device 'cuda:0'.*no 'cuda' devices")
    assert got.backend == "jax" and {d.platform for d in got.weights[0].devices()} == {"cpu"}
    same_network(got, net, X, Y, continued=False)  # (a JAX fit costs a compilation; the others show it)
    got, _ = land(craft(net, backend="jax", device="cpu:7"), "not device 7")  # a device index this machine lacks


def test_unknown_backend_and_warnings_as_errors(trained):
    net, X, Y = trained
    got, message = land(craft(net, backend="tinygrad"), "knows no backend of that name")
    assert got.backend == "numpy"
    with warnings.catch_warnings():
        warnings.simplefilter("error", pbp.PickleFallbackWarning)  # the documented way to refuse instead
        with pytest.raises(pbp.PickleFallbackWarning, match="tinygrad"):
            pickle.loads(craft(net, backend="tinygrad"))


def test_pickles_that_need_no_travel_land_silently(backend):
    X, Y = data()
    device = {"jax": "cpu", "torch": "cpu", "array_api_strict": "CPU_DEVICE"}.get(backend)
    for dev in {None, device}:
        net = pbp.MLP([3, 4, 2], backend=backend, device=dev, seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", pbp.PickleFallbackWarning)
            got = pickle.loads(pickle.dumps(net))
        assert got.backend == backend and _backend.device_of(got.weights[0]) == _backend.device_of(net.weights[0])
        np.testing.assert_array_equal(pbp.to_numpy(got.predict(X)), pbp.to_numpy(net.predict(X)))


def test_estimator_pickled_on_a_gpu_lands_here():
    missing("cupy")
    pytest.importorskip("sklearn")
    from portable_bp.sklearn import MLPClassifier

    X, Y = data(60)
    y = Y.argmax(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    got, message = land(craft(est, net_backend="cupy", net_device=0), r"this estimator was pickled on backend 'cupy'")
    assert got.net_.backend == "numpy" and "set_params(backend=" in message
    np.testing.assert_allclose(got.predict_proba(X), est.predict_proba(X), rtol=0, atol=1e-12)
    theirs = copy.deepcopy(est)
    for e in (got, theirs):
        e.partial_fit(X, y)  # Adam continues with its moments on both
    np.testing.assert_allclose(got.coefs_[0], theirs.coefs_[0], rtol=0, atol=1e-12)
    if _backend.unavailable_reason("torch") is None:
        import torch

        if not torch.cuda.is_available():
            got, _ = land(craft(est, net_backend="torch", net_device="cuda:1"), "'torch' device 'cuda:1'")
            assert got.net_.backend == "torch"
            np.testing.assert_allclose(got.predict_proba(X), est.predict_proba(X), rtol=0, atol=1e-12)


def test_checkpoints_load_on_any_backend(trained, tmp_path, backend):
    """A checkpoint records the backend it was saved from but never needs it: load builds the network on
    the backend it is given. Here one 'saved from cupy on a GPU' loads everywhere, without a warning."""
    net, X, Y = trained
    meta = dict(sizes=list(net.sizes), activation=net.activation, output_activation=net.output_activation,
                loss=net.loss, dropout=None, kernel=net.kernel, dtype=net.dtype_name, backend="cupy")
    state = pbp.optim.tree_map(pbp.to_numpy, list(net.optimizer_state))
    path = tmp_path / "gpu.npz"
    checkpoint.write(path, meta, *net.params_numpy(), optimizer=(net.optimizer, *state))
    with warnings.catch_warnings():
        warnings.simplefilter("error", pbp.PickleFallbackWarning)
        got = pbp.load(path, backend=backend)
    assert got.backend == backend
    np.testing.assert_allclose(pbp.to_numpy(got.predict(X)), pbp.to_numpy(net.predict(X)), rtol=0, atol=1e-12)
