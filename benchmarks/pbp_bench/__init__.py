"""The benchmark harness behind ``python benchmarks/run.py`` and ``portable-bp bench`` (see benchmarks/README.md).

It lives in the repository, not in the installed package: run it from a checkout with the library
installed (``pip install -e ".[bench]"``).

    python benchmarks/run.py                            # the full CPU ladder, every CPU backend
    python benchmarks/run.py --quick --backends numpy   # a smoke run of a few seconds
    python benchmarks/run.py --device gpu --backends cupy,jax,torch --out benchmarks/results/gpu-h100

``portable-bp bench [options]`` is the same command in a checkout (an editable install).
Writes ``bench.json`` (every figure, the machine and library versions), ``table.txt`` /
``table.md`` and ``step_vs_batch.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from . import harness, peers, report

__all__ = ["add_arguments", "main", "run_bench"]


def _csv(choices):
    def parse(text):
        items = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in items if s not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {list(choices)}; got {text!r}")
        return items

    return parse


def add_arguments(p):
    """The options of the harness (on an argparse parser)."""
    from portable_bp import _backend

    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu",
                   help="cpu (default) or gpu: cupy, jax on its GPU, torch on cuda")
    p.add_argument("--backends", type=_csv(tuple(_backend.BACKENDS)), default=None,
                   help="comma-separated (default: numpy,array_api_strict,jax,torch on cpu; cupy,jax,torch on gpu); "
                        "missing ones are reported and skipped")
    p.add_argument("--dtypes", type=_csv(_backend.DTYPES), default=list(_backend.DTYPES))
    p.add_argument("--kernels", type=_csv(harness.KERNELS), default=list(harness.KERNELS))
    p.add_argument("--ops", type=_csv(harness.OPS), default=list(harness.OPS),
                   help="forward, backprop, step (net.update)")
    p.add_argument("--peers", type=_csv(tuple(peers.PEERS) + ("none",)), default=None,
                   help=f"comma-separated subset of {list(peers.PEERS)}, or none (default: all)")
    p.add_argument("--sizes", default=None,
                   help="networks and batch sizes, e.g. '2,3,3,1:50,1000;784,100,10:64' (default: the issue's ladder)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (default 7; quick 3)")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds each repeat lasts at least, by calling several times (default 0.02; quick 0.005)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (JAX compiles there)")
    p.add_argument("--max-stack-mb", type=float, default=1024.0,
                   help="skip the stacked kernel when its (N, n_l, n_l-1) stack is larger (default 1024)")
    p.add_argument("--max-loop-products", type=float, default=1e8,
                   help="skip the loop kernel and network.py above N·Σ n_l·n_l-1 multiply-adds (default 1e8)")
    p.add_argument("--max-call-seconds", type=float, default=0.3,
                   help="skip the loop kernel where its eager per-sample dispatch alone would take longer "
                        "per call (default 0.3)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each case, wait up to this long for other processes to use < 0.25 cores "
                        "(shared machines; default 0: don't wait). The load seen is recorded either way")
    p.add_argument("--retry-busy", type=int, default=0, metavar="K",
                   help="measure a thread-pool group again (up to K times, keeping the best attempt) when some "
                        "of its variants got fewer than 3 repeats in rounds where other processes used < 0.25 "
                        "cores (default 0)")
    p.add_argument("--gemm-n", type=int, default=None, help="size of the square GEMM (default 1024 cpu, 8192 gpu)")
    p.add_argument("--quick", action="store_true", help="a smoke run: two small cases, few repeats")
    p.add_argument("--out", default="runs/bench", help="output directory (default runs/bench)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG (no matplotlib needed)")
    p.add_argument("--from-json", default=None, metavar="BENCH_JSON",
                   help="measure nothing: recompute ratios and targets of an earlier run's bench.json and "
                        "write its tables and plot to --out")
    return p


def config_from_args(args, log=print):
    gpu = args.device == "gpu"
    backends = args.backends or list(harness.GPU_BACKENDS if gpu else harness.CPU_BACKENDS)
    if args.peers is None:
        peer_names = list(peers.PEERS)
    else:
        peer_names = [p for p in args.peers if p != "none"]
    if args.sizes:
        cases = harness.parse_cases(args.sizes)
    else:
        cases = list(harness.QUICK_CASES if args.quick else harness.DEFAULT_CASES)
    for name, value in (("--repeats", args.repeats), ("--warmup", args.warmup), ("--gemm-n", args.gemm_n)):
        if value is not None and value < (0 if name == "--warmup" else 1):
            raise ValueError(f"{name} must be positive; got {value}")
    if args.min_time is not None and not args.min_time > 0:
        raise ValueError(f"--min-time must be positive; got {args.min_time}")
    return harness.Config(
        backends=backends, dtypes=args.dtypes, kernels=args.kernels, ops=args.ops, peers=peer_names,
        cases=cases, gpu=gpu,
        repeats=args.repeats or (3 if args.quick else 7),
        min_time=args.min_time or (0.005 if args.quick else 0.02),
        warmup=args.warmup,
        max_stack_mb=args.max_stack_mb, max_loop_products=args.max_loop_products,
        max_call_seconds=args.max_call_seconds, wait_idle=args.wait_idle, retry_busy=max(0, args.retry_busy),
        gemm_n=args.gemm_n or (256 if args.quick else (8192 if gpu else 1024)),
        log=log,
    )


def run_bench(args, log=print):
    """Run the benchmarks for parsed ``args``; writes the files and returns the payload."""
    if args.from_json:
        return rewrite(args, log)
    cfg = config_from_args(args, log)
    if cfg.gpu:  # JAX would otherwise take 75% of the GPU's memory at start, starving CuPy and torch
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.makedirs(args.out, exist_ok=True)
    if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("OPENBLAS_L2_SIZE"):
        log("note: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set; NumPy's BLAS may run a slower kernel "
            "(see benchmarks/README.md)")
    log(f"portable-bp bench: {len(cfg.cases)} cases × {cfg.dtypes} × backends {cfg.backends} × kernels "
        f"{cfg.kernels}; peers {cfg.peers}")
    t0 = time.perf_counter()
    results = harness.run(cfg)
    payload = {
        "machine": report.machine_info(cfg.backends, cfg.gpu),
        "config": {
            "backends": cfg.backends, "dtypes": cfg.dtypes, "kernels": cfg.kernels, "ops": cfg.ops,
            "peers": cfg.peers, "cases": [c.label for c in cfg.cases], "device": args.device,
            "repeats": cfg.repeats, "min_time_s": cfg.min_time, "warmup": cfg.warmup,
            "max_stack_mb": cfg.max_stack_mb, "max_loop_products": cfg.max_loop_products,
            "max_call_seconds": cfg.max_call_seconds, "wait_idle_s": cfg.wait_idle,
            "retry_busy": cfg.retry_busy, "slow_call_s": cfg.slow,
            "gemm_n": cfg.gemm_n, "lr": harness.LR, "quick": bool(args.quick),
            "network": "sigmoid hidden layers; softmax + cross-entropy (sigmoid + binary cross-entropy "
                       "for one output); plain SGD p <- p - lr/N * sum of gradients",
        },
        "results": results,
    }
    payload["wall_seconds"] = time.perf_counter() - t0
    return write_outputs(payload, args, log)


def rewrite(args, log=print):
    """``--from-json``: tables, plot and targets again from a stored run (nothing is measured)."""
    import json

    try:
        with open(args.from_json) as f:
            payload = json.load(f)
        results = payload["results"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"--from-json: cannot read a bench.json from {args.from_json!r}: {exc}") from None
    harness.derive(results, payload["machine"].get("mode") == "gpu")
    os.makedirs(args.out, exist_ok=True)
    return write_outputs(payload, args, log)


def write_outputs(payload, args, log=print):
    report.write_json(os.path.join(args.out, "bench.json"), payload)
    text = report.tables(payload)
    with open(os.path.join(args.out, "table.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(report.tables(payload, markdown=True))
    log("")
    log(text)
    if not args.no_plot:
        try:
            report.plot(payload, os.path.join(args.out, "step_vs_batch.png"))
        except ImportError as exc:
            log(f"no plot: {exc} (pip install 'portable_bp[plots]')")
    log(f"wrote {args.out}/bench.json, table.txt, table.md"
        f"{'' if args.no_plot else ', step_vs_batch.png'} (the run took {payload['wall_seconds']:.0f} s)")
    return payload


def main(argv=None, prog="portable-bp bench"):
    """``python benchmarks/run.py [options]``, ``portable-bp bench [options]``; returns the exit code."""
    parser = add_arguments(argparse.ArgumentParser(prog=prog, description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    args = parser.parse_args(argv)
    try:
        run_bench(args)
    except ValueError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0
