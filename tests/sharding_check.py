"""Data-parallel checks that need several JAX devices; run by test_sharding.py in a subprocess.

JAX fixes its device list when it starts, so the 4 virtual CPU devices must be asked for before
``import jax``: this script sets XLA_FLAGS itself (keeping other flags) and then imports. It prints
one JSON object of measurements; the assertions are in test_sharding.py.

    python tests/sharding_check.py [n_devices]

Keep it fast: test_sharding.py gives it a time limit (CI runs on 2 cores).
"""

import json
import os
import sys

N_DEV = int(sys.argv[1]) if len(sys.argv) > 1 else 4
flag = f"--xla_force_host_platform_device_count={N_DEV}"
if flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flag).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# XLA's CPU client runs the virtual devices on a pool of max(NPROC or cores, devices) threads. With
# exactly 4 threads for 4 devices, a collective occasionally waits forever for its 4th participant
# (seen here on 2 cores: XLA aborted after 40 s in 2 of 6 runs); more threads avoid that.
os.environ.setdefault("NPROC", "16")

import tempfile  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

import portable_bp as pbp  # noqa: E402
from portable_bp import _sharding  # noqa: E402

out = {"n_devices": len(jax.devices()), "platform": jax.devices()[0].platform}
rng = np.random.default_rng(0)
N, BS = 960, 32  # 30 batches of 32 = 4 x 8 rows each
X = rng.standard_normal((N, 6))
labels = rng.integers(0, 3, N)
FIT = dict(epochs=4, batch_size=BS, lr=0.2, seed=3, progress=False)


def make(dtype="float64"):
    return pbp.MLP([6, 16, 8, 3], activation="tanh", output_activation="softmax", loss="cross_entropy",
                   backend="jax", dtype=dtype, seed=1)


def rel_diff(a, b):
    """Largest relative difference over every parameter of two networks."""
    wa, ba = a.params_numpy()
    wb, bb = b.params_numpy()
    return max(float(np.max(np.abs(p - q)) / np.max(np.abs(p))) for p, q in zip(wa + ba, wb + bb))


def recorder():
    """Wrap the (compiled) multi-step calls that fit builds from now on, to record the shardings of the
    stacked batches (1, m, ·) and the parameters they are called with."""
    seen, scan_steps = [], pbp._backend.scan_steps

    def make(*args):
        steps = scan_steps(*args)

        def record(params, state, batches, l2c):
            seen.append((batches[0], batches[1], params[0][0]))
            return steps(params, state, batches, l2c)

        return record

    pbp._backend.scan_steps = make
    pbp._shared._RUNS.clear()  # runs are shared by networks of a kind: build the mesh's anew, recorded
    return seen


def sharding_info(x):
    s = x.sharding
    return {
        "spec": str(getattr(s, "spec", None)),
        "n_devices": len(s.device_set),
        "replicated": bool(s.is_fully_replicated),
        "shard_rows": sorted({sh.data.shape[-2] for sh in x.addressable_shards}),  # the sample axis
        "shape": list(x.shape),
    }


scan_steps_unwrapped = pbp._backend.scan_steps

# single device vs the mesh, float64 -------------------------------------------------------------
single = make()
h1 = single.fit(X, labels, **FIT)
multi = make()
seen = recorder()
hm = multi.fit(X, labels, devices=N_DEV, **FIT)
pbp._backend.scan_steps = scan_steps_unwrapped
out["f64_rel_diff_params"] = rel_diff(single, multi)
out["f64_rel_diff_cost"] = max(abs(a - b) / abs(a) for a, b in zip(h1["cost"], hm["cost"]))
out["accuracy_single"], out["accuracy_multi"] = h1["accuracy"], hm["accuracy"]
out["steps_recorded"] = len(seen)
Xb, Yb, W0 = seen[0]
out["batch_X"], out["batch_Y"], out["param_in_step"] = sharding_info(Xb), sharding_info(Yb), sharding_info(W0)
out["param_after_fit"] = sharding_info(multi.weights[0])
out["all_batches_sharded"] = all(len(x.sharding.device_set) == N_DEV and not x.sharding.is_fully_replicated
                                 for x, _, _ in seen)

# XLA inserted the cross-device sum of BP3/BP4 in the compiled step --------------------------------
hlo = jax.jit(lambda ws, bs, X, Y: pbp.backprop.sgd_step(multi.spec, ws, bs, X, Y, 0.1)).lower(
    multi.weights, multi.biases, Xb[0], Yb[0]).compile().as_text()
out["hlo_has_all_reduce"] = "all-reduce" in hlo

# the running epoch cost on the mesh: the single device's, value for value ------------------------
run_single, run_multi = make(), make()
hrs = run_single.fit(X, labels, running_cost=True, **FIT)
hrm = run_multi.fit(X, labels, devices=N_DEV, running_cost=True, **FIT)
out["running_cost_rel_diff"] = max(abs(a - b) / abs(a) for a, b in zip(hrs["cost"], hrm["cost"]))
out["running_params_rel_diff"] = rel_diff(run_single, run_multi)

# a list of devices, and "all"; float32 ------------------------------------------------------------
two = make()
two.fit(X, labels, devices=jax.devices()[:2], **FIT)
out["f64_rel_diff_two_devices"] = rel_diff(single, two)
out["two_devices_param_devices"] = len(two.weights[0].sharding.device_set)
every = make()
every.fit(X, labels, devices="all", **FIT)
out["f64_rel_diff_all"] = rel_diff(single, every)
s32, m32 = make("float32"), make("float32")
s32.fit(X, labels, **FIT)
m32.fit(X, labels, devices=N_DEV, **FIT)
out["f32_rel_diff_params"] = rel_diff(s32, m32)

# predict / cost after a data-parallel fit, with a committed single-device X ----------------------
Xc = jax.device_put(X, jax.devices()[0])
out["predict_after_fit_rel_diff"] = float(np.max(np.abs(pbp.to_numpy(multi.predict(X))
                                                        - pbp.to_numpy(single.predict(X)))))
out["cost_committed_X"] = multi.cost(Xc, labels)

# out-of-core data on the mesh: a memory map, data-parallel, equals the in-memory single device ---
with tempfile.TemporaryDirectory() as d:
    np.save(f"{d}/X.npy", X)
    np.save(f"{d}/y.npy", labels)
    Xm, ym = np.load(f"{d}/X.npy", mmap_mode="r"), np.load(f"{d}/y.npy", mmap_mode="r")
    mm = make()
    mm.stream_rows = 100
    mm.fit(Xm, ym, devices=N_DEV, **FIT)
    out["memmap_multi_rel_diff"] = rel_diff(single, mm)
    del Xm, ym

# bad batch sizes ----------------------------------------------------------------------------------
errors = {}
cases = {"batch_not_multiple": (N, dict(batch_size=30)),  # 30 rows do not split over 4 devices
         "last_batch_not_multiple": (N + 2, dict(batch_size=32)),  # 962 = 30 x 32 + 2
         "too_many_devices": (N, dict(devices=N_DEV * 2)), "bad_devices": (N, dict(devices="gpu0"))}
for name, (n, kw) in cases.items():
    net = make()
    before = net.params_numpy()[0][0].copy()
    args = dict(FIT, devices=N_DEV)
    args.update(kw)
    try:
        net.fit(np.concatenate([X, X])[:n], np.concatenate([labels, labels])[:n], **args)
        errors[name] = None
    except (ValueError, TypeError) as exc:
        errors[name] = f"{type(exc).__name__}: {exc}"
    errors[name + "_params_kept"] = bool(np.array_equal(before, net.params_numpy()[0][0]))
out["errors"] = errors
out["plan_repr"] = repr(_sharding.data_parallel("jax", N_DEV))
print(json.dumps(out))
