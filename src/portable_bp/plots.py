"""Figures of a training run: cost and accuracy per epoch, gradient norms per layer, decision
regions of 2-D data sets, and the seed notebook's animation of the last hidden layer.

They draw what :class:`TrainingMonitor` (:mod:`portable_bp.monitor`, also importable from here)
recorded during ``fit``, or (:func:`history`) what ``fit`` returned. Every function returns its
matplotlib ``Figure`` — the value of a notebook cell shows it inline — takes ``ax=`` to draw on the
caller's axes instead of a figure of its own, and writes a file only when ``path=`` is given (whole
or not at all: a temporary file renamed into place). They need matplotlib (``pip install
"portable_bp[plots]"``). It is imported lazily, inside them, and only its Agg canvas is used (no
pyplot, no global backend switch), so they work on a headless machine and never open a window.
"""

from __future__ import annotations

import contextlib
import os
import secrets

import numpy as np

from . import _backend
from .monitor import TrainingMonitor, class_labels

__all__ = ["TrainingMonitor", "animate_hidden", "class_labels", "history", "plot_costs", "plot_decision_regions",
           "plot_grad_norms", "project_frames", "write_run_figures"]

INSTALL_HINT = 'pip install "portable_bp[plots]"  (matplotlib and pillow)'

#: colours of the classes, shared by every figure (matplotlib's tab10)
CLASS_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)


def require_matplotlib():
    """Import matplotlib's object-oriented pieces, or raise ImportError saying how to install them."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"figures need matplotlib: {INSTALL_HINT}") from exc


def have_matplotlib():
    try:
        require_matplotlib()
    except ImportError:
        return False
    return True


def _figure(figsize, layout="constrained"):
    """A matplotlib Figure on an Agg canvas (never a GUI window, no pyplot state) that a notebook
    shows inline as a PNG even when pyplot was never imported (:func:`_showable`)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = _showable()(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _showable():
    """matplotlib's Figure with ``_repr_png_`` (:mod:`portable_bp._showable`)."""
    from ._showable import ShowableFigure

    return ShowableFigure


def _root_figure(ax):
    fig = ax.figure
    while getattr(fig, "figure", fig) is not fig:  # a SubFigure: the Figure holding it
        fig = fig.figure
    return fig


def _panels(ax, n, figsize, name="ax"):
    """``(figure, axes list, own)`` for a function that draws ``n`` panels side by side. ``ax=None``: a new
    figure with ``n`` axes (``own`` True: the function lays out its legends). ``ax`` one Axes: only the first
    panel is drawn there; a sequence of Axes: one panel on each, in order (as many as given, at most ``n``)."""
    require_matplotlib()
    from matplotlib.axes import Axes

    if ax is None:
        fig = _figure(figsize(n))
        axes = fig.subplots(1, n) if n > 1 else fig.subplots()
        return fig, list(np.ravel(axes)), True
    axes = list(np.ravel(np.asarray(ax, dtype=object))) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if not axes or not all(isinstance(a, Axes) for a in axes):
        raise TypeError(f"{name} must be a matplotlib Axes or a sequence of them (one per panel: at most {n}); "
                        f"got {type(ax).__name__}")
    return _root_figure(axes[0]), axes[:n], False


def _finish(fig, path, dpi=100):
    """Write the figure to ``path`` (atomically) when one is given; return the figure."""
    if path is not None:
        _save(fig, os.fspath(path), dpi=dpi)
    return fig


def _integer_epochs(ax):
    """Epoch axes tick whole epochs only (a 3-epoch run is not labelled 0.5, 1.0, 1.5 ...)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _legend(fig, axes, own, **kwargs):
    """One legend: on a figure of our own, below the panels, outside them (never over a curve); on the
    caller's axes, matplotlib's "best" place inside each."""
    if own:
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncol=min(len(handles), 4), fontsize="small",
                       frameon=False, **kwargs)
    else:
        for ax in axes:
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small")


def _save(fig, path, dpi=100):
    with _atomic(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=os.path.splitext(path)[1][1:] or None)
    return path


@contextlib.contextmanager
def _atomic(path):
    """A temporary name beside ``path`` (same extension) to write to; renamed over ``path`` when the
    block succeeds, removed when it fails or is interrupted: a figure is never left half-written."""
    directory, base = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp{os.path.splitext(base)[1]}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _color(k):
    return CLASS_COLORS[k % len(CLASS_COLORS)]


# -- static figures -------------------------------------------------------------------------------
def _earlier(ax, monitor, key):
    """A resumed run: the checkpoint's per-epoch ``key`` (epochs 1 … start) in a lighter line, and a
    dotted line where this run resumed. Returns the values drawn."""
    start, values = monitor.start_epoch, monitor.earlier.get(key, [])
    if values:
        ax.plot(range(1, start + 1), values, "-", lw=1.2, color=_color(0), alpha=0.45,
                label="train (before resuming)")
    if start:
        ax.axvline(start, color="0.4", ls=":", lw=1, label=f"resumed after epoch {start}")
    return values


def _epoch_label(monitor):
    return "epoch (0 = before training)" if not monitor.start_epoch else "epoch"


def _cost_scale(ax, values):
    """A log scale for costs that span more than a factor of 5 (a linear one reads better below that)."""
    values = np.asarray([v for v in values if v is not None], dtype=float)
    values = values[np.isfinite(values)]
    if values.size and np.all(values > 0) and values.max() > 5 * values.min():
        ax.set_yscale("log")


def _accuracy_limits(ax, values):
    values = [v for v in values if v is not None and np.isfinite(v)]
    ax.set_ylim(min([0.5, *values]) - 0.02, 1.01)


def plot_costs(monitor, path=None, title=None, *, ax=None):
    """Mean cost per epoch on the training and test sets (log scale) and, for a classifier, accuracy.
    After a resume, the epochs continue the checkpoint's, and its earlier training curve is drawn too.

    Returns the Figure; writes it to ``path`` (atomically) only when a path is given. ``ax``: draw on
    the caller's axes instead — one Axes gets the cost, a pair ``(cost_ax, accuracy_ax)`` both panels."""
    two = monitor.classifier
    fig, axes, own = _panels(ax, 2 if two else 1, lambda n: (10, 4.6) if n == 2 else (6, 4.6))
    ax = axes[0]
    earlier = _earlier(ax, monitor, "cost")
    ax.plot(monitor.epochs, monitor.train_cost, "-o", ms=3, label="train", color=_color(0))
    if monitor.test_cost:
        ax.plot(monitor.epochs, monitor.test_cost, "-s", ms=3, label="test (held out)", color=_color(1))
    _cost_scale(ax, monitor.train_cost + monitor.test_cost + earlier)
    ax.set_xlabel(_epoch_label(monitor))
    ax.set_ylabel(f"mean cost C ({monitor.loss})")
    ax.set_title("Cost per epoch")
    if two and len(axes) > 1:
        ax = axes[1]
        earlier = _earlier(ax, monitor, "accuracy")
        ax.plot(monitor.epochs, monitor.train_accuracy, "-o", ms=3, label="train", color=_color(0))
        if monitor.test_accuracy:
            ax.plot(monitor.epochs, monitor.test_accuracy, "-s", ms=3, label="test (held out)", color=_color(1))
            ax.set_title(f"Accuracy per epoch (final test: {monitor.test_accuracy[-1]:.1%})")
        else:
            ax.set_title("Accuracy per epoch")
        ax.set_xlabel(_epoch_label(monitor))
        ax.set_ylabel("accuracy")
        _accuracy_limits(ax, monitor.train_accuracy + monitor.test_accuracy + earlier)
    for a in axes:
        a.grid(True, alpha=0.3)
        _integer_epochs(a)
    _legend(fig, axes, own)
    if title and own:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_grad_norms(monitor, path=None, title=None, *, ax=None):
    """‖(1/m) Σ_x ∂C_x/∂W^l‖ (solid) and ‖(1/m) Σ_x ∂C_x/∂b^l‖ (dashed) per layer and epoch.
    Returns the Figure; writes it to ``path`` only when given; ``ax``: draw on the caller's axes."""
    fig, (ax,), own = _panels(ax, 1, lambda n: (7.5, 4.4))
    sizes = monitor.sizes
    for l, (nw, nb) in enumerate(zip(monitor.grad_norm_w, monitor.grad_norm_b)):
        c = _color(l)
        ax.plot(monitor.epochs, nw, "-", color=c, label=rf"$\partial C/\partial W^{{{l + 1}}}$ "
                f"({sizes[l]}→{sizes[l + 1]})")
        if not np.all(np.isnan(nb)):
            ax.plot(monitor.epochs, nb, "--", color=c, label=rf"$\partial C/\partial b^{{{l + 1}}}$")
    values = np.array([v for row in monitor.grad_norm_w + monitor.grad_norm_b for v in row], dtype=float)
    if np.all(values[np.isfinite(values)] > 0):
        ax.set_yscale("log")
    if monitor.start_epoch:
        ax.axvline(monitor.start_epoch, color="0.4", ls=":", lw=1, label=f"resumed after epoch {monitor.start_epoch}")
    ax.set_xlabel(_epoch_label(monitor))
    ax.set_ylabel(f"norm of the mean gradient (probe batch of {monitor._Xg.shape[0]})")
    ax.set_title(title or "Gradient norm per layer (BP3, BP4)")
    ax.grid(True, alpha=0.3)
    _integer_epochs(ax)
    if own:  # beside the axes, outside them: the curves stay visible
        fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize="small", frameon=False)
    else:
        ax.legend(fontsize="small", ncol=2 if len(sizes) > 4 else 1)
    return _finish(fig, path)


def history(history, *, ax=None, path=None, title=None):
    """What ``fit`` returned, drawn without a monitor: the cost per epoch (``cost``, and ``val_cost``
    with validation data; log scale), the accuracy (``accuracy``/``val_accuracy``, when recorded) and
    the learning rate (``lr``, when the history holds it), one panel each; epochs count from 1.

    ``history`` is ``fit``'s dict (also ``exc.history`` of an interrupted fit, or metrics.json's
    ``"history"``). Returns the Figure; writes it to ``path`` only when given. ``ax``: one Axes (the
    cost panel) or a sequence of Axes, one per panel in that order."""
    from collections.abc import Mapping

    if not isinstance(history, Mapping):
        raise TypeError(f"history must be the dict fit returns (lists per metric); got {type(history).__name__}")
    series = {}
    for key, values in history.items():
        try:
            series[key] = np.asarray(values, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"history[{key!r}] must be a list of numbers, one per epoch") from None
    if not any(k in series for k in ("cost", "val_cost")):
        raise ValueError(f"history has no 'cost' to draw (keys: {sorted(series)}): pass what fit returned")
    panels = [["cost", "val_cost"], ["accuracy", "val_accuracy"], ["lr"]]
    panels = [[k for k in keys if k in series and series[k].size] for keys in panels]
    panels = [keys for keys in panels if keys]
    fig, axes, own = _panels(ax, len(panels), lambda n: (5.2 * n, 4.2), name="ax")
    names = {"cost": "train", "val_cost": "validation", "accuracy": "train", "val_accuracy": "validation",
             "lr": "learning rate η"}
    for ax, keys in zip(axes, panels):
        for k in keys:
            y = series[k]
            ax.plot(np.arange(1, y.size + 1), y, "-o" if y.size <= 60 else "-", ms=3,
                    color=_color(1 if k.startswith("val_") else (2 if k == "lr" else 0)), label=names[k])
        kind = keys[0].removeprefix("val_")
        ax.set_xlabel("epoch")
        ax.set_ylabel({"cost": "mean cost C", "accuracy": "accuracy", "lr": "learning rate"}[kind])
        ax.set_title({"cost": "Cost per epoch", "accuracy": "Accuracy per epoch", "lr": "Learning rate"}[kind])
        if kind == "cost":
            _cost_scale(ax, np.concatenate([series[k] for k in keys]))
        elif kind == "accuracy":
            _accuracy_limits(ax, np.concatenate([series[k] for k in keys]))
        elif np.all(series["lr"] > 0) and series["lr"].max() > 10 * series["lr"].min():
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        _integer_epochs(ax)
    _legend(fig, axes, own)
    if title and own:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_decision_regions(net, X, Y, path=None, X_test=None, Y_test=None, title=None, resolution=200, *, ax=None):
    """The network's output over the plane of a 2-D data set, its decision boundary, and the data.
    Returns the Figure; writes it to ``path`` only when given; ``ax``: draw on the caller's axes.

    One output unit: the output a^L as a colour from class 0's colour to class 1's, with the
    boundary (a^L = 0.5, or 0 for a tanh/identity output) drawn in black. Several outputs: each
    point of the plane coloured by the class of the largest output.
    """
    if net.sizes[0] != 2:
        raise ValueError(f"decision regions need 2-D inputs; this network takes {net.sizes[0]} features")
    from matplotlib.colors import LinearSegmentedColormap, ListedColormap
    from matplotlib.lines import Line2D

    X = np.asarray(_backend.to_numpy(X), dtype=float)
    labels, names = class_labels(Y)
    points = [X] if X_test is None else [X, np.asarray(_backend.to_numpy(X_test), dtype=float)]
    lo, hi = np.min(np.vstack(points), axis=0), np.max(np.vstack(points), axis=0)
    pad = 0.1 * (hi - lo) + 1e-9
    g1, g2 = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution))
    out = _backend.to_numpy(net.predict(np.c_[g1.ravel(), g2.ravel()])).astype(float)
    fig, (ax,), own = _panels(ax, 1, lambda n: (6.5, 5.5))
    handles = []
    if out.shape[1] == 1:
        a = out[:, 0].reshape(g1.shape)
        if net.output_activation == "sigmoid":
            vmin, vmax, level = 0.0, 1.0, 0.5
        elif net.output_activation == "tanh":
            vmin, vmax, level = -1.0, 1.0, 0.0
        else:
            vmin, vmax, level = float(a.min()), float(a.max()), 0.0
        cmap = LinearSegmentedColormap.from_list("two", [_color(0), "#ffffff", _color(1)])
        filled = ax.contourf(g1, g2, a, levels=np.linspace(vmin, vmax, 21), cmap=cmap, alpha=0.45, extend="both")
        fig.colorbar(filled, ax=ax, label="network output $a^L$")
        if a.min() < level < a.max():
            ax.contour(g1, g2, a, levels=[level], colors="k", linewidths=1.5)
            handles.append(Line2D([], [], color="k", lw=1.5, label=f"decision boundary ($a^L$ = {level:g})"))
    else:
        k = out.shape[1]
        cls = np.argmax(out, axis=1).reshape(g1.shape)
        cmap = ListedColormap([_color(c) for c in range(k)])
        ax.contourf(g1, g2, cls, levels=np.arange(k + 1) - 0.5, cmap=cmap, alpha=0.3)
        ax.contour(g1, g2, cls, levels=np.arange(k) + 0.5, colors="k", linewidths=1)
        handles.append(Line2D([], [], color="k", lw=1, label="decision boundaries"))
    for c in np.unique(labels):
        m = labels == c
        ax.scatter(X[m, 0], X[m, 1], s=12, color=_color(c), edgecolors="white", linewidths=0.3,
                   label=f"{names[c]} (train)")
    title_acc = ""
    if X_test is not None:
        Xt = points[1]
        lt, _ = class_labels(Y_test)
        for c in np.unique(lt):
            m = lt == c
            ax.scatter(Xt[m, 0], Xt[m, 1], s=22, marker="^", color=_color(c), edgecolors="k", linewidths=0.5,
                       label=f"{names[c] if c < len(names) else f'class {c}'} (test)")
        if net.is_classifier or net.sizes[-1] == 1:
            title_acc = f" — test accuracy {net.accuracy(X_test, Y_test):.1%}"
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title or f"Decision regions of {net.sizes}{title_acc}")
    if own:
        fig.legend(handles=ax.get_legend_handles_labels()[0] + handles, loc="outside lower center",
                   fontsize="small", ncol=3)
    else:
        ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, fontsize="small")
    return _finish(fig, path)


# -- the animation --------------------------------------------------------------------------------
def project_frames(frames, dims=2):
    """Coordinates to draw for each frame's hidden activations, with ONE projection for all frames.

    Up to 3 units are drawn as they are. More units are projected on the first ``dims`` principal
    axes of the LAST frame (the trained representation); the same centre and axes are applied to
    every earlier frame, so motion in the animation is motion of the representation, not of the
    projection. Returns ``(coords list, axis labels)``.
    """
    acts = [np.asarray(h, dtype=np.float64) for h in frames]
    k = acts[0].shape[1]
    if k <= 3:
        return acts, [f"hidden unit {j + 1} activation" for j in range(k)]
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3 for a projection of {k} hidden units; got {dims!r}")
    final = acts[-1]
    centre = final.mean(axis=0)
    _, s, vt = np.linalg.svd(final - centre, full_matrices=False)
    axes = vt[:dims].T
    share = s**2 / max(np.sum(s**2), np.finfo(float).tiny)
    labels = [f"PC{j + 1} of the final frame ({share[j]:.0%} of its variance)" for j in range(dims)]
    return [(h - centre) @ axes for h in acts], labels


def animate_hidden(monitor, path=None, fps=4, dims=2, title=None, dpi=80, hold_seconds=1.5, elev=20, azim=-60, *,
                   ax=None):
    """The animation of the last hidden layer's activations, one frame per recorded epoch.

    Every sample is a dot coloured by its label. 1 unit: the activation on the x axis (the y axis
    only spreads the dots); 2 units: a plane; 3 units: a 3-D scatter; more: a projection fixed across
    frames (:func:`project_frames`). The axis limits are fixed too. The last frame is held for
    ``hold_seconds``.

    Returns the Figure, showing the last frame. With ``path``, the GIF is written there (atomically,
    matplotlib's Pillow writer); without, ``fig.animation()`` makes a matplotlib ``FuncAnimation`` of it (in a
    notebook: ``IPython.display.HTML(fig.animation().to_jshtml())``). ``ax``: draw on the caller's axes (a
    3-D one, ``projection="3d"``, when 3 units are drawn).
    """
    from matplotlib.animation import FuncAnimation, PillowWriter

    if not monitor.frames:
        raise ValueError("no frames were recorded: make the TrainingMonitor with frames=True")
    epochs = [f[0] for f in monitor.frames]
    coords, axis_labels = project_frames([f[3] for f in monitor.frames], dims=dims)
    labels, names = monitor.frame_labels, monitor.class_names
    n_units = monitor.frames[0][3].shape[1]
    d = coords[0].shape[1]
    if d == 1:  # spread the dots vertically by label (plus jitter) so the classes can be seen
        jitter = np.random.default_rng(0).uniform(-0.3, 0.3, size=len(labels)) + labels
        coords = [np.c_[c, jitter] for c in coords]
        axis_labels = axis_labels + ["label (+ jitter)"]
    allc = np.vstack(coords)
    lo, hi = allc.min(axis=0), allc.max(axis=0)
    pad = 0.05 * (hi - lo) + 1e-6
    lo, hi = lo - pad, hi + pad
    three_d = coords[0].shape[1] == 3
    if ax is None:
        fig = _figure((7.2, 5.6), layout=None)  # one fixed layout for every frame (and half the drawing time)
        fig.subplots_adjust(left=0.0 if three_d else 0.1, right=0.84, bottom=0.1, top=0.88)
        ax, own = (fig.add_subplot(projection="3d") if three_d else fig.add_subplot()), True
    else:
        fig, (ax,), own = _panels(ax, 1, None)
        if three_d != (ax.name == "3d"):
            want = "a 3-D Axes (fig.add_subplot(projection='3d'))" if three_d else "a 2-D Axes"
            raise ValueError(f"ax must be {want} to draw {coords[0].shape[1]} coordinates; got a {ax.name!r} one")
    # one line of markers per class, created once; each frame only moves the markers
    artists = []
    for k in np.unique(labels):
        m = labels == k
        label = names[k] if k < len(names) else f"class {k}"
        (line,) = ax.plot(*[coords[0][m, j] for j in range(coords[0].shape[1])], ls="", marker="o", ms=3,
                          alpha=0.7, color=_color(k), label=label)
        artists.append((m, line))
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel(axis_labels[0], fontsize="small")
    ax.set_ylabel(axis_labels[1], fontsize="small")
    if three_d:
        ax.set_zlim(lo[2], hi[2])
        ax.set_zlabel(axis_labels[2], fontsize="small")
        ax.view_init(elev=elev, azim=azim)
    else:
        ax.grid(True, alpha=0.3)
    if own:
        fig.legend(loc="center right", fontsize="small", markerscale=1.5, title="label")
    else:
        ax.legend(fontsize="small", markerscale=1.5, title="label")
    heading = title or f"Last hidden layer ({n_units} units) of {monitor.sizes}"
    order = list(range(len(coords))) + [len(coords) - 1] * max(0, int(round(hold_seconds * fps)))

    def draw(i):
        c = coords[i]
        for m, line in artists:
            if three_d:
                line.set_data_3d(c[m, 0], c[m, 1], c[m, 2])
            else:
                line.set_data(c[m, 0], c[m, 1])
        _, cost, acc, _ = monitor.frames[i]
        stats = f"epoch {epochs[i]} · train cost {cost:.4g}"
        if acc is not None:
            stats += f" · train accuracy {acc:.1%}"
        ax.set_title(f"{heading}\n{stats}", fontsize="medium")
        return [line for _, line in artists]

    if path is None:
        draw(order[-1])
        # made on request: an animation that is never rendered warns when it is collected
        fig.animation = lambda: FuncAnimation(fig, draw, frames=order, interval=1000 / fps, blit=False, repeat=True)
        return fig
    writer = PillowWriter(fps=fps)
    with _atomic(os.fspath(path)) as tmp, writer.saving(fig, tmp, dpi=dpi):
        for i in order:
            draw(i)
            writer.grab_frame()
    return fig


# -- everything for a run -------------------------------------------------------------------------
def write_run_figures(out_dir, net, monitor, X_train, Y_train, X_test=None, Y_test=None, *, animate=False,
                      fps=4, dataset=None, on_written=None):
    """cost.png, grad_norms.png, decision_regions.png (2-D inputs) and hidden.gif (``animate``) in out_dir.

    Each file is written whole or not at all (a temporary file renamed into place), and
    ``on_written(path)``, when given, is called after each. Returns the list of paths written.
    Raises ImportError (with the install command) without matplotlib.
    """
    require_matplotlib()
    name = f" on {dataset}" if dataset else ""
    path = lambda name: os.path.join(out_dir, name)
    jobs = [
        ("cost.png", lambda: plot_costs(monitor, path("cost.png"), title=f"{net.sizes}, {net.activation}/"
                                        f"{net.output_activation}, {net.loss}{name}")),
        ("grad_norms.png", lambda: plot_grad_norms(monitor, path("grad_norms.png"),
                                                   title=f"Gradient norm per layer — {net.sizes}{name}")),
    ]
    if net.sizes[0] == 2:
        jobs.append(("decision_regions.png", lambda: plot_decision_regions(
            net, X_train, Y_train, path("decision_regions.png"), X_test, Y_test)))
    if animate:
        jobs.append(("hidden.gif", lambda: animate_hidden(monitor, path("hidden.gif"), fps=fps)))
    written = []
    for file, job in jobs:
        job()  # draws the figure and writes it (atomically) to its path
        written.append(path(file))
        if on_written is not None:
            on_written(written[-1])
    return written
