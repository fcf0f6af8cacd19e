"""The notebooks in notebooks/ (jupytext percent-format .py files) executed by a real Jupyter kernel.

Each notebook asserts its own numbers in its cells; a failing cell fails the test with the cell's
traceback. The backend is the notebook's one variable ``BACKEND``, read from
``PORTABLE_BP_NOTEBOOK_BACKEND`` (numpy here; ``nox -s notebooks`` runs every CPU backend).

The kernel is this interpreter (``sys.executable -m ipykernel_launcher``), through a kernel spec
written for the test: ipykernel's own "python3" spec runs whatever ``python`` is first on PATH,
which need not be this virtual environment's.
"""

import json
import os
import sys
from pathlib import Path

import pytest

from portable_bp import _backend

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
KERNEL = "portable-bp-test"

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def kernel_spec(tmp_path_factory):
    """A Jupyter data dir holding a kernel spec that runs this interpreter, first on JUPYTER_PATH."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("jupytext")
    data = tmp_path_factory.mktemp("jupyter")
    spec = data / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "portable_bp tests", "language": "python",
    }))
    return data


def notebook_backend():
    return os.environ.get("PORTABLE_BP_NOTEBOOK_BACKEND", "numpy")


def execute(path, kernel_spec, monkeypatch, timeout=300):
    import jupytext
    from nbclient import NotebookClient

    backend = notebook_backend()
    reason = _backend.unavailable_reason(backend)
    if reason is not None:
        pytest.skip(f"backend {backend!r} unavailable here: {reason}")
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join([str(kernel_spec), os.environ.get("JUPYTER_PATH", "")]))
    monkeypatch.setenv("PORTABLE_BP_NOTEBOOK_BACKEND", backend)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        # the notebooks' matrices are small: one BLAS thread is fastest for them, and keeps their time
        # steady on a loaded machine (on 2 busy cores, threaded OpenBLAS made one fit 19x slower: 11.8 s vs 0.63 s)
        if var not in os.environ:
            monkeypatch.setenv(var, "1")
    src = str(ROOT / "src")  # the kernel imports this checkout's portable_bp, as the tests do
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in [src, os.environ.get("PYTHONPATH", "")] if p))
    nb = jupytext.read(path)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=timeout, allow_errors=False,
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    return nb


def outputs(nb, mime):
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if mime == "stream" and out.get("output_type") == "stream":
                yield out["text"]
            elif mime in out.get("data", {}):
                yield out["data"][mime]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_its_numbers_hold(path, kernel_spec, monkeypatch):
    nb = execute(path, kernel_spec, monkeypatch)
    text = "".join(outputs(nb, "stream"))
    assert f"on {notebook_backend()}" in text  # the first cell's one BACKEND variable reached every cell
    html = "".join(outputs(nb, "text/html"))
    assert r"\begin{bmatrix}" in html  # a pbp.trace rendered as its LaTeX matrices
    assert "BP1" in html and "shape (" in html  # its equations and shapes (and the text, for a page without MathJax)


def test_notebooks_exist_and_choose_the_backend_in_their_first_code_cell():
    jupytext = pytest.importorskip("jupytext")

    assert len(NOTEBOOKS) >= 2
    for path in NOTEBOOKS:
        nb = jupytext.read(path)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert 'BACKEND = os.environ.get("PORTABLE_BP_NOTEBOOK_BACKEND", "numpy")' in first.source, path.name
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")  # stored without outputs
