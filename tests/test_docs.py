"""Every ```python block of README.md and docs/*.md runs when pasted as it is.

Each block runs on its own, in a fresh namespace and a fresh temporary working directory (a new user
pastes one block, not the page), with matplotlib's non-interactive Agg backend. A block is skipped
only for something that cannot be had on this machine, and the skip says what: a backend or package
that is not installed here (the block names it: ``backend="torch"``, ``import dask``), or several
hosts (``jax.distributed.initialize()``).
"""

import ast
import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

from portable_bp import _backend

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)

#: blocks that need what no test machine here has: (text in the block, why it is skipped)
NEEDS_ELSEWHERE = [
    ("jax.distributed.initialize()", "needs several hosts (a jax.distributed cluster); none is available here"),
]

def python_blocks():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2  # the block's first line of code
            code = match.group(1)
            name = f"{page.relative_to(ROOT)}:{line}"
            yield pytest.param(name, code, id=name)


def missing_requirement(code):
    """Why this block cannot run here, or None: a backend it asks for, or a module it imports, is missing."""
    for text, why in NEEDS_ELSEWHERE:
        if text in code:
            return why
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "backend" and isinstance(node.value, ast.Constant):
            reason = _backend.unavailable_reason(node.value.value)
            if reason is not None:
                return f"backend {node.value.value!r} is not available here: {reason}"
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module]
        for module in modules:
            top = module.split(".")[0]
            if importlib.util.find_spec(top) is None:
                return f"needs {top}, which is not installed here"
    return None


def test_the_pages_have_python_blocks():
    names = [p.values[0] for p in python_blocks()]
    assert any(n.startswith("README.md") for n in names)
    assert len(names) >= 6, names


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name, code", list(python_blocks()))
def test_python_block_runs_as_pasted(name, code, tmp_path, monkeypatch):
    why = missing_requirement(code)
    if why is not None:
        pytest.skip(why)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("PORTABLE_BP_BACKEND", raising=False)
    if importlib.util.find_spec("matplotlib"):
        import matplotlib

        matplotlib.use("Agg")
    namespace = {"__name__": "__main__"}
    try:
        exec(compile(code, name, "exec"), namespace)
    finally:
        if "matplotlib.pyplot" in sys.modules:
            import matplotlib.pyplot as plt

            plt.close("all")
    assert os.getcwd() == str(tmp_path)
