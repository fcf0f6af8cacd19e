"""Every ```python block of README.md and docs/*.md runs when pasted as it is.

Each block runs on its own, in a fresh namespace and a fresh temporary working directory (a new user
pastes one block, not the page), with matplotlib's non-interactive Agg backend. A block is skipped
only for something that cannot be had on this machine, and the skip says what: a backend or package
that is not installed here (the block names it: ``backend="torch"``, ``import dask``), or several
hosts (``jax.distributed.initialize()``).
"""

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from portable_bp import _backend

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)

#: blocks that need what no test machine here has: (text in the block, why it is skipped)
NEEDS_ELSEWHERE = [
    ("jax.distributed.initialize()", "one process of a multi-process run: tests/test_multihost.py runs it as "
     "2 and 4 processes"),
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


def fresh_names(module="portable_bp"):
    """What ``import portable_bp`` alone provides, read in a new interpreter: in this one, other tests
    have imported submodules (``portable_bp.datasets``, ...), which then look like attributes."""
    out = subprocess.run([sys.executable, "-c", f"import json, {module}; print(json.dumps(dir({module})))"],
                         capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def unimported_submodules(code, fresh):
    """``pbp.X`` in ``code`` (pbp: what ``import portable_bp as ...`` names) where X is neither given by
    ``import portable_bp`` nor imported by the block itself: it works only if something else imported it."""
    tree = ast.parse(code)
    aliases, imported = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "portable_bp":
                    aliases.add(alias.asname or alias.name)
                elif alias.name.startswith("portable_bp."):
                    imported.add(alias.name.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "portable_bp":
                imported.update(alias.name for alias in node.names)
            elif node.module.startswith("portable_bp."):
                imported.add(node.module.split(".")[1])
    return sorted({node.attr for node in ast.walk(tree)
                   if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                   and node.value.id in aliases and node.attr not in fresh and node.attr not in imported})


def test_blocks_import_the_submodules_they_use():
    """A block that uses ``pbp.datasets`` must import it: ``import portable_bp`` alone does not (this
    process cannot show it by running the block, the submodule being imported here already)."""
    fresh = fresh_names()
    assert "MLP" in fresh and "optim" in fresh
    assert unimported_submodules("import portable_bp as pbp\npbp.datasets.circles()", fresh) == ["datasets"]
    bad = {p.values[0]: unimported_submodules(p.values[1], fresh) for p in python_blocks()}
    assert {name: attrs for name, attrs in bad.items() if attrs} == {}


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


# -- claims in the docs that a run can check -------------------------------------------------------
def test_estimator_check_counts_in_the_docs():
    """docs/sklearn.md's table of scikit-learn's estimator checks adds up to the checks parametrize_with_checks
    makes for each estimator (passed + expected to fail + skipped, without SCIPY_ARRAY_API)."""
    sklearn = pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import parametrize_with_checks

    from portable_bp.sklearn import MLPClassifier, MLPRegressor

    text = (ROOT / "docs" / "sklearn.md").read_text(encoding="utf-8")
    version = re.search(r"With\s+scikit-learn ([\d.]+):", text).group(1)
    if sklearn.__version__ != version:
        pytest.skip(f"the docs count the checks of scikit-learn {version}; {sklearn.__version__} is installed")
    table = {}
    for line in text.splitlines():
        m = re.match(r"\| `(MLP\w+)\((.*?)\)` \| (\d+) \(.*?\) \| (\d+) \| (\d+) \(\d+\) \|", line)
        if m:
            table[(m.group(1), m.group(2))] = sum(int(m.group(k)) for k in (3, 4, 5))
    estimators = {("MLPClassifier", ""): MLPClassifier(backend="numpy"),
                  ("MLPClassifier", 'solver="lbfgs"'): MLPClassifier(backend="numpy", solver="lbfgs"),
                  ("MLPRegressor", ""): MLPRegressor(backend="numpy"),
                  ("MLPRegressor", 'solver="lbfgs"'): MLPRegressor(backend="numpy", solver="lbfgs")}
    assert set(table) == set(estimators), "docs/sklearn.md no longer has the table of estimator-check counts"
    for key, estimator in estimators.items():
        mark = parametrize_with_checks([estimator])
        n = len(mark.args[1])
        assert n == table[key], f"{key}: the docs count {table[key]} checks, parametrize_with_checks makes {n}"


def run_example(script, *args, env=None):
    return subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MPLBACKEND": "Agg", **(env or {})})


def test_gradient_checking_example_says_what_it_prints(tmp_path):
    """The docstring names the ε of the smallest error that the sweep prints (it once claimed 1e-7)."""
    proc = run_example("gradient_checking.py", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = re.search(r"smallest error (\S+) at ε = (\S+);", proc.stdout)
    assert found, proc.stdout
    error, eps = float(found.group(1)), float(found.group(2))
    mantissa, exponent = f"{eps:.0e}".split("e")
    text = (ROOT / "examples" / "gradient_checking.py").read_text(encoding="utf-8")
    doc = " ".join(ast.get_docstring(ast.parse(text)).split())
    assert f"near ε ≈ {mantissa}e{int(exponent)}" in doc, (eps, doc)
    assert error < 1e-9 < 1e-7  # the notebook's ε passes, the minimum is far below it
    assert "why 1e-7 is a good choice" not in doc


def test_hidden_animation_without_matplotlib_prints_the_install_line(tmp_path):
    hide = tmp_path / "hide"
    (hide / "matplotlib").mkdir(parents=True)
    (hide / "matplotlib" / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    path = os.pathsep.join([str(hide), os.environ.get("PYTHONPATH", ""), *sys.path])
    proc = run_example("hidden_animation.py", str(tmp_path / "out"), env={"PYTHONPATH": path})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pip install "portable_bp[plots]"' in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()
