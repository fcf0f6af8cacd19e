"""The ``portable-bp`` command: train writes its results, check compares every backend."""

import json

import pytest

from portable_bp import cli


def test_train_writes_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "--epochs", "30", "--out", str(out), "--quiet"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == "numpy" and metrics["dataset"] == "circles"
    assert len(metrics["history"]["cost"]) == 30
    assert metrics["history"]["cost"][-1] < metrics["history"]["cost"][0]
    assert metrics["test_accuracy"] >= 0.95
    assert "accuracy" in capsys.readouterr().out


def test_train_on_another_backend(backend, tmp_path):
    out = tmp_path / backend
    assert cli.main(["train", "--backend", backend, "--epochs", "2", "--dataset", "moons", "--dtype", "float32",
                     "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == backend and metrics["dtype"] == "float32"


def test_check_passes_and_prints_table(capsys):
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "DISAGREES" not in out and "float32" in out


@pytest.mark.parametrize("argv", [["train", "--epochs", "0"], ["train", "--layers", "2,x"],
                                  ["train", "--dataset", "imagenet"], ["frobnicate"], []])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_bad_backend_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:  # a usage mistake: argparse's exit code 2
        cli.main(["train", "--backend", "nope", "--epochs", "1", "--quiet", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "unknown backend 'nope'" in capsys.readouterr().err
