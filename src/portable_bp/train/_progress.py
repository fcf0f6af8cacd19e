"""Where :class:`~portable_bp.train.callbacks.ProgressBar` draws, and how.

Four displays, chosen when training begins:

* ``"widget"`` — inside a Jupyter kernel, writing to the cell's own output, with ipywidgets
  installed: tqdm's notebook widget (``tqdm.notebook``), one bar that updates in place;
* ``"display"`` — the same without ipywidgets: ONE text output (an IPython display with a
  ``display_id``) rewritten in place with tqdm's text bar, instead of a line per epoch;
* ``"tty"`` — a terminal: tqdm's text bar redrawn with carriage returns (``tqdm.std``);
* ``"lines"`` — anything else (a log file, CI, a pipe, a file given in a notebook): one line per epoch.

The kernel is recognised as ``tqdm.autonotebook`` does, without importing IPython when it is not
already loaded: ``get_ipython()`` exists and its config holds ``IPKernelApp`` (Jupyter's kernel
application; the terminal ``ipython`` has none). Qt console and Spyder kernels, which draw neither
widgets nor updated displays reliably, get the lines.
"""

from __future__ import annotations

import os
import sys
import time


def in_jupyter_kernel():
    """True inside a Jupyter kernel (notebook, JupyterLab, VS Code, Colab), False in a terminal or
    a plain ``ipython``."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
        config = getattr(shell, "config", None) or {}
        if shell is None or "IPKernelApp" not in config:
            return False
    except Exception:  # a broken or foreign IPython: not a kernel we know how to draw in
        return False
    if any(k == "QT_API" or k.startswith("SPYDER") for k in os.environ):
        return False
    name = type(shell).__name__.lower()
    return "qt" not in name and "spyder" not in name


def have_widgets():
    """True when tqdm's notebook widget can be made (ipywidgets imports)."""
    try:
        import ipywidgets  # noqa: F401
        from tqdm.notebook import IProgress
    except ImportError:
        return False
    return IProgress is not None


def _is_cell_output(out, file):
    """The stream is the kernel's own stdout/stderr (``file`` not given, or given as one of them)."""
    if file is None or out is sys.stdout or out is sys.stderr:
        return True
    kind = type(out)
    return kind.__module__.startswith("ipykernel") and kind.__name__ == "OutStream"


def choose(out, file):
    """``"widget"``, ``"display"``, ``"tty"`` or ``"lines"`` for the stream ``out`` (``file`` as given)."""
    if in_jupyter_kernel() and _is_cell_output(out, file):
        return "widget" if have_widgets() else "display"
    try:
        tty = bool(out.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        tty = False
    return "tty" if tty else "lines"


class _Discard:
    """A stream that drops what tqdm writes (the display bar renders its text itself)."""

    encoding = "utf-8"

    def write(self, text):
        return len(text)

    def flush(self):
        pass


class DisplayLine:
    """tqdm's text bar as ONE notebook output, replaced in place (``IPython.display`` with a
    ``display_id``): at most every ``interval`` seconds, and always at the end."""

    def __init__(self, total, initial, desc, interval=0.1):
        from IPython.display import display
        from tqdm.std import tqdm

        self.bar = tqdm(total=total, initial=initial, desc=desc, unit="epoch", file=_Discard(), ascii=False,
                        leave=True, mininterval=0)
        self.interval, self.shown = interval, time.monotonic()
        self.handle = display({"text/plain": str(self.bar)}, raw=True, display_id=True)

    def set_postfix_str(self, text, refresh=False):
        self.bar.set_postfix_str(text, refresh=False)

    def update(self, n=1):
        self.bar.update(n)
        now = time.monotonic()
        if now - self.shown >= self.interval:
            self.show()

    def show(self):
        self.shown = time.monotonic()
        self.handle.update({"text/plain": str(self.bar)}, raw=True)

    def close(self):
        self.show()
        self.bar.close()


def make_bar(kind, out, total, initial, desc):
    """The bar for ``kind`` (None for ``"lines"``)."""
    if kind == "widget":
        from tqdm.notebook import tqdm

        return tqdm(total=total, initial=initial, desc=desc, unit="epoch", leave=True)
    if kind == "display":
        return DisplayLine(total, initial, desc)
    if kind == "tty":
        from tqdm.std import tqdm

        return tqdm(total=total, initial=initial, desc=desc, unit="epoch", leave=True, file=out)
    return None
