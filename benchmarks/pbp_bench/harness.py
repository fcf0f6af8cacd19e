"""Run the benchmark matrix: portable_bp backends × dtypes × kernels × ops over a size ladder,
the peers on the same networks and data, and a GEMM rate per backend and dtype."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from portable_bp import _backend
from portable_bp.mlp import MLP, init_params

from . import peers as peers_mod
from .timing import measure_family, syncer, wait_until_idle

KERNELS = ("matmul", "einsum", "stacked", "loop")
OPS = ("forward", "backprop", "step")
CPU_BACKENDS = ("numpy", "array_api_strict", "jax", "torch")
GPU_BACKENDS = ("cupy", "jax", "torch")
LR = 1e-3  # small enough for thousands of timed steps on the same batch without saturating


@dataclass(frozen=True)
class Case:
    """A network shape and a batch size."""

    sizes: tuple
    n: int

    @property
    def label(self):
        return f"[{','.join(map(str, self.sizes))}] N={self.n}"

    @property
    def weight_products(self):
        """Σ_l n_l n_{l-1}: the multiply-adds of one sample through all layers."""
        return sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    def flops(self, op):
        """Floating-point operations of the matrix products of ``op`` (multiply + add = 2).

        forward: Z^l = A^{l-1} W^lᵀ, 2·N·Σ n_l n_{l-1}. backprop and step add BP4 (Δᵀ A, the same
        again) and BP2 (Δ W) for every layer but the first (no gradient w.r.t. the input is
        formed): 6·N·Σ n_l n_{l-1} − 2·N·n_1·n_0. The SGD update itself is O(parameters).
        """
        fwd = 2 * self.n * self.weight_products
        if op == "forward":
            return fwd
        return 3 * fwd - 2 * self.n * self.sizes[0] * self.sizes[1]

    def stack_bytes(self, itemsize):
        """Largest (N, n_l, n_{l-1}) outer-product stack the stacked kernel builds for BP4."""
        return self.n * max(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:])) * itemsize


#: the issue's ladder, plus [784,256,10] N=128 where a target is set, plus a few batch sizes more
#: (MNIST-shaped N=8 and 256, wide N=64) so that the plot has lines, not points
DEFAULT_CASES = (
    Case((2, 3, 3, 1), 50),
    Case((2, 3, 3, 1), 1000),
    Case((784, 100, 10), 8),
    Case((784, 100, 10), 64),
    Case((784, 100, 10), 256),
    Case((784, 100, 10), 1000),
    Case((784, 256, 10), 128),
    Case((784, 1024, 1024, 10), 64),
    Case((784, 1024, 1024, 10), 512),
)
QUICK_CASES = (Case((2, 3, 3, 1), 50), Case((784, 100, 10), 64))


def parse_cases(text):
    """``"2,3,3,1:50,1000;784,100,10:64"`` -> Cases (one per network and batch size)."""
    cases = []
    for chunk in text.split(";"):
        chunk = chunk.strip()
        if not chunk:
            continue
        try:
            net, ns = chunk.split(":")
            sizes = tuple(int(s) for s in net.split(","))
            batch = [int(s) for s in ns.split(",")]
        except ValueError:
            raise ValueError(f"--sizes expects 'n0,n1,...:N1,N2;...' e.g. '2,3,3,1:50,1000'; got {chunk!r}") from None
        if len(sizes) < 2 or min(sizes) < 1 or min(batch) < 1:
            raise ValueError(f"--sizes: widths and batch sizes must be positive; got {chunk!r}")
        cases += [Case(sizes, n) for n in batch]
    if not cases:
        raise ValueError("--sizes named no network")
    return cases


@dataclass
class Config:
    backends: list
    dtypes: list
    kernels: list
    ops: list
    peers: list
    cases: list
    gpu: bool = False
    repeats: int = 5
    min_time: float = 0.05
    warmup: int = 2
    max_stack_mb: float = 1024.0
    max_loop_products: float = 1e8
    max_call_seconds: float = 0.3
    wait_idle: float = 0.0
    retry_busy: int = 0
    slow: float = 0.2
    gemm_n: int = 1024
    seed: int = 0
    log: object = print
    skipped_backends: dict = field(default_factory=dict)


@dataclass
class Problem:
    """One network and batch, as NumPy float64 arrays every peer and backend starts from."""

    sizes: tuple
    dtype: str
    X: np.ndarray
    Y: np.ndarray
    labels: np.ndarray
    weights: list
    biases: list
    lr: float = LR

    @property
    def softmax(self):
        return self.sizes[-1] > 1


def make_problem(case, dtype, seed=0):
    rng = np.random.default_rng(seed + 1)
    n_out = case.sizes[-1]
    X = rng.standard_normal((case.n, case.sizes[0]))
    labels = rng.integers(0, max(n_out, 2), size=case.n)
    Y = np.eye(n_out)[labels] if n_out > 1 else labels[:, None].astype(np.float64)
    weights, biases = init_params(list(case.sizes), "scaled_normal", seed)
    return Problem(case.sizes, dtype, X, Y, labels, weights, biases)


def device_for(backend, gpu):
    """The ``device=`` portable_bp gets for a backend in CPU or GPU mode (None: its default)."""
    if gpu:
        return {"jax": "gpu", "torch": "cuda"}.get(backend)
    return {"jax": "cpu", "torch": "cpu"}.get(backend)


def backend_problem(backend, gpu):
    """Why ``backend`` cannot be benchmarked in this mode (None if it can)."""
    reason = _backend.unavailable_reason(backend)
    if reason is not None:
        return f"unavailable: {reason}"
    if gpu and backend in ("numpy", "array_api_strict"):
        return "CPU-only backend (GPU mode)"
    if not gpu and backend == "cupy":
        return "GPU-only backend (CPU mode)"
    try:
        xp = _backend.namespace(backend)
        xp.asarray([1.0], device=_backend.default_device(backend, device_for(backend, gpu)))
    except Exception as exc:
        return f"no {'GPU' if gpu else 'CPU'} device: {type(exc).__name__}: {exc}"
    return None


def skip_reason(case, backend, kernel, dtype, cfg):
    """Why this kernel is not run on this case (None: run it)."""
    if kernel == "einsum" and backend == "array_api_strict":
        return "n/a: the array API standard has no einsum"
    if kernel == "stacked":
        mb = case.stack_bytes(np.dtype(dtype).itemsize) / 2**20
        if mb > cfg.max_stack_mb:
            return f"skipped: its (N, n_l, n_l-1) stack is {mb:,.0f} MB (> {cfg.max_stack_mb:,.0f} MB)"
    if kernel == "loop":
        products = case.n * case.weight_products
        if products > cfg.max_loop_products:
            return (f"skipped: N·Σ n_l·n_l-1 = {products:.1e} multiply-adds as per-sample "
                    f"matrix-vector products (> {cfg.max_loop_products:.0e})")
        seconds = loop_dispatch_seconds(case, backend)
        if seconds > cfg.max_call_seconds:
            return (f"skipped: ~{LOOP_OPS_PER_SAMPLE_LAYER * case.n * (len(case.sizes) - 1):,} eager array "
                    f"operations per call, ~{seconds:.1f} s of dispatch on {backend}")
    return None


#: array operations per sample and layer of the loop kernel's forward + backprop + update (about)
LOOP_OPS_PER_SAMPLE_LAYER = 12
#: rough cost of dispatching one small eager array operation, seconds (CPU; GPU launches for cupy)
DISPATCH_SECONDS = {"numpy": 1.5e-6, "torch": 6e-6, "array_api_strict": 1.2e-5, "jax": 3e-5, "cupy": 2e-5}


def loop_dispatch_seconds(case, backend):
    """Estimated Python/dispatch time of one loop-kernel step: it is eager (never jitted) and
    issues a handful of tiny operations per sample and layer."""
    return LOOP_OPS_PER_SAMPLE_LAYER * case.n * (len(case.sizes) - 1) * DISPATCH_SECONDS.get(backend, 1e-5)


def _gflops(flops, seconds):
    return flops / seconds / 1e9 if seconds > 0 else float("nan")


def gemm_call(backend, dtype, gpu, n, seed=0):
    """A call doing one square n×n @ n×n product (2n³ FLOPs) on this backend and dtype."""
    xp = _backend.namespace(backend)
    device = _backend.default_device(backend, device_for(backend, gpu))
    rng = np.random.default_rng(seed)
    dt = _backend.resolve_dtype(xp, dtype, backend)
    A = xp.asarray(rng.standard_normal((n, n)), dtype=dt, device=device)
    B = xp.asarray(rng.standard_normal((n, n)), dtype=dt, device=device)
    return lambda: A @ B


def portable_bp_calls(problem, backend, kernel, gpu):
    """``{op: fn}`` for one portable_bp network on the problem's data (backend arrays, so the
    library's own path is timed, not a conversion from NumPy)."""
    net = MLP.from_params(problem.weights, problem.biases, activation="sigmoid",
                          output_activation="softmax" if problem.softmax else "sigmoid",
                          loss="cross_entropy", backend=backend, device=device_for(backend, gpu),
                          dtype=problem.dtype, kernel=kernel)
    xp = net.xp
    X = xp.asarray(problem.X, dtype=net.dtype, device=net.device)
    Y = xp.asarray(problem.Y, dtype=net.dtype, device=net.device)
    return {
        "forward": lambda: net.forward(X)[1][-1],
        "backprop": lambda: net.backprop(X, Y),
        "step": lambda: net.update(X, Y, problem.lr).weights,
    }


def _peer_skip(name, case, dtype, cfg):
    if name == "notebook-stacked":
        return skip_reason(case, "numpy", "stacked", dtype, cfg)
    if name == "network.py":
        return skip_reason(case, "numpy", "loop", dtype, cfg)
    return None


#: other processes using more cores than this during a measurement make it "busy" (--retry-busy)
BUSY_CORES = 0.25

#: which thread pool a backend or peer runs on. Pools of different libraries disturb each other
#: (OpenBLAS workers spin after a NumPy product and slow the next PyTorch call two- to threefold on
#: two cores), so variants are interleaved only within a family, and families run one after another.
FAMILY = {"numpy": "numpy", "array_api_strict": "numpy", "torch": "torch", "jax": "jax", "cupy": "cupy",
          "torch-autograd": "torch", "jax-grad-jit": "jax"}


def run_case(case, dtype, backends, cfg):
    """Every portable_bp variant and peer on one case and dtype, and the GEMM rate of each backend,
    timed side by side (interleaved repeats within each thread-pool family)."""
    log = cfg.log
    problem = make_problem(case, dtype, cfg.seed)
    base = dict(sizes=list(case.sizes), n=case.n, dtype=dtype)
    rows, entries = [], []  # entries: (row, fn, sync); rows without an entry are skipped ones

    for backend in backends:
        sync = syncer(backend, cfg.gpu)
        try:
            entries.append((dict(base, gemm=True, backend=backend, gemm_n=cfg.gemm_n, flops=2 * cfg.gemm_n**3),
                            gemm_call(backend, dtype, cfg.gpu, cfg.gemm_n, cfg.seed), sync))
        except Exception as exc:
            log(f"  GEMM {backend} {dtype}: failed: {exc}")
        for kernel in cfg.kernels:
            row = dict(base, backend=backend, kernel=kernel)
            why = skip_reason(case, backend, kernel, dtype, cfg)
            if why is None:
                try:
                    calls = portable_bp_calls(problem, backend, kernel, cfg.gpu)
                except Exception as exc:
                    why = f"failed: {type(exc).__name__}: {exc}"
            if why is not None:
                rows.append(dict(row, skipped=why))
                continue
            for op in cfg.ops:
                entries.append((dict(row, op=op, flops=case.flops(op)), calls[op], sync))

    peer_rows = []
    for name in cfg.peers:
        factory, compare, _ = peers_mod.PEERS[name]
        row = dict(base, peer=name, compare_backend=compare[1] if cfg.gpu else compare[0])
        why = _peer_skip(name, case, dtype, cfg)
        if why is None:
            try:
                step = factory(problem, gpu=cfg.gpu)
            except peers_mod.Unavailable as exc:
                why = f"unavailable: {exc}"
            except Exception as exc:
                why = f"failed: {type(exc).__name__}: {exc}"
        if why is not None:
            peer_rows.append(dict(row, skipped=why))
            continue
        own = {"torch-autograd": "torch", "jax-grad-jit": "jax"}.get(name, "cupy" if cfg.gpu else "numpy")
        entries.append((dict(row, op="step", flops=case.flops("step")), step, syncer(own, cfg.gpu)))

    if cfg.wait_idle > 0:
        wait_until_idle(cfg.wait_idle, log=log)
    families = {}
    for e in entries:
        key = e[0].get("backend") or e[0]["peer"]
        families.setdefault(FAMILY.get(key, "cupy" if cfg.gpu else "numpy"), []).append(e)
    timed = []
    for name, family in families.items():
        load, timings = measure_family([(fn, sync) for _, fn, sync in family], retries=cfg.retry_busy,
                                       wait_idle=cfg.wait_idle, busy=BUSY_CORES, log=log,
                                       label=f"{case.label} {dtype} [{name}]", repeats=cfg.repeats,
                                       min_time=cfg.min_time, warmup=cfg.warmup, slow=cfg.slow)
        timed += [(dict(row, others_cpu_cores=load), t) for (row, _, _), t in zip(family, timings)]

    gemm, gemm_rows = {}, []
    for row, t in timed:
        if row.get("gemm") and "error" not in t:
            row = dict(row, gflops=_gflops(row["flops"], t["median_s"]), **t)
            gemm[row["backend"]] = row["gflops"]
            gemm_rows.append(row)
    for row, t in timed:
        if row.get("gemm"):
            continue
        if "error" in t:
            row = {k: v for k, v in row.items() if k not in ("op", "flops")} | {"skipped": t["error"]}
            log(f"  {case.label} {dtype} {row.get('backend', row.get('peer'))}: {t['error']}")
        else:
            row = dict(row, **t)  # GFLOP/s and the GEMM fraction: derive()
        (peer_rows if "peer" in row else rows).append(row)
    # one skip row per failed variant is enough
    seen, out = set(), []
    for r in rows:
        key = (r["backend"], r["kernel"], r.get("op") if "skipped" not in r else "skip")
        if key not in seen:
            seen.add(key)
            out.append(r)
    for r in gemm_rows:
        log(f"  {case.label:<28} {dtype} {r['backend']:>16} GEMM n={r['gemm_n']}: {r['gflops']:.1f} GFLOP/s")
    steps = {(r["backend"], r["kernel"]): r["median_s"] for r in out if r.get("op") == "step"}
    for (backend, kernel), t in steps.items():
        log(f"  {case.label:<28} {dtype} {backend:>16}/{kernel:<7} step {_fmt_time(t)}")
    for r in peer_rows:
        if "median_s" in r:
            log(f"  {case.label:<28} {dtype} {'peer':>16}/{r['peer']:<16} step {_fmt_time(r['median_s'])}")
    return out, peer_rows, gemm_rows


def run(cfg):
    """Run everything in ``cfg``; returns the results dict (no files written)."""
    log = cfg.log
    backends = []
    for b in cfg.backends:
        why = backend_problem(b, cfg.gpu)
        if why is None:
            backends.append(b)
        else:
            cfg.skipped_backends[b] = why
            log(f"  backend {b}: {why}")
    results = {"gemm": [], "portable_bp": [], "peers": [], "skipped_backends": dict(cfg.skipped_backends)}
    for case in cfg.cases:
        for dtype in cfg.dtypes:
            rows, peer_rows, gemm_rows = run_case(case, dtype, backends, cfg)
            results["portable_bp"] += rows
            results["peers"] += peer_rows
            results["gemm"] += gemm_rows
    return derive(results, cfg.gpu)


def derive(results, gpu):
    """Everything computed from the timings: GEMM fractions, the peers' ratios, the targets.
    (Also what ``--from-json`` recomputes for an earlier run.)"""
    rates = {}
    for g in results["gemm"]:
        rates[tuple(g["sizes"]), g["n"], g["dtype"], g["backend"]] = (
            _gflops(g["flops"], g["median_s"]), _gflops(g["flops"], g["min_s"]))
    for r in results["portable_bp"] + results["peers"]:
        if "median_s" not in r:
            continue
        rate, best = rates.get((tuple(r["sizes"]), r["n"], r["dtype"], r.get("backend") or r.get("compare_backend")),
                               (None, None))
        r["gflops"] = _gflops(r["flops"], r["median_s"])
        r["gemm_fraction"] = r["gflops"] / rate if rate else None
        # the same from the fastest repeat of both (less sensitive to bursts of load)
        r["gemm_fraction_of_mins"] = _gflops(r["flops"], r["min_s"]) / best if best else None
    add_ratios(results, gpu)
    results["targets"] = evaluate_targets(results, gpu)
    return results


def _fmt_time(s):
    if s is None or not math.isfinite(s):
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _pbp_time(results, sizes, n, dtype, backend, kernel="matmul", op="step", stat="median_s"):
    for r in results["portable_bp"]:
        if (r["sizes"] == list(sizes) and r["n"] == n and r["dtype"] == dtype and r["backend"] == backend
                and r["kernel"] == kernel and r.get("op") == op and "skipped" not in r):
            return r[stat]
    return None


def add_ratios(results, gpu):
    """Each peer's time over portable_bp's (matmul kernel, step), on the reference array backend
    (numpy on CPU, cupy on GPU) and on the peer's own backend: > 1 means portable_bp is faster."""
    reference = "cupy" if gpu else "numpy"
    for r in results["peers"]:
        if "skipped" in r:
            continue
        for key, backend in (("ratio_vs_reference", reference), ("ratio_vs_same_backend", r["compare_backend"])):
            t = _pbp_time(results, r["sizes"], r["n"], r["dtype"], backend) if backend else None
            r[key] = r["median_s"] / t if t else None
            t = _pbp_time(results, r["sizes"], r["n"], r["dtype"], backend, stat="min_s") if backend else None
            r[key + "_of_mins"] = r["min_s"] / t if t else None  # less sensitive to bursts of load
        r["reference_backend"] = reference


def _target(name, text, case, dtype, values, limit, better, how):
    """``values``: (from medians, from the fastest repeats); the verdict uses the medians."""
    value, of_mins = values
    if value is None:
        return dict(target=name, text=text, case=case, dtype=dtype, value=None, value_of_mins=None, limit=limit,
                    met=None, how=how, note="not measured in this run")
    met = value >= limit if better == "higher" else value <= limit
    return dict(target=name, text=text, case=case, dtype=dtype, value=value, value_of_mins=of_mins, limit=limit,
                met=bool(met), how=how)


def _peer_time(results, peer, sizes, n, dtype, stat="median_s"):
    for r in results["peers"]:
        if r["peer"] == peer and r["sizes"] == list(sizes) and r["n"] == n and r["dtype"] == dtype:
            return r.get(stat)
    return None


def _div(a, b):
    return a / b if a is not None and b else None


def evaluate_targets(results, gpu):
    """The issue's targets, measured: each a value (from medians, and from the fastest repeats),
    its limit and whether it is met (judged on the medians)."""
    stats = ("median_s", "min_s")

    def pbp(sizes, n, dtype, backend, kernel="matmul", op="step"):
        return [_pbp_time(results, sizes, n, dtype, backend, kernel, op, st) for st in stats]

    def peer(name, sizes, n, dtype):
        return [_peer_time(results, name, sizes, n, dtype, st) for st in stats]

    def ratio(a, b):
        return tuple(_div(x, y) for x, y in zip(a, b))

    def label(sizes, n):
        return f"[{','.join(map(str, sizes))}] N={n}"

    out = []
    pairs = sorted({(tuple(r["sizes"]), r["n"]) for r in results["portable_bp"] + results["peers"]})
    dtypes = sorted({r["dtype"] for r in results["portable_bp"] + results["peers"]})
    ref = "cupy" if gpu else "numpy"
    for dtype in dtypes:
        if not gpu:
            m = (784, 100, 10)
            for backend in ("numpy", "torch", "jax", "array_api_strict"):
                values = ratio(pbp(m, 1000, dtype, backend, "stacked", "backprop"),
                               pbp(m, 1000, dtype, backend, "matmul", "backprop"))
                if backend != "numpy" and values[0] is None:
                    continue
                out.append(_target("T1 matmul vs stacked", "backprop: stacked time / matmul time ≥ 20",
                                   label(m, 1000), dtype, values, 20.0, "higher", f"{backend} backend"))
        for sizes, n, limit in (((784, 100, 10), 64, 1.25), ((2, 3, 3, 1), 50, 2.0)):
            values = ratio(pbp(sizes, n, dtype, ref), peer("handwritten", sizes, n, dtype))
            out.append(_target("T2 array-API cost", f"{ref}-backend step / hand-written step ≤ {limit}",
                               label(sizes, n), dtype, values, limit, "lower", f"{ref} backend"))
        sizes = (784, 256, 10)
        values = ratio(pbp(sizes, 128, dtype, ref), peer("torch-autograd", sizes, 128, dtype))
        out.append(_target("T3 vs PyTorch", f"{ref}-backend step / torch eager autograd step ≤ 1",
                           label(sizes, 128), dtype, values, 1.0, "lower", f"{ref} backend"))
        for sizes, n in pairs:
            values = ratio(pbp(sizes, n, dtype, "jax"), peer("jax-grad-jit", sizes, n, dtype))
            if values[0] is not None:
                out.append(_target("T4 vs jax.grad+jit", "jax-backend step / jax.grad+jax.jit step ≤ 1.2",
                                   label(sizes, n), dtype, values, 1.2, "lower", "jax backend"))
        wide = (784, 1024, 1024, 10)
        if dtype == "float32":
            limit = 0.6 if gpu else 0.8
            for backend in (("cupy", "jax", "torch") if gpu else ("numpy", "torch", "jax")):
                values = (None, None)
                for r in results["portable_bp"]:
                    if (r["sizes"] == list(wide) and r["n"] == 512 and r["dtype"] == dtype and r["backend"] == backend
                            and r["kernel"] == "matmul" and r.get("op") == "step" and "skipped" not in r):
                        values = (r["gemm_fraction"], r.get("gemm_fraction_of_mins"))
                if values[0] is None and backend != ref:
                    continue
                out.append(_target("T5 GEMM limit", f"step GFLOP/s / measured GEMM GFLOP/s ≥ {limit}",
                                   label(wide, 512), dtype, values, limit, "higher", f"{backend} backend"))
    return out
