"""``train``'s figures in --out, and the removal of stale ones an earlier run left there."""

from __future__ import annotations

import contextlib
import os
import stat

from .. import plots

#: the figures ``train`` may write into --out (and the only files it removes: those this run did not draw)
FIGURES = ("cost.png", "grad_norms.png", "decision_regions.png", "hidden.gif")


def _write_figures(args, net, monitor, X_tr, Y_tr, X_te, Y_te, dataset, out, run, interrupts):
    """The figures beside metrics.json; without matplotlib, say how to get them and carry on."""
    if not plots.have_matplotlib():
        print(f"figures skipped: matplotlib is not installed. For cost.png, grad_norms.png, "
              f"decision_regions.png{' and hidden.gif' if args.animate else ''}: {plots.INSTALL_HINT}")
        return []

    def written(path):
        run.figures.append(path)
        interrupts.check()  # a Ctrl-C swallowed while drawing stops before the next figure

    paths = plots.write_run_figures(out, net, monitor, X_tr, Y_tr, X_te, Y_te, animate=args.animate,
                                    dataset=dataset, on_written=written)
    print("wrote " + ", ".join(paths))
    return paths


def _remove_stale_figures(out, written):
    """Remove the figures (only :data:`FIGURES`, only regular files) an earlier run left in ``out`` that
    this run did not draw: every figure in --out belongs to the weights.npz beside it."""
    drawn = {os.path.basename(p) for p in written}
    removed = []
    for name in FIGURES:
        path = os.path.join(out, name)
        try:
            regular = stat.S_ISREG(os.lstat(path).st_mode)
        except OSError:
            continue
        if name not in drawn and regular:
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed.append(name)
    if removed:
        print(f"removed {', '.join(removed)} from {out}: left by an earlier run, not drawn by this one")
    return removed
