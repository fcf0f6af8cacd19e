"""Failure handling and early stopping also hold for streamed data (memory maps) and for
data-parallel training on a JAX mesh (fit(devices=...)): same epoch and batch named, same
parameters kept, same best epoch restored as in memory on one device."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import portable_bp as pbp
from helpers import assert_close

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's overflow warnings while diverging


def relu_net(backend):
    return pbp.MLP([3, 8, 2], activation="relu", output_activation="identity", loss="mse", backend=backend, seed=0)


def same_params(a, b):
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        assert_close(q, p, rtol=1e-12, atol=1e-14)


@pytest.fixture
def regression_files(tmp_path):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((200, 3)), rng.standard_normal((200, 2))
    Y[150, 1] = 1e300  # finite, but its squared error overflows: the batch holding it is named
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", Y)
    return X, Y, np.load(tmp_path / "X.npy", mmap_mode="r"), np.load(tmp_path / "Y.npy", mmap_mode="r")


def test_divergence_on_a_memory_map_matches_in_memory(backend, regression_files):
    X, Y, Xm, Ym = regression_files
    mem, stream = relu_net(backend), relu_net(backend)
    stream.stream_rows = 48
    fit = dict(epochs=3, batch_size=16, lr=0.05, seed=2, progress=False)
    with pytest.raises(pbp.DivergenceError) as a:
        mem.fit(X, Y, **fit)
    with pytest.raises(pbp.DivergenceError) as b:
        stream.fit(Xm, Ym, **fit)
    assert (a.value.epoch, a.value.batch, a.value.n_batches) == (b.value.epoch, b.value.batch, b.value.n_batches)
    assert a.value.epoch == 1 and a.value.n_batches == 13
    same_params(mem, stream)


def test_interrupt_on_a_memory_map(backend, regression_files, monkeypatch):
    X, Y, Xm, Ym = regression_files
    Y, Ym = np.clip(Y, -3, 3), np.clip(Ym, -3, 3)
    net, ref = relu_net(backend), relu_net(backend)
    net.stream_rows = 48
    calls, real = [], pbp.train.Streamed.groups

    def groups(self, *args):  # streamed data goes one batch (one call) at a time, on every backend
        for group in real(self, *args):
            calls.append(1)
            if len(calls) == 20:  # epoch 2, batch 7
                raise KeyboardInterrupt
            yield group

    with monkeypatch.context() as m:
        m.setattr(pbp.train.Streamed, "groups", groups)
        with pytest.raises(KeyboardInterrupt) as info:
            net.fit(Xm, Ym, epochs=3, batch_size=16, lr=0.05, shuffle=False, progress=False)
    assert len(info.value.history["cost"]) == 1
    ref.fit(X, Y, epochs=1, batch_size=16, lr=0.05, shuffle=False, progress=False)
    for k in range(6):
        ref.update(X[16 * k : 16 * (k + 1)], Y[16 * k : 16 * (k + 1)], 0.05)
    same_params(net, ref)


def test_early_stopping_with_memory_maps(backend, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "yv.npy", 1 - y)
    Xm, ym, yvm = (np.load(tmp_path / f, mmap_mode="r") for f in ("X.npy", "y.npy", "yv.npy"))
    make = lambda: pbp.MLP([2, 6, 1], activation="tanh", output_activation="sigmoid", loss="cross_entropy",
                           backend=backend, seed=0)
    mem, stream = make(), make()
    stream.stream_rows = 50
    fit = dict(epochs=30, batch_size=10, lr=0.5, seed=0, progress=False, patience=2)
    h_mem = mem.fit(X, y, validation_data=(X, 1 - y), **fit)
    h_stream = stream.fit(Xm, ym, validation_data=(Xm, yvm), **fit)
    assert len(h_mem["val_cost"]) < 30 and len(h_stream["val_cost"]) == len(h_mem["val_cost"])
    np.testing.assert_allclose(h_stream["val_cost"], h_mem["val_cost"], rtol=1e-12)
    same_params(mem, stream)
    with pytest.raises(ValueError, match="validation_split needs X and Y in memory"):
        stream.fit(Xm, ym, epochs=1, batch_size=10, lr=0.5, progress=False, validation_split=0.2)


MESH_SCRIPT = textwrap.dedent(
    """
    import json, os
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("NPROC", "16")  # see tests/sharding_check.py: more XLA threads than devices
    import warnings
    warnings.simplefilter("ignore")
    import numpy as np
    import portable_bp as pbp

    out = {}
    rng = np.random.default_rng(0)
    X = rng.standard_normal((96, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    make = lambda: pbp.MLP([2, 6, 1], activation="tanh", output_activation="sigmoid", loss="cross_entropy",
                           backend="jax", seed=0)
    fit = dict(epochs=30, batch_size=16, lr=0.5, seed=0, progress=False, validation_data=(X, 1 - y), patience=2)
    one, mesh = make(), make()
    h1, h4 = one.fit(X, y, **fit), mesh.fit(X, y, devices=4, **fit)
    out["val_one"], out["val_mesh"] = h1["val_cost"], h4["val_cost"]
    out["params_dev"] = max(float(np.max(np.abs(pbp.to_numpy(a) - pbp.to_numpy(b))))
                            for a, b in zip(one.weights + one.biases, mesh.weights + mesh.biases))

    Yr = rng.standard_normal((96, 2))
    Yr[70, 0] = 1e300
    errs = []
    for devices in (None, 4):
        net = pbp.MLP([2, 5, 2], activation="relu", output_activation="identity", loss="mse", backend="jax", seed=0)
        try:
            net.fit(X, Yr, epochs=2, batch_size=16, lr=0.05, shuffle=False, progress=False, devices=devices)
        except pbp.DivergenceError as exc:
            errs.append([exc.epoch, exc.batch, exc.n_batches, [pbp.to_numpy(w).tolist() for w in net.weights]])
    out["div"] = errs
    print(json.dumps(out))
    """
)


def test_validation_and_divergence_on_a_jax_mesh(other_backends):
    if "jax" not in other_backends:
        pytest.skip("data-parallel training is JAX-only, and jax is not selected or not available")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    done = subprocess.run([sys.executable, "-c", MESH_SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(r["val_one"]) < 30 and len(r["val_mesh"]) == len(r["val_one"])  # stopped at the same epoch
    np.testing.assert_allclose(r["val_mesh"], r["val_one"], rtol=1e-12)
    assert r["params_dev"] < 1e-12  # the same best epoch restored
    (e1, b1, n1, w1), (e4, b4, n4, w4) = r["div"]
    assert (e1, b1, n1) == (e4, b4, n4) == (1, 5, 6)
    for a, b in zip(w1, w4):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_cross_entropy_targets_outside_0_1_in_a_memory_map_are_refused(tmp_path):
    """As in memory: a streamed Y for cross-entropy must lie in [0, 1]; the error names where it was read."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((100, 3)), np.eye(2)[rng.integers(0, 2, 100)]
    Y[70, 0] = 2.0
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", Y)
    Xm, Ym = np.load(tmp_path / "X.npy", mmap_mode="r"), np.load(tmp_path / "Y.npy", mmap_mode="r")
    net = pbp.MLP([3, 4, 2], output_activation="softmax", loss="cross_entropy", seed=0)
    net.stream_rows = 32
    before = net.params_numpy()
    with pytest.raises(ValueError, match=r"Y must lie in \[0, 1\].*got values from 0 to 2"):
        net.fit(X, Y, epochs=1, batch_size=10, lr=0.5, progress=False)
    with pytest.raises(ValueError, match=r"Y must lie in \[0, 1\].*read from the out-of-core data"):
        net.fit(Xm, Ym, epochs=1, batch_size=10, lr=0.5, shuffle=False, progress=False)
    for a, b in zip(before[0] + before[1], net.params_numpy()[0] + net.params_numpy()[1]):
        np.testing.assert_array_equal(a, b)
