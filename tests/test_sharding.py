"""Data-parallel training on a JAX device mesh: fit(devices=...).

JAX fixes its device list when it starts, so the multi-device checks run ``sharding_check.py`` in
a subprocess that asks for 4 virtual CPU devices (XLA_FLAGS) before importing JAX; the checks
below read its JSON report. The in-process tests cover what needs no second device.
"""

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import portable_bp as pbp
from helpers import assert_close

N_DEV = 4
SCRIPT = Path(__file__).with_name("sharding_check.py")


@pytest.fixture
def jax_only(other_backends):
    """Data parallelism is JAX-only: run when jax is among the selected, available backends."""
    if "jax" not in other_backends:
        pytest.skip("data-parallel training is JAX-only, and jax is not selected or not available")


@functools.cache
def report():
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)  # the script sets the device count itself
    proc = subprocess.run([sys.executable, str(SCRIPT), str(N_DEV)], capture_output=True, text=True,
                          timeout=300, env=env)
    if proc.returncode != 0:
        pytest.fail(f"sharding_check.py failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_virtual_devices_exist(jax_only):
    r = report()
    assert r["n_devices"] == N_DEV and r["platform"] == "cpu"


def test_mesh_equals_single_device_float64(jax_only):
    r = report()
    assert r["f64_rel_diff_params"] < 1e-12, r["f64_rel_diff_params"]
    assert r["f64_rel_diff_cost"] < 1e-12
    assert r["f64_rel_diff_two_devices"] < 1e-12  # a list of 2 devices
    assert r["f64_rel_diff_all"] < 1e-12  # devices="all"
    assert r["memmap_multi_rel_diff"] < 1e-12  # a memory map streamed onto the mesh
    np.testing.assert_allclose(r["accuracy_multi"], r["accuracy_single"], rtol=1e-12)
    assert r["f32_rel_diff_params"] < 1e-5
    assert r["running_cost_rel_diff"] < 1e-12 and r["running_params_rel_diff"] < 1e-12  # fit(running_cost=True)


def test_batches_are_sharded_and_parameters_replicated(jax_only):
    r = report()
    assert r["steps_recorded"] == 4 * 30  # 4 epochs of 960 / 32 batches went through the step, one call each
    assert r["all_batches_sharded"]
    for key, width in (("batch_X", 6), ("batch_Y", 3)):
        info = r[key]  # a batch stacked as a group of one, (1, 32, width), its sample axis sharded
        assert info["spec"] == "P(None, 'batch')" and info["n_devices"] == N_DEV and not info["replicated"]
        assert info["shape"] == [1, 32, width] and info["shard_rows"] == [32 // N_DEV]  # 8 rows per device
    assert r["param_in_step"]["replicated"] and r["param_in_step"]["n_devices"] == N_DEV
    assert r["hlo_has_all_reduce"]  # XLA sums BP3/BP4 across the shards
    # afterwards the parameters are back on one device, and other methods take any input
    assert r["param_after_fit"]["n_devices"] == 1 and r["two_devices_param_devices"] == 1
    assert r["predict_after_fit_rel_diff"] < 1e-12
    assert np.isfinite(r["cost_committed_X"])


def test_uneven_batches_and_bad_devices_are_refused(jax_only):
    errors = report()["errors"]
    assert "batch_size=30 is not a multiple of 4" in errors["batch_not_multiple"]
    assert "last mini-batch" in errors["last_batch_not_multiple"]
    assert "XLA_FLAGS" in errors["too_many_devices"]
    assert errors["bad_devices"].startswith("ValueError")
    for name in ("batch_not_multiple", "last_batch_not_multiple", "too_many_devices", "bad_devices"):
        assert errors[name + "_params_kept"], name


# -- in this process (however many devices JAX has here) ------------------------------------------
def small_problem():
    rng = np.random.default_rng(0)
    return rng.standard_normal((64, 3)), rng.integers(0, 2, 64)


def test_devices_need_jax(backend):
    if backend == "jax":
        pytest.skip("checks the other backends")
    net = pbp.MLP([3, 4, 2], output_activation="softmax", loss="cross_entropy", backend=backend, seed=0)
    X, y = small_problem()
    with pytest.raises(ValueError, match="backend='jax'"):
        net.fit(X, y, epochs=1, batch_size=8, lr=0.1, progress=False, devices=2)


def test_one_device_mesh_equals_plain_fit(jax_only):
    import jax

    X, y = small_problem()
    kw = dict(epochs=2, batch_size=8, lr=0.5, seed=1, progress=False)
    make = lambda: pbp.MLP([3, 4, 2], output_activation="softmax", loss="cross_entropy", backend="jax", seed=0)
    plain, mesh = make(), make()
    plain.fit(X, y, **kw)
    mesh.fit(X, y, devices=[jax.devices()[0]], **kw)
    for a, b in zip(plain.weights + plain.biases, mesh.weights + mesh.biases):
        assert_close(b, a)


def test_bad_devices_arguments(jax_only):
    import jax

    X, y = small_problem()
    net = pbp.MLP([3, 4, 2], output_activation="softmax", loss="cross_entropy", backend="jax", seed=0)
    kw = dict(epochs=1, batch_size=8, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="XLA_FLAGS"):
        net.fit(X, y, devices=len(jax.devices()) + 1, **kw)
    with pytest.raises(ValueError, match=">= 1"):
        net.fit(X, y, devices=0, **kw)
    with pytest.raises(TypeError, match="JAX devices"):
        net.fit(X, y, devices=["cpu:0"], **kw)
    with pytest.raises(TypeError, match="JAX devices"):
        net.fit(X, y, devices=2.5, **kw)
    with pytest.raises(ValueError, match="more than once"):
        net.fit(X, y, devices=[jax.devices()[0]] * 2, **kw)
    loop = pbp.MLP([3, 4, 2], output_activation="softmax", loss="cross_entropy", backend="jax", kernel="loop", seed=0)
    with pytest.raises(ValueError, match="kernel='loop'"):
        loop.fit(X, y, devices=1, **kw)


def test_mesh_of_every_device_in_this_process(jax_only):
    """Runs where this pytest process itself has several devices (nox -s tests_multidevice: 4)."""
    import jax

    k = len(jax.devices())
    if k < 2:
        pytest.skip("one JAX device in this process; `nox -s tests_multidevice` starts pytest with 4")
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((16 * k, 3)), rng.integers(0, 2, 16 * k)
    kw = dict(epochs=3, batch_size=4 * k, lr=0.5, seed=1, progress=False)
    make = lambda: pbp.MLP([3, 4, 2], output_activation="softmax", loss="cross_entropy", backend="jax", seed=0)
    plain, mesh = make(), make()
    h_plain = plain.fit(X, y, **kw)
    h_mesh = mesh.fit(X, y, devices="all", **kw)
    for a, b in zip(plain.weights + plain.biases, mesh.weights + mesh.biases):
        assert_close(b, a)
    np.testing.assert_allclose(h_mesh["cost"], h_plain["cost"], rtol=1e-12)
