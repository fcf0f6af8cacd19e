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

Two more measurements, chosen with ``--what`` (default ``devices``, the above):

    python benchmarks/scaling.py --out DIR --what processes --processes 1,2,4   # jax.distributed on loopback
    python benchmarks/scaling.py --out DIR --what streaming                      # memmap vs Dask distributed

* ``processes``: wall time per epoch of ``fit(X_memmap, y, devices="all")`` run by P processes on this
  machine (``jax.distributed`` with the coordinator on 127.0.0.1, gloo CPU collectives, one CPU device
  per process: the code path of P hosts), float64; the median over the epochs after the first (which
  compiles) of process 0, then the median over ``--repeats`` runs. Writes DIR/processes.{json,md}.
* ``streaming``: wall time per epoch of the same numpy-backend fit on X in memory, as a memory map, as a
  Dask array (threads), and as a Dask array persisted on a ``distributed.LocalCluster`` of 2 worker
  processes. Writes DIR/streaming.{json,md}.
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
    p.add_argument("--what", default="devices",
                   help="comma-separated: devices (virtual/real devices, above), processes (jax.distributed on "
                   "loopback), streaming (memmap vs Dask distributed) (default devices)")
    p.add_argument("--processes", default="1,2,4", help="process counts for --what processes (default 1,2,4)")
    p.add_argument("--epochs", type=int, default=5, help="epochs per run for processes/streaming (default 5)")
    p.add_argument("--process-worker", default=None, help=argparse.SUPPRESS)  # PORT,N,I,DIR: one process
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
    if args.process_worker:
        return process_worker(args)
    what = [w.strip() for w in args.what.split(",")]
    unknown = set(what) - {"devices", "processes", "streaming"}
    if unknown:
        raise SystemExit(f"--what: unknown {sorted(unknown)}; choose from devices, processes, streaming")
    if "processes" in what:
        measure_processes(args)
    if "streaming" in what:
        measure_streaming(args)
    if "devices" in what:
        return measure_devices(args)


def measure_devices(args):
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


# -- several processes (jax.distributed on loopback) ---------------------------------------------
#: the multi-process runs: one CPU device per process, float64, X memory-mapped (as tests/test_multihost.py);
#: (name, layer widths, samples, global batch): a small network whose steps are latency, and one whose steps
#: are compute (about 2 GFLOP per step)
PROC_CONFIGS = [("small", [64, 256, 10], 8192, 256), ("compute-bound", [256, 1024, 1024, 10], 8192, 1024)]


def process_worker(args):
    """One of P processes: join the run, fit args.epochs epochs over the memory map, write epoch times."""
    port, n, i, workdir, config = args.process_worker.split(",")
    _, sizes, _, batch = PROC_CONFIGS[int(config)]
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ.pop("XLA_FLAGS", None)
    from portable_bp.cli import _launch

    _launch.initialize(f"127.0.0.1:{port}", int(n), int(i), heartbeat_timeout=30, join_timeout=300)
    import numpy as np

    import portable_bp as pbp

    X = np.load(Path(workdir) / "X.npy", mmap_mode="r")
    y = np.load(Path(workdir) / "y.npy", mmap_mode="r")
    net = pbp.MLP(sizes, activation="tanh", output_activation="softmax", loss="cross_entropy", backend="jax",
                  dtype="float64", seed=0)
    net.stream_rows = 4096
    stamps = [time.perf_counter()]
    net.fit(X, y, epochs=args.epochs, batch_size=batch, lr=0.05, seed=0, progress=False, devices="all",
            callback=lambda epoch, net, h: stamps.append(time.perf_counter()))
    epochs = [b - a for a, b in zip(stamps, stamps[1:])]
    (Path(workdir) / f"times{i}.json").write_text(json.dumps(epochs))


def run_processes(n, workdir, epochs, config, timeout=600):
    """Per-epoch wall times of process 0 of one n-process run."""
    import subprocess

    from portable_bp.cli import _launch

    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    sock, port = _launch.reserve_port()
    procs = []
    try:
        for i in range(n):
            procs.append(subprocess.Popen([sys.executable, __file__, "--out", str(workdir), "--epochs", str(epochs),
                                           "--process-worker", f"{port},{n},{i},{workdir},{config}"],
                                          env=env, start_new_session=True, stdout=subprocess.DEVNULL))
        codes = [p.wait(timeout) for p in procs]
    finally:
        _launch.stop(procs)
        sock.close()
    if any(codes):
        raise RuntimeError(f"{n}-process run failed: exit codes {codes}")
    return json.loads((Path(workdir) / "times0.json").read_text())


def measure_processes(args):
    import tempfile

    import jax
    import numpy as np

    counts = [int(k) for k in args.processes.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for c, (name, sizes, n, batch) in enumerate(PROC_CONFIGS):
        with tempfile.TemporaryDirectory() as tmp:
            rng = np.random.default_rng(0)
            np.save(Path(tmp) / "X.npy", rng.standard_normal((n, sizes[0])))
            np.save(Path(tmp) / "y.npy", rng.integers(0, sizes[-1], n))
            first = None
            for k in counts:
                runs = []
                for _ in range(args.repeats):
                    times = run_processes(k, tmp, args.epochs, c)
                    runs.append(statistics.median(times[1:]) if len(times) > 1 else times[0])
                row = {"config": name, "sizes": sizes, "n_samples": n, "batch_size": batch, "processes": k,
                       "epoch_s": statistics.median(runs), "epoch_s_per_run": runs}
                first = first or row["epoch_s"]
                row["relative_to_first"] = row["epoch_s"] / first
                rows.append(row)
                print(f"{name} {sizes}: {k} process(es): {row['epoch_s']:.3f} s per epoch "
                      f"(x{row['relative_to_first']:.2f}; runs: " + ", ".join(f"{t:.3f}" for t in runs) + ")",
                      flush=True)
    config = {"configs": PROC_CONFIGS, "dtype": "float64", "epochs_per_run": args.epochs, "repeats": args.repeats,
              "devices_per_process": 1, "data": "np.load(mmap_mode='r')", "collectives": "gloo over 127.0.0.1"}
    env = {"cpu_count": os.cpu_count(), "jax": jax.__version__, "python": platform.python_version(),
           "loadavg_after": os.getloadavg()}
    (out / "processes.json").write_text(json.dumps({"config": config, "environment": env, "results": rows},
                                                   indent=2))
    md = ["# fit(devices=\"all\") in P processes on one machine (jax.distributed, loopback)", "",
          f"float64, X memory-mapped, one CPU device per process, {os.cpu_count()} cores. Per-epoch wall time of "
          f"process 0: median of epochs 2..{args.epochs} of a run, median of {args.repeats} runs.", "",
          "| network | samples | batch | processes | s / epoch | relative to 1 | runs (s / epoch) |",
          "|---|---:|---:|---:|---:|---:|---|"]
    md += [f"| {r['sizes']} | {r['n_samples']} | {r['batch_size']} | {r['processes']} | {r['epoch_s']:.3f} | "
           f"{r['relative_to_first']:.2f} | " + ", ".join(f"{t:.3f}" for t in r["epoch_s_per_run"]) + " |"
           for r in rows]
    (out / "processes.md").write_text("\n".join(md) + "\n")
    print(f"wrote {out / 'processes.json'}, processes.md")
    return rows


# -- streaming: memory map vs Dask (threads, distributed) ------------------------------------------
STREAM_N, STREAM_D, STREAM_CHUNK = 100_000, 32, 10_000


def _rows_of(path, start, stop):
    import numpy as np

    return np.array(np.load(path, mmap_mode="r")[start:stop])


def on_workers(path):
    """The .npy file at ``path`` as a Dask array whose chunks the workers read from the file themselves."""
    import dask
    import dask.array as da
    import numpy as np

    meta = np.load(path, mmap_mode="r")
    parts = [da.from_delayed(dask.delayed(_rows_of)(str(path), a, min(a + STREAM_CHUNK, meta.shape[0])),
                             (min(a + STREAM_CHUNK, meta.shape[0]) - a, *meta.shape[1:]), meta.dtype)
             for a in range(0, meta.shape[0], STREAM_CHUNK)]
    return da.concatenate(parts, axis=0)


def measure_streaming(args):
    import tempfile

    import dask
    import dask.array as da
    import numpy as np

    import portable_bp as pbp

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kw = dict(batch_size=100, lr=0.1, seed=0, progress=False)

    def epoch_times(X, y, shuffle):
        net = pbp.MLP([STREAM_D, 16, 2], output_activation="softmax", loss="cross_entropy", backend="numpy", seed=0)
        net.stream_rows = STREAM_CHUNK
        stamps = [time.perf_counter()]
        net.fit(X, y, epochs=args.epochs, shuffle=shuffle, callback=lambda e, n, h: stamps.append(time.perf_counter()),
                **kw)
        return [b - a for a, b in zip(stamps, stamps[1:])]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((STREAM_N, STREAM_D))
        y = (X[:, 0] > 0).astype(np.int64)
        np.save(Path(tmp) / "X.npy", X)
        np.save(Path(tmp) / "y.npy", y)
        Xm, ym = np.load(Path(tmp) / "X.npy", mmap_mode="r"), np.load(Path(tmp) / "y.npy", mmap_mode="r")
        Xd, yd = da.from_array(Xm, chunks=(STREAM_CHUNK, STREAM_D)), da.from_array(ym, chunks=STREAM_CHUNK)
        kinds = [("in memory", X, y), ("memmap", Xm, ym)]
        for name, Xs, ys in kinds:
            for shuffle in (False, True):
                rows.append({"data": name, "shuffle": shuffle, "epoch_s_each": epoch_times(Xs, ys, shuffle)})
        with dask.config.set(scheduler="threads"):
            rows.append({"data": "dask (threads)", "shuffle": False, "epoch_s_each": epoch_times(Xd, yd, False)})
        import distributed

        with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            Xp, yp = client.persist([on_workers(Path(tmp) / "X.npy"), on_workers(Path(tmp) / "y.npy")])
            distributed.wait([Xp, yp])
            rows.append({"data": "dask distributed (2 worker processes, chunks persisted there)", "shuffle": False,
                         "epoch_s_each": epoch_times(Xp, yp, False)})
    for r in rows:
        r["epoch_s"] = statistics.median(r["epoch_s_each"])
    base = rows[0]["epoch_s"]
    for r in rows:
        r["relative_to_in_memory"] = r["epoch_s"] / base
        print(f"{r['data']:>60} shuffle={r['shuffle']!s:5}: {r['epoch_s']:.3f} s per epoch "
              f"(x{r['relative_to_in_memory']:.2f})", flush=True)
    config = {"n_samples": STREAM_N, "features": STREAM_D, "sizes": [STREAM_D, 16, 2], "batch_size": 100,
              "stream_rows": STREAM_CHUNK, "dask_chunks": STREAM_CHUNK, "backend": "numpy", "epochs": args.epochs}
    (out / "streaming.json").write_text(json.dumps({"config": config, "results": rows,
                                                    "loadavg": os.getloadavg()}, indent=2))
    md = ["# Streaming: one epoch of fit on 25.6 MB of float64 X", "",
          f"{STREAM_N} x {STREAM_D} float64, network [{STREAM_D}, 16, 2] on numpy, batch 100, stream_rows = Dask "
          f"chunk = {STREAM_CHUNK} rows; median over {args.epochs} epochs (each: training + the cost/accuracy pass).",
          "", "| data | shuffle | s / epoch | relative to in memory |", "|---|---|---:|---:|"]
    md += [f"| {r['data']} | {r['shuffle']} | {r['epoch_s']:.3f} | {r['relative_to_in_memory']:.2f} |" for r in rows]
    (out / "streaming.md").write_text("\n".join(md) + "\n")
    print(f"wrote {out / 'streaming.json'}, streaming.md")
    return rows


if __name__ == "__main__":
    main()
