"""What a benchmark run leaves behind: a terminal table (also as Markdown), a JSON file with
every figure and the machine, and a log-log plot of step time against batch size."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import sys

from .harness import _fmt_time

LIBRARIES = ("portable_bp", "numpy", "array-api-compat", "array-api-strict", "jax", "jaxlib", "torch",
             "scikit-learn", "cupy-cuda12x", "cupy-cuda11x", "cupy", "matplotlib", "threadpoolctl")
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "XLA_FLAGS", "JAX_PLATFORMS", "CUDA_VISIBLE_DEVICES")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(backends, gpu):
    """The machine, the libraries and how their thread pools are set up."""
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "mode": "gpu" if gpu else "cpu",
        "versions": {},
        "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ},
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    for lib in LIBRARIES:
        try:
            info["versions"][lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        import threadpoolctl

        info["threadpools"] = [
            {k: d.get(k) for k in ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture")}
            for d in threadpoolctl.threadpool_info()
        ]
    except ImportError:
        pass
    if "torch" in backends:
        try:
            import torch

            info["torch_threads"] = torch.get_num_threads()
            if gpu and torch.cuda.is_available():
                info["gpu"] = torch.cuda.get_device_name(0)
        except Exception:  # pragma: no cover - best effort
            pass
    if "jax" in backends:
        try:
            import jax

            info["jax_devices"] = [str(d) for d in jax.devices()]
        except Exception:  # pragma: no cover
            pass
    if "cupy" in backends and "gpu" not in info:
        try:
            import cupy

            props = cupy.cuda.runtime.getDeviceProperties(0)
            info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        except Exception:
            pass
    if gpu:
        try:
            import cupy

            info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
            info["cuda_driver"] = cupy.cuda.runtime.driverGetVersion()
        except Exception:
            pass
    return info


def write_json(path, payload):
    def default(o):  # numpy scalars
        try:
            return o.item()
        except AttributeError:
            return str(o)

    with open(path, "w") as f:
        json.dump(payload, f, indent=1, default=default, allow_nan=True)


# -- tables ---------------------------------------------------------------------------------------
def _span(r):
    if "skipped" in r:
        return r["skipped"]
    return f"{_fmt_time(r['median_s'])} [{_fmt_time(r['min_s'])}–{_fmt_time(r['max_s'])}]"


def _pct(x):
    return "-" if x is None else f"{100 * x:.0f}%"


def _ratio(x):
    return "-" if x is None else f"{x:.2f}×"


def _grid(header, rows, markdown):
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def tables(payload, markdown=False):
    """The whole report as text (or Markdown): GEMM rates, one table per case, peers, targets."""
    res = payload["results"]
    out = []
    h = (lambda s: f"### {s}") if markdown else (lambda s: f"== {s} ==")
    meta = payload["machine"]
    out.append(h(f"portable_bp benchmarks — {meta['cpu']}, {meta.get('cpus_usable', meta['cpu_count'])} "
                 f"cores{', ' + meta['gpu'] if meta.get('gpu') else ''} ({meta['mode']} mode, {meta['date']})"))
    out.append("times: median of repeats [min–max] per call; GEMM % = step GFLOP/s ÷ the square-GEMM rate "
               "below (same backend, dtype)")
    for b, why in res.get("skipped_backends", {}).items():
        out.append(f"backend {b}: {why}")
    out.append("")
    out += summary(payload, markdown)
    out.append(h("GEMM rate (n×n @ n×n, measured within every case; the GEMM % of a case uses its own)"))
    gemm = {}
    for g in res["gemm"]:
        gemm.setdefault((g["backend"], g["dtype"], g["gemm_n"]), []).append(g["gflops"])
    out.append(_grid(["backend", "dtype", "n", "GFLOP/s: median over cases", "lowest", "highest"],
                     [[b, d, n, f"{statistics.median(v):.1f}", f"{min(v):.1f}", f"{max(v):.1f}"]
                      for (b, d, n), v in gemm.items()], markdown))
    cases = []
    for r in res["portable_bp"] + res["peers"]:
        key = (tuple(r["sizes"]), r["n"])
        if key not in cases:
            cases.append(key)
    for sizes, n in cases:
        label = f"[{','.join(map(str, sizes))}] N={n}"
        out.append("")
        rows = {}
        for r in res["portable_bp"]:
            if tuple(r["sizes"]) != sizes or r["n"] != n:
                continue
            key = (r["backend"], r["kernel"], r["dtype"])
            row = rows.setdefault(key, {"skipped": r.get("skipped")})
            if "skipped" not in r:
                row[r["op"]] = r
        step_flops = None
        table = []
        for (backend, kernel, dtype), row in rows.items():
            if row["skipped"]:
                table.append([backend, kernel, dtype, row["skipped"], "", "", "", ""])
                continue
            st = row.get("step")
            step_flops = st["flops"] if st else step_flops
            table.append([backend, kernel, dtype,
                          _span(row["forward"]) if "forward" in row else "-",
                          _span(row["backprop"]) if "backprop" in row else "-",
                          _span(st) if st else "-",
                          f"{st['gflops']:.2f}" if st else "-",
                          _pct(st.get("gemm_fraction")) if st else "-"])
        flops_txt = f" — step ≈ {step_flops / 1e6:.3g} MFLOP" if step_flops else ""
        loads = {}
        for r in res["portable_bp"] + res["peers"]:
            if tuple(r["sizes"]) == sizes and r["n"] == n and r.get("others_cpu_cores") is not None:
                loads[r["dtype"]] = r["others_cpu_cores"]
        load_txt = ("; other processes used " + ", ".join(f"{v:.2f} cores ({k})" for k, v in sorted(loads.items()))
                    if loads else "")
        out.append(h(f"{label}{flops_txt}{load_txt}"))
        if table:
            out.append(_grid(["backend", "kernel", "dtype", "forward", "backprop", "step (update)",
                              "step GFLOP/s", "GEMM %"], table, markdown))
        peer_rows = []
        for r in res["peers"]:
            if tuple(r["sizes"]) != sizes or r["n"] != n:
                continue
            if "skipped" in r:
                peer_rows.append([r["peer"], r["dtype"], r["skipped"], "", "", ""])
                continue
            peer_rows.append([r["peer"], r["dtype"], _span(r),
                              _ratio(r.get("ratio_vs_reference")),
                              f"{_ratio(r.get('ratio_vs_same_backend'))} ({r['compare_backend']})"
                              if r.get("compare_backend") else "-",
                              _pct(r.get("gemm_fraction"))])
        if peer_rows:
            ref = next((r.get("reference_backend") for r in res["peers"] if r.get("reference_backend")), "numpy")
            out.append("")
            out.append("peers (step); ratio = peer time ÷ portable_bp matmul step time, > 1: portable_bp faster")
            out.append(_grid(["peer", "dtype", "step", f"÷ pbp[{ref}]", "÷ pbp[same backend]", "GEMM %"],
                             peer_rows, markdown))
    out.append("")
    out.append(h("targets"))
    out.append("measured: from the medians (the verdict); in brackets from the fastest repeat of each side")
    fmt = lambda v: "-" if v is None else f"{v:.3g}"
    out.append(_grid(["target", "case", "dtype", "measured", "limit", "met", "how"],
                     [[t["target"], t["case"], t["dtype"], f"{fmt(t['value'])} ({fmt(t.get('value_of_mins'))})",
                       t["text"], {True: "yes", False: "NO", None: "not measured"}[t["met"]], t["how"]]
                      for t in res["targets"]], markdown))
    return "\n".join(out) + "\n"


def summary(payload, markdown=False, op="step"):
    """One table per dtype: a row per portable_bp backend/kernel and per peer, a column per case,
    the median time of a full SGD step (or another op) in each cell."""
    res = payload["results"]
    h = (lambda s: f"### {s}") if markdown else (lambda s: f"== {s} ==")
    cases, variants = [], []
    for r in res["portable_bp"] + res["peers"]:
        key = (tuple(r["sizes"]), r["n"])
        if key not in cases:
            cases.append(key)
        v = ("portable_bp", r["backend"], r["kernel"]) if "backend" in r else ("peer", r["peer"], "")
        if v not in variants:
            variants.append(v)
    out = []
    for dtype in sorted({r["dtype"] for r in res["portable_bp"] + res["peers"]}):
        cell = {}
        for r in res["portable_bp"] + res["peers"]:
            if r["dtype"] != dtype or r.get("op", op) != op:
                continue
            v = ("portable_bp", r["backend"], r["kernel"]) if "backend" in r else ("peer", r["peer"], "")
            cell[v, (tuple(r["sizes"]), r["n"])] = "skipped" if "skipped" in r else _fmt_time(r["median_s"])
        rows = []
        for v in variants:
            name = f"{v[1]} / {v[2]}" if v[0] == "portable_bp" else f"peer: {v[1]}"
            rows.append([name] + [cell.get((v, c), "-") for c in cases])
        header = [f"{op} time ({dtype})"] + [f"[{','.join(map(str, s))}] N={n}" for s, n in cases]
        out += [h(f"summary: median {op} time, {dtype}"), _grid(header, rows, markdown), ""]
    return out


# -- plot -----------------------------------------------------------------------------------------
COLORS = {"numpy": "tab:blue", "array_api_strict": "tab:purple", "jax": "tab:green", "torch": "tab:orange",
          "cupy": "tab:red"}
STYLES = {"matmul": ("o", "-"), "einsum": ("s", "--"), "stacked": ("^", ":"), "loop": ("v", "-.")}
PEER_STYLES = {"handwritten": "D", "notebook-stacked": "P", "torch-autograd": "X", "jax-grad-jit": "*",
               "sklearn": "h", "network.py": "<"}


def plot(payload, path, op="step"):
    """Write :func:`figure` to ``path`` (PNG)."""
    fig = figure(payload, op)
    fig.savefig(path, dpi=110)
    return path


def _series(payload, op):
    """``(portable_bp series, peer series, nets, dtypes)``: the measured rows grouped by
    (backend, kernel) and by peer, in a fixed order (backends as in COLORS, kernels as in STYLES)."""
    res = payload["results"]
    nets = []
    for r in res["portable_bp"] + res["peers"]:
        if tuple(r["sizes"]) not in nets:
            nets.append(tuple(r["sizes"]))
    dtypes = sorted({r["dtype"] for r in res["portable_bp"] + res["peers"]}) or ["float64"]
    rank = lambda name, table: list(table).index(name) if name in table else len(table)
    ours = {}
    for r in res["portable_bp"]:
        if r.get("op") == op and "skipped" not in r:
            ours.setdefault((r["backend"], r["kernel"]), []).append(r)
    ours = dict(sorted(ours.items(), key=lambda kv: (rank(kv[0][0], COLORS), kv[0][0], rank(kv[0][1], STYLES))))
    peers = {}
    for r in res["peers"]:
        if r.get("op", "step") == op and "skipped" not in r:
            peers.setdefault(r["peer"], []).append(r)
    peers = dict(sorted(peers.items(), key=lambda kv: rank(kv[0], PEER_STYLES)))
    return ours, peers, nets, dtypes


def _title(payload, op, what):
    meta = payload["machine"]
    where = meta["cpu"] + (f", {meta['gpu']}" if meta.get("gpu") else "")
    return f"portable_bp {op} time per call {what}\n{where} ({meta['mode']}); bars: min–max of the repeats"


def figure(payload, op="step"):
    """The benchmark figure, a matplotlib Figure (Agg canvas, no pyplot state).

    With several batch sizes per network: log-log time against batch size, a line per backend/kernel
    and peer (in a panel of one batch size, each shifted a little along x, :data:`DODGE`, so the points
    do not hide each other),
    one panel per network and dtype, the legend outside on the right. When every network
    was measured at ONE batch size (``--quick``), a line plot would stack every series on one x:
    each panel is then a dot plot instead, one row per series (named on the left), time on x.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ours, peers, nets, dtypes = _series(payload, "step" if op == "step" else op)
    rows = payload["results"]["portable_bp"] + payload["results"]["peers"]
    batch_sizes = {net: sorted({r["n"] for r in rows if tuple(r["sizes"]) == net}) for net in nets}
    single = all(len(ns) <= 1 for ns in batch_sizes.values())
    n_series = len(ours) + len(peers)
    if single:
        size = (3.4 * len(nets) + 2.4, (0.24 * n_series + 1.2) * len(dtypes) + 1.0)
    else:
        size = (4.4 * len(nets) + 3.2, 3.8 * len(dtypes) + 1.0)
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(dtypes), len(nets), squeeze=False, sharey=single)
    draw = _dot_panel if single else _line_panel
    handles = {}
    for i, dtype in enumerate(dtypes):
        for j, sizes in enumerate(nets):
            ax = axes[i][j]
            draw(ax, _pick(ours, sizes, dtype), _pick(peers, sizes, dtype), list(ours) + list(peers), handles)
            ns = batch_sizes[sizes]
            shown = f", N = {ns[0]}" if single and ns else ""
            ax.set_title(f"[{','.join(map(str, sizes))}]  {dtype}{shown}", fontsize=10)
            if i == len(dtypes) - 1:
                ax.set_xlabel(f"{op} time per call (s)" if single else "batch size N")
            if j == 0 and not single:
                ax.set_ylabel(f"{op} time per call (s)")
            if single and j > 0:
                ax.tick_params(labelleft=False)
    if single:
        fig.suptitle(_title(payload, op, "at one batch size (a --quick run)"), fontsize=10)
    else:
        fig.suptitle(_title(payload, op, "against batch size"), fontsize=10)
        fig.legend(list(handles.values()), list(handles.keys()), loc="outside right center", fontsize=8,
                   frameon=False)
    return fig


def _pick(series, sizes, dtype):
    """The rows of each series measured on network ``sizes`` in ``dtype``."""
    return {k: [r for r in rs if tuple(r["sizes"]) == sizes and r["dtype"] == dtype] for k, rs in series.items()}


def _label(key):
    return f"{key[0]} / {key[1]}" if isinstance(key, tuple) else f"peer: {key}"


def _style(key):
    """(colour, marker, line style, filled) of a series."""
    if isinstance(key, tuple):
        marker, ls = STYLES.get(key[1], ("o", "-"))
        return COLORS.get(key[0], "k"), marker, ls, True
    return "0.35", PEER_STYLES.get(key, "x"), (0, (1, 3)), False


#: in a line-plot panel measured at one batch size only, each series is drawn shifted along the (log)
#: batch-size axis by this factor per place in the legend, so the points stand side by side, not on top
DODGE = 1.04


def _log_ticks(axis):
    """Few, non-overlapping labels on a log axis of times: 1, 2 and 5 × 10^k when it spans under two
    decades (matplotlib would label crowded minor ticks), powers of ten (at most 6) otherwise; the
    minor ticks only as grid lines."""
    import matplotlib.ticker as ticker

    lo, hi = sorted(axis.get_view_interval())
    narrow = lo > 0 and hi / lo < 100
    axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0) if narrow else (1.0,), numticks=6))
    axis.set_major_formatter(ticker.LogFormatterSciNotation(labelOnlyBase=False))
    axis.set_minor_locator(ticker.LogLocator(subs="auto", numticks=12))
    axis.set_minor_formatter(ticker.NullFormatter())


def _line_panel(ax, ours, peers, order, handles):
    import matplotlib.ticker

    ns = {r["n"] for rs in list(ours.values()) + list(peers.values()) for r in rs}
    dodge = DODGE if len(ns) == 1 else 1.0
    for k, key in enumerate(order):
        rs = sorted((ours.get(key) or peers.get(key) or []), key=lambda r: r["n"])
        if not rs:
            continue
        color, marker, ls, filled = _style(key)
        shift = dodge ** (k - (len(order) - 1) / 2)
        x, y = [r["n"] * shift for r in rs], [r["median_s"] for r in rs]
        if filled:
            err = [[r["median_s"] - r["min_s"] for r in rs], [r["max_s"] - r["median_s"] for r in rs]]
            hdl = ax.errorbar(x, y, yerr=err, marker=marker, ls=ls, color=color, ms=5, lw=1.3, capsize=2)
        else:
            hdl, = ax.plot(x, y, marker=marker, ls=ls, color=color, ms=7, mfc="none", lw=1)
        handles.setdefault(_label(key), hdl)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_ticks(ax.yaxis)
    if ns:  # tick the batch sizes measured, in plain numbers (at most 6 labelled)
        ns = sorted(ns)
        ticks = ns if len(ns) <= 6 else ns[:: -(-len(ns) // 6)]
        ax.set_xticks(ticks, [str(n) for n in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        spread = dodge ** (len(order) / 2) if len(ns) == 1 else 1.0
        ax.set_xlim(ns[0] / spread / 1.3, ns[-1] * spread * 1.3)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)


def _dot_panel(ax, ours, peers, order, handles):
    for row, key in enumerate(order):
        rs = ours.get(key) or peers.get(key) or []
        if not rs:
            continue
        r = min(rs, key=lambda r: r["n"])
        color, marker, _, filled = _style(key)
        ax.errorbar([r["median_s"]], [row], xerr=[[r["median_s"] - r["min_s"]], [r["max_s"] - r["median_s"]]],
                    marker=marker, ls="none", color=color, ms=6 if filled else 7, mfc=color if filled else "none",
                    capsize=2, lw=1.2)
    ax.set_yticks(range(len(order)), [_label(k) for k in order], fontsize=8)
    ax.set_ylim(len(order) - 0.5, -0.5)  # the first series on top
    ax.set_xscale("log")
    _log_ticks(ax.xaxis)
    ax.grid(True, axis="x", which="major", alpha=0.3)
    ax.grid(True, axis="y", alpha=0.15)
