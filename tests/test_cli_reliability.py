"""The CLI's checkpoints (--out writes one, --resume continues one exactly), usage errors (exit 2)
and unwritable outputs (a clear error before any training, exit 1)."""

import json
import os
import re

import numpy as np
import pytest

import portable_bp as pbp
from portable_bp import checkpoint, cli


def train(*args):
    return cli.main(["train", "--quiet", "--epochs", "2", *map(str, args)])


def params_bytes(path):
    ws, bs = pbp.load(path).params_numpy()
    return [p.tobytes() for p in ws + bs if p is not None]


def test_out_holds_a_checkpoint(tmp_path):
    assert train("--out", tmp_path, "--dataset", "moons", "--dtype", "float32") == 0
    net = pbp.load(tmp_path / "weights.npz")
    assert net.dtype_name == "float32" and net.sizes == [2, 8, 8, 1] and net.loss == "cross_entropy"
    meta = checkpoint.read_metadata(tmp_path / "weights.npz")["user"]
    assert meta["dataset"] == "moons" and meta["epochs_done"] == 2 and len(meta["history"]["cost"]) == 2
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    X_tr, y_tr, _, _ = cli.load_dataset("moons", 0)
    assert net.cost(X_tr, y_tr) == metrics["train_cost"]  # the saved network is the trained one


def test_resume_equals_uninterrupted_training(tmp_path):
    """2 epochs + resume 3 epochs == 5 epochs straight, bit for bit (the shuffling continues too)."""
    straight, first, second = tmp_path / "straight", tmp_path / "first", tmp_path / "second"
    assert cli.main(["train", "--quiet", "--epochs", "5", "--seed", "3", "--out", str(straight)]) == 0
    assert cli.main(["train", "--quiet", "--epochs", "2", "--seed", "3", "--out", str(first)]) == 0
    assert cli.main(["train", "--quiet", "--epochs", "3", "--resume", str(first), "--out", str(second)]) == 0
    assert params_bytes(second / "weights.npz") == params_bytes(straight / "weights.npz")
    a = json.loads((straight / "metrics.json").read_text())
    b = json.loads((second / "metrics.json").read_text())
    assert b["history"] == a["history"] and b["epochs_done"] == 5 and b["seed"] == 3
    assert b["resumed_from"] == str(first / "weights.npz")


def test_resume_in_place_on_another_backend(tmp_path, other_backends):
    assert train("--out", tmp_path) == 0
    for name in other_backends:
        assert train("--resume", tmp_path / "weights.npz", "--backend", name, "--out", tmp_path) == 0
    assert checkpoint.read_metadata(tmp_path / "weights.npz")["user"]["epochs_done"] == 2 * (1 + len(other_backends))
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".") or f.endswith(".tmp")]  # no temporary files


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--resume", "does/not/exist.npz"], "no checkpoint at"),
        (["--resume", "RUN", "--layers", "2,3,1"], "architecture from the checkpoint"),
        (["--resume", "RUN", "--loss", "mse"], "architecture from the checkpoint"),
        (["--seed", "-2"], "non-negative"),
        (["--backend", "tensorflow"], "unknown backend 'tensorflow'"),
        (["--lr", "nan"], "positive float"),
        (["--batch-size", "2.5"], "positive int"),
        (["--dtype", "float16"], "invalid choice"),
    ],
)
def test_usage_mistakes_exit_2(argv, match, tmp_path, capsys):
    assert train("--out", tmp_path / "RUN") == 0
    capsys.readouterr()
    argv = [str(tmp_path / "RUN") if a == "RUN" else a for a in argv]
    with pytest.raises(SystemExit) as exc:
        train("--out", tmp_path / "x", *argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and re.search(match, err), err


def test_check_rejects_unknown_backend(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["check", "--backends", "numpy,nope"])
    assert exc.value.code == 2 and "unknown backend 'nope'" in capsys.readouterr().err


def test_unwritable_out_fails_before_training(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    calls = []
    monkeypatch.setattr(pbp.MLP, "fit", lambda *a, **k: calls.append(1))
    assert train("--out", blocker / "run") == 1
    assert train("--out", blocker) == 1
    err = capsys.readouterr().err
    assert "is not a writable directory" in err and str(blocker) in err
    assert calls == []  # failed before any training


def test_bad_checkpoint_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "weights.npz"
    np.savez(bad, W1=np.ones((2, 2)))
    assert train("--resume", bad, "--out", tmp_path / "o") == 1
    err = capsys.readouterr().err
    assert "not a readable portable_bp checkpoint" in err and str(bad) in err


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_is_reported_and_exits_1(tmp_path, capsys):
    code = cli.main(["train", "--quiet", "--epochs", "3", "--dataset", "toy1d", "--activation", "relu",
                     "--output-activation", "identity", "--loss", "mse", "--lr", "1e200", "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "epoch 1, batch" in err and "smaller learning rate" in err


def test_check_with_chosen_backends(capsys):
    assert cli.main(["check", "--backends", "numpy,strict"]) == 0
    out = capsys.readouterr().out
    assert "array_api_strict" in out and "DISAGREES" not in out


def _interrupt_in_epoch(monkeypatch, epoch, after_batches):
    """Make training raise KeyboardInterrupt (as Ctrl-C does) in ``epoch`` (0-based) after some groups of
    batches (an epoch's full batches are one group: one compiled call on JAX)."""
    real, calls = pbp.train.Arrays.groups, []

    def groups(self, *args, **kwargs):
        calls.append(None)
        for i, group in enumerate(real(self, *args, **kwargs)):
            if len(calls) == epoch + 1 and i == after_batches:
                raise KeyboardInterrupt
            yield group

    monkeypatch.setattr(pbp.train.Arrays, "groups", groups)


def test_ctrl_c_saves_the_last_completed_epoch_and_resume_finishes_exactly(tmp_path, monkeypatch, capsys):
    straight, run = tmp_path / "straight", tmp_path / "run"
    assert cli.main(["train", "--quiet", "--epochs", "5", "--seed", "3", "--out", str(straight)]) == 0
    _interrupt_in_epoch(monkeypatch, epoch=3, after_batches=0)  # Ctrl-C in the 4th epoch
    assert cli.main(["train", "--quiet", "--epochs", "5", "--seed", "3", "--out", str(run)]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err  # one line
    assert "after epoch 3 of 5: saved that network to" in err and "--epochs 2" in err, err
    assert not (run / "weights.npz").exists()  # an interrupted run never writes weights.npz
    meta = checkpoint.read_metadata(run / "interrupted.npz")["user"]
    assert meta["interrupted"] is True and meta["epochs_done"] == 3 and len(meta["history"]["cost"]) == 3
    monkeypatch.undo()
    resume = err.split("to finish the run:")[1].split()[2:]  # the printed command, after "portable-bp train"
    assert resume[:2] == ["--resume", str(run / "interrupted.npz")]
    assert cli.main(["train", "--quiet", *resume]) == 0  # --out defaults to the checkpoint's directory
    assert params_bytes(run / "weights.npz") == params_bytes(straight / "weights.npz")
    a = json.loads((straight / "metrics.json").read_text())
    b = json.loads((run / "metrics.json").read_text())
    assert b["history"] == a["history"] and b["epochs_done"] == 5
    assert b["monitor"]["epochs"] == [3, 4, 5]  # the epochs continue the checkpoint's


def test_ctrl_c_in_the_first_epoch_keeps_an_earlier_checkpoint(tmp_path, monkeypatch, capsys):
    assert train("--out", tmp_path) == 0
    before = (tmp_path / "weights.npz").read_bytes()
    _interrupt_in_epoch(monkeypatch, epoch=0, after_batches=0)
    assert train("--out", tmp_path) == 130
    err = capsys.readouterr().err
    assert "before the first epoch ended" in err and "is as it was" in err, err
    assert (tmp_path / "weights.npz").read_bytes() == before


def test_ctrl_c_after_epochs_never_overwrites_an_earlier_checkpoint(tmp_path, monkeypatch, capsys):
    """An earlier run's weights.npz (and metrics.json) stay; the interrupted run's epochs go beside them."""
    assert train("--out", tmp_path) == 0
    before = {name: (tmp_path / name).read_bytes() for name in ("weights.npz", "metrics.json")}
    _interrupt_in_epoch(monkeypatch, epoch=1, after_batches=0)
    assert cli.main(["train", "--quiet", "--epochs", "4", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert "after epoch 1 of 4" in err and "the earlier weights.npz beside it is untouched" in err, err
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert checkpoint.read_metadata(tmp_path / "interrupted.npz")["user"]["epochs_done"] == 1
