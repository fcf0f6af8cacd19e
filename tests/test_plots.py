"""plots.py and the figures of ``portable-bp train``: what the monitor records, the fixed projection
of the animation, the files the CLI writes (with and without matplotlib), and the digits recipes."""

import json
import sys

import numpy as np
import pytest

import portable_bp as pbp
from helpers import assert_close
from portable_bp import cli, datasets, plots

needs_mpl = pytest.mark.skipif(not plots.have_matplotlib(), reason=f"matplotlib missing: {plots.INSTALL_HINT}")


def circles_split(n=200):
    X, y = datasets.circles(n=n, seed=0)
    k = 3 * n // 4
    return X[:k], y[:k], X[k:], y[k:]


def trained(backend="numpy", frames=True, frame_every=1, epochs=4, sizes=(2, 5, 3, 1)):
    X, y, Xt, yt = circles_split()
    net = pbp.MLP(list(sizes), activation="sigmoid", loss="mse", backend=backend, seed=0)
    mon = plots.TrainingMonitor(net, X, y, Xt, yt, frames=frames, frame_every=frame_every, total_epochs=epochs,
                                grad_samples=50, frame_samples=120)
    history = net.fit(X, y, epochs=epochs, batch_size=10, lr=2.0, seed=0, progress=False, callback=mon)
    return net, mon, history, (X, y, Xt, yt)


def test_monitor_records_costs_gradient_norms_and_frames():
    net, mon, history, (X, y, Xt, yt) = trained("numpy", frame_every=3, epochs=5)
    assert mon.epochs == [0, 1, 2, 3, 4, 5]
    assert mon.train_cost[1:] == history["cost"]
    assert mon.test_cost[-1] == pytest.approx(net.cost(Xt, yt), rel=1e-12)
    assert mon.test_accuracy[-1] == pytest.approx(net.accuracy(Xt, yt))
    gw, gb = net.backprop(X[:50], y[:50])  # the mean gradient on the probe batch, after the last epoch
    for l in range(net.n_layers):
        assert mon.grad_norm_w[l][-1] == pytest.approx(np.linalg.norm(pbp.to_numpy(gw[l])) / 50, rel=1e-10)
        assert mon.grad_norm_b[l][-1] == pytest.approx(np.linalg.norm(pbp.to_numpy(gb[l])) / 50, rel=1e-10)
    assert [f[0] for f in mon.frames] == [0, 3, 5]  # every 3rd epoch, and the last one
    hidden = net.forward(X[:120])[1][-2]
    assert_close(mon.frames[-1][3], hidden, "float32")
    assert mon.frames[-1][3].shape == (120, 3)
    assert mon.frames[0][3].shape == (120, 3) and not np.allclose(mon.frames[0][3], mon.frames[-1][3])
    d = mon.as_dict()
    assert json.loads(json.dumps(d))["test_cost"] == mon.test_cost


def test_monitor_is_the_same_on_every_backend(other_backends):
    _, ref, _, _ = trained("numpy", epochs=2)
    for name in other_backends:
        _, mon, _, _ = trained(name, epochs=2)
        np.testing.assert_allclose(mon.train_cost, ref.train_cost, rtol=1e-10)
        np.testing.assert_allclose(mon.grad_norm_w, ref.grad_norm_w, rtol=1e-8)
        np.testing.assert_allclose(mon.frames[-1][3], ref.frames[-1][3], rtol=1e-6)


def test_monitor_rejects_bad_settings():
    X, y, _, _ = circles_split()
    with pytest.raises(ValueError, match="no hidden layer"):
        plots.TrainingMonitor(pbp.MLP([2, 1], seed=0), X, y, frames=True)
    with pytest.raises(ValueError, match="frame_every"):
        plots.TrainingMonitor(pbp.MLP([2, 3, 1], seed=0), X, y, frames=True, frame_every=0)


def test_projection_is_fixed_across_frames():
    rng = np.random.default_rng(0)
    final = rng.standard_normal((50, 6)) * np.array([5, 3, 1, 0.1, 0.1, 0.1])
    early = 0.1 * final + 0.7  # a shrunken, shifted version of the final representation
    coords, labels = plots.project_frames([early, final], dims=2)
    # the final frame's principal axes: variance of PC1 > PC2, and they carry most of it
    assert np.var(coords[1][:, 0]) > np.var(coords[1][:, 1]) > 0
    assert "final frame" in labels[0]
    # one affine map for every frame: early = 0.1 final + 0.7  =>  coords shrink by 0.1 and shift by a constant
    shift = coords[0] - 0.1 * coords[1]
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-12)
    three, _ = plots.project_frames([final[:, :3], final[:, :3]])
    np.testing.assert_array_equal(three[0], final[:, :3])  # 3 units or fewer: drawn as they are
    with pytest.raises(ValueError, match="dims"):
        plots.project_frames([final], dims=4)


def test_class_labels():
    assert plots.class_labels(np.array([0, 2, 1]))[0].tolist() == [0, 2, 1]
    assert plots.class_labels(np.eye(3)[[2, 0]])[0].tolist() == [2, 0]
    labels, names = plots.class_labels(np.array([[-1.0], [1.0], [1.0]]))
    assert labels.tolist() == [0, 1, 1] and names == ["y = -1", "y = +1"]


def gif_frames(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.n_frames, im.size


@needs_mpl
@pytest.mark.parametrize("sizes", [(2, 1, 1), (2, 2, 1), (2, 5, 3, 1), (2, 6, 3)], ids=["1unit", "2units", "3d", "pca"])
def test_figures_are_written_for_every_kind_of_hidden_layer(tmp_path, sizes):
    X, y, Xt, yt = circles_split()
    net = pbp.MLP(list(sizes), activation="sigmoid", loss="mse", seed=0)
    mon = plots.TrainingMonitor(net, X, y, Xt, yt, frames=True, total_epochs=3)
    net.fit(X, y, epochs=3, batch_size=10, lr=2.0, seed=0, progress=False, callback=mon)
    paths = plots.write_run_figures(tmp_path, net, mon, X, y, Xt, yt, animate=True, dataset="circles")
    names = sorted(p.rsplit("/", 1)[-1] for p in map(str, paths))
    assert names == ["cost.png", "decision_regions.png", "grad_norms.png", "hidden.gif"]
    from PIL import Image

    for p in paths:
        with Image.open(p) as im:
            assert im.size[0] > 300 and im.size[1] > 300
    n_frames, _ = gif_frames(tmp_path / "hidden.gif")
    assert 2 <= n_frames <= 4  # epochs 0..3 (identical neighbours are merged by Pillow)


@needs_mpl
def test_decision_regions_need_two_inputs(tmp_path):
    net = pbp.MLP([3, 2, 1], seed=0)
    with pytest.raises(ValueError, match="2-D inputs"):
        plots.plot_decision_regions(net, np.zeros((4, 3)), np.zeros(4), tmp_path / "x.png")


def run_cli(args, capsys):
    code = cli.main(["train", "--quiet", *args])
    return code, capsys.readouterr()


@needs_mpl
def test_train_writes_every_figure(tmp_path, capsys):
    code, out = run_cli(["--epochs", "3", "--out", str(tmp_path), "--animate", "--frame-every", "2"], capsys)
    assert code == 0, out.err
    for name in ("metrics.json", "weights.npz", "cost.png", "grad_norms.png", "decision_regions.png", "hidden.gif"):
        assert (tmp_path / name).is_file(), name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["monitor"]["epochs"] == [0, 1, 2, 3]
    assert len(metrics["monitor"]["test_cost"]) == 4
    assert gif_frames(tmp_path / "hidden.gif")[0] in (2, 3)  # epochs 0, 2 and 3


def test_train_without_matplotlib_still_trains_and_says_how_to_get_figures(tmp_path, capsys, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert not plots.have_matplotlib()
    code, out = run_cli(["--epochs", "2", "--out", str(tmp_path), "--animate"], capsys)
    assert code == 0, out.err
    assert 'pip install "portable_bp[plots]"' in out.out
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "weights.npz").is_file()
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.gif"))


@pytest.mark.parametrize("recipe, sizes, loss", [("network_py", [64, 30, 10], "mse"),
                                                 ("softmax_ce", [64, 100, 10], "cross_entropy")])
def test_digits_recipes_reach_95_percent_on_the_held_out_split(tmp_path, capsys, recipe, sizes, loss):
    pytest.importorskip("sklearn")
    code, out = run_cli(["--recipe", recipe, "--out", str(tmp_path)], capsys)
    assert code == 0, out.err
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert (m["dataset"], m["sizes"], m["loss"], m["epochs"], m["batch_size"]) == ("digits", sizes, loss, 30, 10)
    assert m["test_accuracy"] >= 0.95
    assert not (tmp_path / "decision_regions.png").exists()  # 64 inputs: no decision regions
    assert (tmp_path / "cost.png").is_file()


def test_recipe_values_are_defaults_that_flags_override(tmp_path, capsys):
    pytest.importorskip("sklearn")
    code, out = run_cli(["--recipe", "network_py", "--epochs", "1", "--lr", "0.5", "--out", str(tmp_path)], capsys)
    assert code == 0, out.err
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert (m["epochs"], m["lr"], m["sizes"], m["init"], m["recipe"]) == (1, 0.5, [64, 30, 10], "normal", "network_py")


def test_digits_split_is_fixed_whatever_the_training_seed():
    pytest.importorskip("sklearn")
    a = cli.load_dataset("digits", seed=0)
    b = cli.load_dataset("digits", seed=7)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    X_tr, X_te, y_tr, y_te = datasets.digits()
    assert len(X_tr) + len(X_te) == 1797 and len(X_te) == 449
    assert not set(map(bytes, X_te)).issubset(set(map(bytes, X_tr)))  # held-out images are not training images


# -- figures you can show (issue 20, item 4): Figures returned, ax=, files only with path= ----------------
def figure_class():
    from matplotlib.figure import Figure

    return Figure


@needs_mpl
def test_every_figure_is_returned_and_written_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net, mon, history, (X, y, Xt, yt) = trained(epochs=3)
    Figure = figure_class()
    figures = [plots.plot_costs(mon), plots.plot_grad_norms(mon), plots.plot_decision_regions(net, X, y),
               plots.animate_hidden(mon), plots.history(history)]
    assert all(isinstance(f, Figure) for f in figures)
    assert list(tmp_path.iterdir()) == []  # no path: no file
    png = figures[0]._repr_png_()  # what a notebook shows when the Figure is a cell's value
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert callable(figures[3].animation)
    made = {"cost.png": plots.plot_costs(mon, path="cost.png"), "g.png": plots.plot_grad_norms(mon, path="g.png"),
            "r.png": plots.plot_decision_regions(net, X, y, path="r.png"), "h.gif": plots.animate_hidden(mon, "h.gif"),
            "hist.png": plots.history(history, path=tmp_path / "hist.png")}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(made)  # and no temporary file left
    assert all(isinstance(f, Figure) for f in made.values())


def line_data(ax):
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()}


@needs_mpl
def test_figures_draw_on_the_callers_axes(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    net, mon, _, (X, y, Xt, yt) = trained(epochs=3)
    X2, y2 = datasets.circles(n=80, seed=1)
    history = pbp.MLP([2, 4, 1], loss="cross_entropy", seed=0).fit(
        X2, y2, epochs=4, batch_size=10, lr=0.5, seed=0, progress=False, validation_data=(X2[:20], y2[:20]))
    Figure = figure_class()
    fig = Figure(figsize=(12, 8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 3)
    assert plots.history(history, ax=axes[0, 0]) is fig  # one Axes: the cost panel
    drawn = line_data(axes[0, 0])
    assert drawn["train"] == ([1, 2, 3, 4], history["cost"]) and drawn["validation"][1] == history["val_cost"]
    assert plots.history(history, ax=[axes[0, 1], axes[0, 2]]) is fig  # one Axes per panel
    assert line_data(axes[0, 2])["validation"][1] == history["val_accuracy"]
    assert plots.plot_costs(mon, ax=axes[1, 0]) is fig
    assert line_data(axes[1, 0])["train"] == (mon.epochs, mon.train_cost)
    assert plots.plot_grad_norms(mon, ax=axes[1, 1]) is fig
    assert [list(line.get_ydata()) for line in axes[1, 1].get_lines()][0] == mon.grad_norm_w[0]
    assert plots.plot_decision_regions(net, X, y, ax=axes[1, 2]) is fig
    assert axes[1, 2].collections  # the filled regions and the points are on the caller's axes
    fig.savefig(tmp_path / "composed.png")
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plots.history(history, ax="left")
    with pytest.raises(ValueError, match="3-D Axes"):
        plots.animate_hidden(mon, ax=axes[0, 0])  # 3 hidden units need a 3-D axes


@needs_mpl
def test_history_draws_cost_accuracy_and_lr_and_checks_its_input():
    history = {"cost": [0.9, 0.5, 0.4], "accuracy": [0.5, 0.8, 0.9], "lr": [0.1, 0.05, 0.025]}
    fig = plots.history(history)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Cost per epoch", "Accuracy per epoch", "Learning rate"]
    assert line_data(fig.axes[2])["learning rate η"][1] == history["lr"]
    assert [ax.get_title() for ax in plots.history({"cost": [1.0, 0.5]}).axes] == ["Cost per epoch"]
    with pytest.raises(TypeError, match="history must be the dict fit returns"):
        plots.history([0.5, 0.4])
    with pytest.raises(ValueError, match="no 'cost'"):
        plots.history({"accuracy": [0.5]})
    with pytest.raises(ValueError, match=r"history\['cost'\]"):
        plots.history({"cost": ["a lot"]})


@needs_mpl
def test_short_runs_tick_whole_epochs_and_keep_the_legend_off_the_curves():
    _, mon, history, _ = trained(epochs=3)
    for fig in (plots.plot_costs(mon), plots.history(history), plots.plot_grad_norms(mon)):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
            assert ax.get_legend() is None  # the figure's own legend, outside every panel
            for legend in fig.legends:
                assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
        assert len(fig.legends) == 1


@needs_mpl
@pytest.mark.notebook
def test_a_figure_is_shown_inline_in_a_notebook():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    import os

    src = os.path.dirname(os.path.dirname(os.path.abspath(pbp.__file__)))
    code = (f"import sys; sys.path.insert(0, {src!r})\nfrom portable_bp import plots\n"
            "plots.history({'cost': [0.9, 0.5, 0.4], 'accuracy': [0.5, 0.8, 0.9]})")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    (out,) = nb.cells[0].outputs  # one image: no pyplot, no %matplotlib needed
    assert out.output_type == "execute_result" and "image/png" in out.data, out
