"""scikit-learn's MLPClassifier against portable_bp.sklearn's, side by side in one run.

    python benchmarks/sklearn_compare.py                       # digits, CPU, writes benchmarks/results/sklearn_compare/
    python benchmarks/sklearn_compare.py --backends numpy --seeds 0   # a quick look
    python benchmarks/sklearn_compare.py --gpu                 # also a larger data set, on the GPU backends

Data: scikit-learn's bundled digits (1797 8x8 images, X / 16), split once with
``train_test_split(test_size=0.25, random_state=0)``. Settings: ``MLPClassifier(solver="adam",
max_iter=60)`` and the defaults (max_iter=200 with tol / n_iter_no_change), each with
``random_state`` = every seed; the same estimator settings for scikit-learn and for portable_bp on
each backend. Reported: the median over the seeds of the fit time (wall clock, data already in
memory as NumPy; per seed the fastest of ``--repeats`` fits) and of the test accuracy, the fit time
relative to scikit-learn's, and a "warm refit": the same estimator fitted again with
``warm_start=True`` (for JAX: without compiling again).

Every library gets the same thread budget (``--threads``, default 1: BLAS through threadpoolctl,
PyTorch's intra-op pool, XLA's CPU pool), so a busy machine disturbs them alike. Runs are
interleaved (for each seed, every contender in turn) so slow phases of the machine spread over
all. A JAX fit includes its compilation: every new network compiles its steps once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="numpy,jax,torch", help="portable_bp backends (comma-separated)")
    p.add_argument("--seeds", default="0,1,2", help="random_state values (median over them)")
    p.add_argument("--repeats", type=int, default=2,
                   help="fits per seed and contender; the fastest counts (other processes only ever add time)")
    p.add_argument("--threads", type=int, default=1, help="threads for every library (BLAS, torch, XLA)")
    p.add_argument("--gpu", action="store_true",
                   help="also a larger data set on the GPU backends (cupy, torch cuda, jax gpu)")
    p.add_argument("--out", default=str(HERE / "results" / "sklearn_compare"),
                   help="folder for table.md and results.json")
    return p.parse_args(argv)


def limit_threads(n):
    """Before jax / torch are imported: every library gets n threads."""
    os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen={'true' if n > 1 else 'false'} "
                                       f"intra_op_parallelism_threads={n}")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass


def digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    return train_test_split(data.data / 16.0, data.target, test_size=0.25, random_state=0)


def large():
    """A data set where a GPU has work to do: 200 000 samples, 256 features, 10 classes."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(n_samples=200_000, n_features=256, n_informative=64, n_classes=10, random_state=0)
    return train_test_split(X.astype("float32"), y, test_size=0.1, random_state=0)


def contenders(backends, gpu=False):
    """name -> estimator factory(**settings)."""
    from sklearn.neural_network import MLPClassifier as SkMLP

    from portable_bp import _backend
    from portable_bp.sklearn import MLPClassifier

    out = {"scikit-learn": SkMLP}
    for b in backends:
        reason = _backend.unavailable_reason(b)
        if reason is not None:
            print(f"skipping backend {b}: {reason}", file=sys.stderr)
            continue
        if gpu:
            device = {"torch": "cuda", "jax": "gpu", "cupy": None}.get(b)
            out[f"portable_bp {b} (GPU)"] = lambda b=b, device=device, **kw: MLPClassifier(backend=b, device=device,
                                                                                            **kw)
        else:
            out[f"portable_bp {b}"] = lambda b=b, **kw: MLPClassifier(backend=b, **kw)
    return out


def timed_fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        est.fit(X, y)
        return time.perf_counter() - t0


def measure(cases, data, seeds, contenders_, repeats=1):
    X_tr, X_te, y_tr, y_te = data
    # warm-up: imports, first compilations, caches, outside the timings
    for make in contenders_.values():
        make(max_iter=2, random_state=0).fit(X_tr[:400], y_tr[:400])
    rows = []
    for case, settings in cases.items():
        runs = {name: [] for name in contenders_}
        for seed in seeds:
            for name, make in contenders_.items():
                times = []
                for _ in range(repeats):
                    est = make(random_state=seed, **settings)
                    times.append(timed_fit(est, X_tr, y_tr))
                accuracy, n_iter = float(est.score(X_te, y_te)), int(est.n_iter_)
                # the same estimator again, warm-started: what a fit costs once JAX has compiled its steps
                refit_s = timed_fit(est.set_params(warm_start=True), X_tr, y_tr)
                runs[name].append(dict(seed=seed, fit_s=min(times), fit_times=times, refit_s=refit_s,
                                       accuracy=accuracy, n_iter=n_iter))
                print(f"{case:>10} seed {seed} {name:<24} {min(times):7.3f} s (refit {refit_s:6.3f} s)  "
                      f"acc {accuracy:.4f}  n_iter {n_iter}", flush=True)
        ref = statistics.median(r["fit_s"] for r in runs["scikit-learn"])
        ref_acc = statistics.median(r["accuracy"] for r in runs["scikit-learn"])
        for name, rs in runs.items():
            t = statistics.median(r["fit_s"] for r in rs)
            acc = statistics.median(r["accuracy"] for r in rs)
            rows.append(dict(case=case, contender=name, fit_s=t, ratio=t / ref, accuracy=acc,
                             refit_s=statistics.median(r["refit_s"] for r in rs),
                             accuracy_gap_points=100 * (acc - ref_acc),
                             n_iter=statistics.median(r["n_iter"] for r in rs), runs=rs))
    return rows


def table(rows, title):
    lines = [f"### {title}", "",
             "| settings | contender | fit time (median) | × scikit-learn | test accuracy (median) "
             "| Δ accuracy (points) | epochs | warm refit |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['contender']} | {r['fit_s']:.3f} s | {r['ratio']:.2f} | "
                     f"{100 * r['accuracy']:.2f} % | {r['accuracy_gap_points']:+.2f} | {r['n_iter']:g} | "
                     f"{r['refit_s']:.3f} s |")
    return "\n".join(lines)


def main(argv=None):
    args = parse(argv)
    limit_threads(args.threads)
    import numpy as np
    import sklearn

    import portable_bp

    seeds = [int(s) for s in args.seeds.split(",")]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    cases = {"adam, max_iter=60": dict(solver="adam", max_iter=60), "defaults": {}}
    load_before = os.getloadavg()
    rows = measure(cases, digits(), seeds, contenders(backends), args.repeats)
    sections = [table(rows, f"digits (1347 train / 450 test), {args.threads} thread(s), median over seeds {seeds} "
                            f"of the fastest of {args.repeats} fits")]
    if args.gpu:
        gpu_cases = {"adam, max_iter=20, (256, 256)": dict(solver="adam", max_iter=20, hidden_layer_sizes=(256, 256),
                                                           batch_size=1024)}
        gpu_rows = measure(gpu_cases, large(), seeds[:1], contenders(["torch", "jax", "cupy"], gpu=True), 1)
        rows += gpu_rows
        sections.append(table(gpu_rows, "make_classification 180 000 train × 256 features, 10 classes, on the GPU"))
    load_after = os.getloadavg()
    versions = {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__,
                "portable_bp": getattr(portable_bp, "__version__", "?")}
    for lib in ("jax", "torch", "scipy"):
        try:
            versions[lib] = __import__(lib).__version__
        except ImportError:
            pass
    machine = dict(cpu_count=os.cpu_count(), platform=platform.platform(), processor=platform.processor(),
                   load_average_before=load_before, load_average_after=load_after, threads=args.threads)
    md = "\n\n".join(sections) + (
        f"\n\nMachine: {os.cpu_count()} CPUs, load average {load_before[0]:.1f} before and {load_after[0]:.1f} after "
        f"(other processes shared the machine); versions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(md)
    (out / "results.json").write_text(json.dumps(dict(rows=rows, machine=machine, versions=versions,
                                                      args=vars(args)), indent=1))
    print("\n" + md)
    print(f"wrote {out / 'table.md'} and {out / 'results.json'}")


if __name__ == "__main__":
    main()
