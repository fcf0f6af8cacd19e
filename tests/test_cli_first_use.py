"""``portable-bp`` as a first-time user meets it (issue 14): Ctrl-C anywhere in ``train`` (exit 130, one
line, an earlier weights.npz never overwritten), ``--resume`` refusing bad metadata before training and
keeping the checkpoint's backend and directory, the figures of a resumed run, stale figures, toy1d's
held-out split, ``check``'s skipped backends, every option's help and default, and the bench figure."""

import os
import sys

import numpy as np
import pytest

import portable_bp as pbp
from portable_bp import cli, plots

needs_mpl = pytest.mark.skipif(not plots.have_matplotlib(), reason=f"matplotlib missing: {plots.INSTALL_HINT}")
SRC = os.path.dirname(os.path.dirname(os.path.abspath(pbp.__file__)))


def train(*args):
    return cli.main(["train", "--quiet", "--epochs", "2", *map(str, args)])


def one_line(err):
    """The command's whole stderr is one line, and no traceback."""
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, err
    return err


def files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def earlier_run(tmp_path):
    """An --out directory holding a finished run (weights.npz, metrics.json, figures)."""
    out = tmp_path / "run"
    assert train("--out", out) == 0
    return out


# -- the monitor of a resumed run continues its epochs ------------------------------------------
def test_monitor_of_a_resumed_run(tmp_path):
    from portable_bp import datasets

    X, y = datasets.circles(n=200, seed=0)
    net = pbp.MLP([2, 5, 3, 1], loss="cross_entropy", seed=0)
    first = net.fit(X, y, epochs=3, batch_size=10, lr=0.5, seed=0, progress=False)
    mon = plots.TrainingMonitor(net, X, y, frames=True, frame_every=2, start_epoch=3, earlier=first, total_epochs=6)
    net.fit(X, y, epochs=3, batch_size=10, lr=0.5, seed=1, progress=False, callback=mon)
    assert mon.epochs == [3, 4, 5, 6] and [f[0] for f in mon.frames] == [3, 5, 6]
    assert mon.earlier["cost"] == first["cost"] and mon.as_dict()["start_epoch"] == 3
    if plots.have_matplotlib():
        plots.plot_costs(mon, tmp_path / "cost.png")
        plots.plot_grad_norms(mon, tmp_path / "grad_norms.png")
    with pytest.raises(ValueError, match="start_epoch"):
        plots.TrainingMonitor(net, X, y, start_epoch=-1)
    with pytest.raises(ValueError, match="earlier must hold start_epoch=2"):
        plots.TrainingMonitor(net, X, y, start_epoch=2, earlier=first)


# -- the benchmark figure of a --quick run is readable --------------------------------------------
def quick_payload():
    """bench.json's shape for a --quick run: one batch size per network, many series."""
    rng = np.random.default_rng(0)
    rows, peers = [], []
    for sizes, n in (([2, 3, 3, 1], 50), ([784, 100, 10], 64)):
        for dtype in ("float32", "float64"):
            for backend in ("numpy", "array_api_strict", "jax", "torch"):
                for kernel in ("matmul", "einsum", "stacked", "loop"):
                    t = float(10 ** rng.uniform(-4, -3.8))  # close together: the old plot stacked them
                    rows.append(dict(sizes=sizes, n=n, dtype=dtype, backend=backend, kernel=kernel, op="step",
                                     median_s=t, min_s=t * 0.9, max_s=t * 1.2))
            for peer in ("handwritten", "notebook-stacked", "sklearn", "network.py", "jax-grad-jit"):
                t = float(10 ** rng.uniform(-4, -3.8))
                peers.append(dict(sizes=sizes, n=n, dtype=dtype, peer=peer, op="step", median_s=t, min_s=t,
                                  max_s=t))
    return {"results": {"portable_bp": rows, "peers": peers},
            "machine": {"cpu": "Some CPU with a rather long model name", "mode": "cpu"}}


@needs_mpl
@pytest.mark.parametrize("kind", ["quick", "full"])
def test_bench_figure_has_no_overlapping_labels_or_markers(kind, tmp_path):
    sys.path.insert(0, os.path.join(os.path.dirname(SRC), "benchmarks"))
    try:
        from pbp_bench import report
    finally:
        sys.path.pop(0)
    payload = quick_payload()
    if kind == "full":  # a second batch size for every network, and one network measured at one N only
        extra = [dict(r, n=r["n"] * 8, **{k: r[k] * 3 for k in ("median_s", "min_s", "max_s")})
                 for r in payload["results"]["portable_bp"]]
        payload["results"]["portable_bp"] += extra
        payload["results"]["peers"] += [dict(r, sizes=[4, 4, 1]) for r in payload["results"]["peers"]]
    fig = report.figure(payload)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    texts = [fig._suptitle, *(t for leg in fig.legends for t in leg.get_texts())]
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        for axis in (ax.xaxis, ax.yaxis):  # the ticks drawn: those inside the view
            texts += [t for tick in axis._update_ticks() for t in (tick.label1, tick.label2)]
    texts = [t for t in texts if t is not None and t.get_visible() and t.get_text().strip()]
    extents = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    for name, e in extents:  # nothing cut off at the edges
        assert e.x0 >= box.x0 - 1 and e.x1 <= box.x1 + 1 and e.y0 >= box.y0 - 1 and e.y1 <= box.y1 + 1, name
    for i, (a, ea) in enumerate(extents):
        for b, eb in extents[i + 1:]:
            overlap = min(ea.x1, eb.x1) - max(ea.x0, eb.x0), min(ea.y1, eb.y1) - max(ea.y0, eb.y0)
            assert min(overlap) <= 1, f"{a!r} overlaps {b!r}"
    for ax in fig.axes:  # in a panel of one batch size, two series' markers never sit on top of each other
        if kind == "full" and not ax.get_title().startswith("[4,4,1]"):
            continue  # (several batch sizes: where lines cross, markers meet, as in any line plot)
        points = []
        for line in ax.get_lines():
            if line.get_marker() not in (None, "", "None", " ", "|", "_") and len(line.get_xdata()):
                data = np.c_[np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)]
                xy = ax.transData.transform(data)
                points += [(id(line), p) for p in xy]
        for i, (la, pa) in enumerate(points):
            for lb, pb in points[i + 1:]:
                if la != lb:
                    assert np.hypot(*(pa - pb)) >= 5, f"two series' markers overlap in {ax.get_title()}"
    report.plot(payload, tmp_path / "step_vs_batch.png")
    assert (tmp_path / "step_vs_batch.png").stat().st_size > 10_000
