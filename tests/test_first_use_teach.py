"""A newcomer's first hour (issue 20, item 6): ``python -m portable_bp``, no empty ``runs/latest/`` after a
failed run, a resumed run's progress and metrics.json counting every epoch, examples that leave the
committed results alone, and pytest's skips summed up by reason."""

import json
import os
import subprocess
import sys

import portable_bp as pbp
from portable_bp import cli, datasets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.dirname(os.path.dirname(os.path.abspath(pbp.__file__)))


def env():
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_python_dash_m_portable_bp_is_the_command():
    proc = subprocess.run([sys.executable, "-m", "portable_bp", "train", "--help"], capture_output=True, text=True,
                          timeout=120, env=env())
    assert proc.returncode == 0, proc.stderr
    assert "usage: portable-bp train" in proc.stdout and "--recipe" in proc.stdout


def test_a_failed_run_leaves_no_empty_out_directory(tmp_path, monkeypatch, capsys):
    def no_sklearn(*_args, **_kwargs):
        raise ImportError('the digits data set ships with scikit-learn: pip install "portable_bp[sklearn]"')

    monkeypatch.setattr(datasets, "digits", no_sklearn)
    out = tmp_path / "runs" / "latest"
    assert cli.main(["train", "--quiet", "--recipe", "network_py", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert 'pip install "portable_bp[sklearn]"' in err, err
    assert not (tmp_path / "runs").exists()  # neither latest/ nor the runs/ it had created
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    assert cli.main(["train", "--quiet", "--recipe", "network_py", "--out", str(keep)]) == 1
    assert (keep / "notes.txt").read_text() == "mine"  # a directory that was there stays, with its files


def test_resumed_progress_and_metrics_count_every_epoch(tmp_path, capsys):
    assert cli.main(["train", "--epochs", "3", "--out", str(tmp_path)]) == 0
    first = capsys.readouterr().err
    assert "fit [numpy]: epoch 3/3:" in first, first  # stderr is not a terminal here: one line per epoch
    assert cli.main(["train", "--resume", str(tmp_path), "--epochs", "2"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fit [")]
    assert [line.split(":")[1].strip() for line in lines] == ["epoch 4/5", "epoch 5/5"], lines
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["epochs"] == m["epochs_done"] == len(m["history"]["cost"]) == 5
    assert m["epochs_this_run"] == 2


def test_optimizer_recipes_writes_under_runs_by_default():
    import importlib.util

    spec = importlib.util.spec_from_file_location("optimizer_recipes", os.path.join(ROOT, "examples",
                                                                                    "optimizer_recipes.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert not os.path.isabs(module.DEFAULT_OUT) and module.DEFAULT_OUT.split(os.sep)[0] == "runs"
    assert "results" not in module.DEFAULT_OUT


SKIPPING = """
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_skipped(i):
    pytest.skip("backend 'torch' unavailable here: {what}")

def test_fails():
    assert 1 == 2
"""


def test_skips_are_summed_up_one_line_per_reason(tmp_path):
    (tmp_path / "conftest.py").write_text(f"import sys\nsys.path.insert(0, {os.path.join(ROOT, 'tests')!r})\n"
                                          "from skip_summary import summarize_skips as pytest_terminal_summary\n")
    (tmp_path / "test_a.py").write_text(SKIPPING.format(n=4, what="No module named 'torch'"))
    (tmp_path / "test_b.py").write_text(SKIPPING.format(n=3, what="No module named 'torch'"))
    (tmp_path / "test_c.py").write_text(SKIPPING.format(n=2, what="no GPU"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-rfE", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "    7 skipped: backend 'torch' unavailable here: No module named 'torch'" in out, out
    assert "    2 skipped: backend 'torch' unavailable here: no GPU" in out, out
    assert "9 skipped, by reason" in out
    assert out.count("FAILED") == 3, out  # the failures are still listed one by one (-rfE)
    assert "SKIPPED [" not in out  # and the skips are not
