"""Every script in examples/ runs (briefly) and writes its outputs to the folder it is given."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("matplotlib")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

EXAMPLES = [  # script, extra arguments (kept short for CI), files it must write, text it must print
    ("toy1d_network.py", ["--epochs", "5"], ["toy1d.png"], "after"),
    ("circles_vs_network_py.py", ["--epochs", "3"], ["comparison.txt", "decision_regions.png"],
     "same weights as network.py: True"),
    ("gradient_checking.py", [], ["gradcheck.txt", "gradcheck_eps.png"], "caught"),
    ("hidden_animation.py", ["--epochs", "3"], ["hidden.gif", "cost.png", "grad_norms.png"], "test accuracy"),
    ("optimizer_recipes.py", ["--quick"], ["optimizer_recipes.md", "optimizer_recipes.json"], "| digits |"),
]


@pytest.mark.parametrize("script, extra, outputs, text", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_example_runs_and_writes_its_outputs(tmp_path, script, extra, outputs, text):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", script), str(out), *extra],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert text in proc.stdout
    for name in outputs:
        path = out / name
        assert path.is_file() and path.stat().st_size > 100, f"{script} did not write {name}"


def test_every_example_is_tested():
    scripts = sorted(f for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".py"))
    assert scripts == sorted(e[0] for e in EXAMPLES)
