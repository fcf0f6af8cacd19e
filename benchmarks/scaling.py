"""Data-parallel scaling of portable_bp on JAX: throughput against the number of devices.

    python benchmarks/scaling.py --out runs/scaling              # every device count 1, 2, 4, ... here
    python benchmarks/scaling.py --out runs/scaling --quick      # a small network, seconds
    python benchmarks/scaling.py --out DIR --devices 1,2,4,8 --batch-size 4096 --dtype float32

For each device count k it trains the same network on the same data with ``fit(devices=k)`` and
reports samples per second, two ways (medians over ``--repeats``):

* ``step``: the jitted training step alone (forward, BP1-BP4, update, the all-reduce XLA adds) on
  mini-batches already sharded over the k devices: compute and communication;
* ``fit``: one whole epoch of ``net.fit(X, y, devices=k)``: gathering each batch on the host,
  copying its shards to the devices, the steps, and the epoch's cost/accuracy pass.

The global batch is fixed (strong scaling): k devices each get batch_size / k rows.

Where several accelerators exist (GPUs), it measures them. On a CPU-only machine JAX is given
``--virtual-cpu`` virtual devices (XLA_FLAGS=--xla_force_host_platform_device_count, set here
before JAX starts). Virtual CPU devices share the machine's cores, so their numbers show the cost
and correctness of the sharded path, NOT real scaling; the output says so.

Writes DIR/scaling.json (every number and the environment), DIR/scaling.csv and DIR/scaling.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="directory for scaling.json, scaling.csv, scaling.md")
    p.add_argument("--devices", default=None,
                   help="comma-separated device counts (default: 1, 2, 4, ... up to every device)")
    p.add_argument("--virtual-cpu", type=int, default=4,
                   help="virtual CPU devices to ask JAX for (only used by the CPU platform; default 4)")
    p.add_argument("--sizes", default="784,512,512,10", help="layer widths (default 784,512,512,10)")
    p.add_argument("--batch-size", type=int, default=1024, help="global mini-batch (default 1024)")
    p.add_argument("--n-samples", type=int, default=32768, help="training samples (default 32768)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=3, help="timed repeats; the median is reported (default 3)")
    p.add_argument("--steps", type=int, default=20, help="steps per timed repeat of 'step' (default 20)")
    p.add_argument("--quick", action="store_true", help="a small network and data set (a smoke run)")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.batch_size, args.n_samples, args.steps = "64,128,10", 256, 4096, 10
    return args


def set_up_jax(virtual_cpu):
    """Ask for virtual CPU devices before JAX starts (harmless where GPUs are the default)."""
    if "jax" in sys.modules:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if virtual_cpu and virtual_cpu > 1 and "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={virtual_cpu}".strip()
        # XLA runs the virtual devices on max(NPROC or cores, devices) threads; with exactly as many
        # threads as devices its collectives occasionally wait forever (docs/scale.md). More threads.
        os.environ.setdefault("NPROC", str(max(16, 2 * virtual_cpu)))


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def measure(k, network, X, Y, args, lr):
    """Samples/s of the jitted step on pre-sharded batches, and of whole fit(devices=k) epochs."""
    import jax
    import numpy as np

    from portable_bp import _sharding, optim, train

    N, B = X.shape[0], args.batch_size
    net = network()
    plan = _sharding.data_parallel("jax", k)
    np_dtype = np.dtype(args.dtype)
    batches = [(plan.shard(X[i:i + B], np_dtype), plan.shard(Y[i:i + B], np_dtype))
               for i in range(0, args.steps * B, B) if i + B <= N]
    sgd = optim.sgd(lr)
    step = train.make_step(net.spec, sgd, False, "jax")  # what fit runs per batch
    params = optim.tree_map(plan.replicate, net.params)
    state = {"p": (params, optim.tree_map(plan.replicate, sgd.init(params)))}

    def run_steps():
        p, s = state["p"]
        for Xb, Yb in batches:
            p, s = step(p, s, Xb, Yb, 0.0)
        jax.block_until_ready(p)
        state["p"] = (p, s)

    run_steps()  # compile
    t_step, step_times = median_time(run_steps, args.repeats)

    fit_net = network()
    fit_kw = dict(epochs=1, batch_size=B, lr=lr, seed=0, progress=False, devices=k)
    fit_net.fit(X, Y, **fit_kw)  # compile
    t_fit, fit_times = median_time(lambda: fit_net.fit(X, Y, **fit_kw), args.repeats)
    return len(batches) * B / t_step, step_times, N / t_fit, fit_times


def main(argv=None):
    args = parse_args(argv)
    set_up_jax(args.virtual_cpu)
    import jax
    import numpy as np

    import portable_bp as pbp

    sizes = [int(s) for s in args.sizes.split(",")]
    devices = jax.devices()
    n_avail = len(devices)
    if args.devices:
        counts = [int(k) for k in args.devices.split(",")]
    else:
        counts, k = [], 1
        while k <= n_avail:
            counts.append(k)
            k *= 2
        if counts[-1] != n_avail:
            counts.append(n_avail)
    too_many = [k for k in counts if k > n_avail]
    if too_many:
        print(f"skipping device counts {too_many}: JAX sees {n_avail} device(s)", file=sys.stderr)
        counts = [k for k in counts if k <= n_avail]
    plat = devices[0].platform
    virtual = plat == "cpu" and n_avail > 1
    caveat = (
        f"VIRTUAL CPU DEVICES: the {n_avail} JAX devices are slices of one CPU with {os.cpu_count()} cores; "
        "they share those cores, so these numbers measure the overhead and correctness of the sharded path, "
        "NOT real multi-device scaling."
        if virtual else
        ("one device only: nothing to scale" if n_avail == 1 else
         f"{n_avail} {plat} devices ({devices[0].device_kind}): real devices")
    )
    print(caveat)

    rng = np.random.default_rng(0)
    N, B = args.n_samples, args.batch_size
    X = rng.standard_normal((N, sizes[0])).astype(args.dtype)
    labels = rng.integers(0, sizes[-1], N)
    Y = np.eye(sizes[-1], dtype=args.dtype)[labels]
    lr = 0.05

    def network():
        return pbp.MLP(sizes, activation="relu", output_activation="softmax", loss="cross_entropy",
                       backend="jax", dtype=args.dtype, seed=0)

    # the plain single-device fit (devices=None: in-memory arrays on the default device) for reference
    plain = network()
    plain_kw = dict(epochs=1, batch_size=B, lr=lr, seed=0, progress=False)
    plain.fit(X, Y, **plain_kw)  # compile
    t_plain, plain_times = median_time(lambda: plain.fit(X, Y, **plain_kw), args.repeats)
    plain_rate = N / t_plain
    print(f"plain fit (devices=None): {plain_rate:12.0f} samples/s", flush=True)

    rows = []
    reference = None
    for k in counts:
        if B % k or (N % B) % k:
            print(f"skipping {k} devices: batch {B} (or the last batch {N % B}) does not split over them",
                  file=sys.stderr)
            continue
        step_rate, step_times, fit_rate, fit_times = measure(k, network, X, Y, args, lr)
        if reference is None:
            reference = (step_rate, fit_rate)
        row = {
            "devices": k, "rows_per_device": B // k,
            "step_samples_per_s": step_rate, "step_speedup": step_rate / reference[0],
            "fit_samples_per_s": fit_rate, "fit_speedup": fit_rate / reference[1],
            "step_times_s": step_times, "fit_times_s": fit_times,
        }
        rows.append(row)
        print(f"{k} device(s): step {step_rate:12.0f} samples/s (x{row['step_speedup']:.2f})   "
              f"fit {fit_rate:12.0f} samples/s (x{row['fit_speedup']:.2f})", flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {
        "platform": plat, "device_kind": devices[0].device_kind, "n_devices": n_avail, "virtual_cpu_devices": virtual,
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
        "jax": jax.__version__, "numpy": np.__version__, "portable_bp": pbp.__version__,
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
    }
    config = {"sizes": sizes, "batch_size": B, "n_samples": N, "dtype": args.dtype, "repeats": args.repeats,
              "steps": args.steps, "scaling": "strong (fixed global batch)"}
    plain = {"fit_samples_per_s": plain_rate, "fit_times_s": plain_times}
    (out / "scaling.json").write_text(json.dumps({"caveat": caveat, "environment": env, "config": config,
                                                   "plain_fit": plain, "results": rows}, indent=2))
    cols = ["devices", "rows_per_device", "step_samples_per_s", "step_speedup", "fit_samples_per_s", "fit_speedup"]
    (out / "scaling.csv").write_text("\n".join([",".join(cols)] + [",".join(f"{r[c]:.6g}" for c in cols)
                                                                   for r in rows]) + "\n")
    md = [f"# Data-parallel scaling ({plat}, {devices[0].device_kind})", "", f"**{caveat}**", "",
          f"Network {sizes}, {args.dtype}, global batch {B} (strong scaling), {N} samples; medians of "
          f"{args.repeats} repeats. jax {jax.__version__}.", "",
          "| devices | rows/device | step samples/s | step speedup | fit samples/s | fit speedup |",
          "|---:|---:|---:|---:|---:|---:|"]
    md += [f"| {r['devices']} | {r['rows_per_device']} | {r['step_samples_per_s']:.0f} | {r['step_speedup']:.2f} | "
           f"{r['fit_samples_per_s']:.0f} | {r['fit_speedup']:.2f} |" for r in rows]
    md += ["", f"Plain `net.fit` without `devices` (in-memory arrays on the default device): "
           f"{plain_rate:.0f} samples/s.", "",
           "`step`: the jitted training step on batches already sharded on the devices. "
           "`fit`: whole epochs of `net.fit(..., devices=k)` (host gather, copies to the devices, steps, "
           "the epoch's cost and accuracy)."]
    (out / "scaling.md").write_text("\n".join(md) + "\n")
    print(f"wrote {out / 'scaling.json'}, scaling.csv, scaling.md")
    return rows


if __name__ == "__main__":
    main()
