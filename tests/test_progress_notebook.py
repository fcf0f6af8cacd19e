"""fit(progress=True) in a Jupyter notebook (issue 20, item 3): ONE output that updates — tqdm's widget
with ipywidgets, one text line rewritten in place without — not a line per epoch; a terminal keeps
tqdm's bar and a log file one line per epoch. The notebook tests run a real kernel (nbclient +
ipykernel, kernel "python3") on a notebook made here with nbformat."""

import io
import os

import numpy as np
import pytest

import portable_bp as pbp
from portable_bp import datasets
from portable_bp.train import ProgressBar, _progress

SRC = os.path.dirname(os.path.dirname(os.path.abspath(pbp.__file__)))
EPOCHS = 60


def small_fit(**kwargs):
    X, y = datasets.circles(n=40, seed=0)
    net = pbp.MLP([2, 3, 1], loss="cross_entropy", seed=0)
    return net.fit(X, y, epochs=5, batch_size=10, lr=0.5, seed=0, **kwargs)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_tqdms_bar_and_a_log_file_one_line_per_epoch(monkeypatch):
    tty = Terminal()
    small_fit(progress=False, callbacks=[ProgressBar("fit [numpy]", file=tty)])
    text = tty.getvalue()
    assert "\r" in text and "5/5" in text and "cost=" in text and "\n" not in text.rstrip("\n")
    log = io.StringIO()
    small_fit(progress=False, callbacks=[ProgressBar("fit [numpy]", file=log, initial=3)])
    lines = log.getvalue().splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [f"epoch {k}/8" for k in range(4, 9)]
    assert all("cost=" in line and "accuracy=" in line for line in lines) and "\r" not in log.getvalue()


def test_initial_is_checked():
    with pytest.raises(ValueError, match="initial"):
        ProgressBar(initial=-1)
    with pytest.raises(TypeError, match="initial"):
        ProgressBar(initial=2.5)


def test_kernel_detection_needs_an_ipkernelapp_config(monkeypatch):
    import sys
    import types

    assert not _progress.in_jupyter_kernel()  # pytest is no kernel, whether IPython is loaded or not

    class Shell:
        def __init__(self, config):
            self.config = config

    fake = types.ModuleType("IPython")
    monkeypatch.setitem(sys.modules, "IPython", fake)
    fake.get_ipython = lambda: Shell({"TerminalIPythonApp": {}})  # the terminal ipython
    assert not _progress.in_jupyter_kernel()
    fake.get_ipython = lambda: Shell({"IPKernelApp": {"connection_file": "x.json"}})
    assert _progress.in_jupyter_kernel()
    assert _progress.choose(sys.stderr, None) in ("widget", "display")
    assert _progress.choose(io.StringIO(), io.StringIO()) == "lines"  # a log file given in a notebook
    fake.get_ipython = lambda: None
    assert not _progress.in_jupyter_kernel()


# -- a real kernel ----------------------------------------------------------------------------------------
def run_notebook(hide_ipywidgets):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    setup = f"import sys\nsys.path.insert(0, {SRC!r})\n"
    if hide_ipywidgets:  # as if it were not installed: every import of it fails inside the kernel
        setup += "sys.modules['ipywidgets'] = None\n"
    setup += "import portable_bp as pbp\nfrom portable_bp import datasets\nfrom portable_bp.train import _progress\n"
    fit = ("X, y = datasets.circles(n=40, seed=0)\n"
           "net = pbp.MLP([2, 3, 1], loss='cross_entropy', seed=0)\n"
           f"history = net.fit(X, y, epochs={EPOCHS}, batch_size=20, lr=0.5, seed=0)")
    check = "print(_progress.choose(sys.stderr, None), len(history['cost']))"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (setup, fit, check)])
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=120, store_widget_state=True)
    client.execute()
    return nb


def progress_outputs(cell):
    return [o for o in cell.outputs if o.output_type in ("stream", "display_data")]


@pytest.mark.notebook
def test_a_notebook_gets_one_widget_that_updates():
    pytest.importorskip("ipywidgets")
    nb = run_notebook(hide_ipywidgets=False)
    outputs = progress_outputs(nb.cells[1])
    assert len(outputs) == 1, outputs  # not 60 lines
    (out,) = outputs
    assert out.output_type == "display_data" and "application/vnd.jupyter.widget-view+json" in out.data
    assert nb.cells[2].outputs[0].text.split() == ["widget", str(EPOCHS)]
    # the widget's last state, as the kernel sent it: the bar at 60/60 with the metrics in its postfix
    states = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"].values()
    texts = " ".join(str(s["state"].get("value", "")) for s in states)
    assert f"{EPOCHS}/{EPOCHS}" in texts and "cost=" in texts and "accuracy=" in texts, texts
    assert any(s["state"].get("value") == EPOCHS for s in states)  # the FloatProgress at its end


@pytest.mark.notebook
def test_a_notebook_without_ipywidgets_gets_one_text_line_rewritten():
    nb = run_notebook(hide_ipywidgets=True)
    outputs = progress_outputs(nb.cells[1])
    assert len(outputs) == 1, outputs
    (out,) = outputs
    assert out.output_type == "display_data", out
    text = out.data["text/plain"]
    assert "\n" not in text.strip() and f"{EPOCHS}/{EPOCHS}" in text and "cost=" in text and "accuracy=" in text
    assert nb.cells[2].outputs[0].text.split() == ["display", str(EPOCHS)]
    cost = float(text.split("cost=")[1].split(",")[0])
    X, y = datasets.circles(n=40, seed=0)
    net = pbp.MLP([2, 3, 1], loss="cross_entropy", seed=0)
    history = net.fit(X, y, epochs=EPOCHS, batch_size=20, lr=0.5, seed=0, progress=False)
    np.testing.assert_allclose(cost, history["cost"][-1], rtol=1e-3)  # the last epoch's cost, 4 digits
