"""``portable-bp train --clip-norm C --warmup N``: the run equals fit with the chain and schedule the
flags describe (built here from the public API), the checkpoint keeps them, and bad values are clear."""

import json

import numpy as np
import pytest

import portable_bp as pbp
from helpers import params_bits
from portable_bp import cli, optim
from portable_bp.optim import schedules


def direct(X, Y, opt, epochs, batch_size):
    net = pbp.MLP([2, 8, 8, 1], activation="sigmoid", output_activation="sigmoid", loss="cross_entropy", seed=0)
    net.fit(X, Y, epochs=epochs, batch_size=batch_size, optimizer=opt, seed=np.random.default_rng(0), progress=False)
    return net


@pytest.mark.parametrize("schedule", [None, "cosine", "step_decay"])
def test_clip_norm_and_warmup_are_the_chain_they_describe(tmp_path, schedule):
    out = tmp_path / "run"
    argv = ["train", "--dataset", "moons", "--epochs", "2", "--batch-size", "50", "--optimizer", "adam", "--lr",
            "0.02", "--clip-norm", "0.3", "--warmup", "7", "--out", str(out), "--quiet"]
    assert cli.main(argv + ([] if schedule is None else ["--schedule", schedule])) == 0
    X, Y, _, _ = cli.load_dataset("moons", 0)
    steps = 2 * 15  # 750 samples in batches of 50
    ramp = schedules.warmup_cosine(0.02, warmup_steps=7, decay_steps=8, end=0.02)
    lr = {None: ramp, "cosine": schedules.warmup_cosine(0.02, warmup_steps=7, decay_steps=steps),
          "step_decay": schedules.join([ramp, schedules.step_decay(0.02, drop=0.5, every=150)], [7])}[schedule]
    opt = optim.chain(optim.clip_by_global_norm(0.3), optim.adam(lr))
    want = direct(X, Y, opt, 2, 50)
    got = pbp.load(out / "weights.npz")
    assert got.optimizer.config() == opt.config()
    assert params_bits(got) == params_bits(want)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["optimizer"] == opt.config() and metrics["lr"] == lr.config()
    assert lr(0) == 0.0 and lr(7) == pytest.approx(0.02) and lr(3) == pytest.approx(0.02 * 3 / 7)


def test_resume_with_clip_norm_starts_a_new_clipped_optimizer(tmp_path):
    out = tmp_path / "run"
    base = ["train", "--dataset", "moons", "--batch-size", "50", "--quiet"]
    assert cli.main(base + ["--epochs", "1", "--out", str(out)]) == 0
    assert cli.main(base + ["--epochs", "1", "--resume", str(out), "--clip-norm", "1.0"]) == 0
    cfg = pbp.load(out / "weights.npz").optimizer.config()
    assert cfg["name"] == "chain" and cfg["links"] == [{"name": "clip_by_global_norm", "max_norm": 1.0}]


@pytest.mark.parametrize("flags, code, message", [
    (["--clip-norm", "0"], 2, "positive"),
    (["--warmup", "-3"], 2, "positive"),
    (["--warmup", "1.5"], 2, "positive"),
    (["--warmup", "30", "--schedule", "cosine"], 1, "--warmup 30"),
])
def test_bad_values(tmp_path, capsys, flags, code, message):
    argv = ["train", "--dataset", "moons", "--epochs", "2", "--batch-size", "50", "--quiet", "--out", str(tmp_path)]
    if code == 2:
        with pytest.raises(SystemExit) as exc:
            cli.main(argv + flags)
        assert exc.value.code == 2
    else:
        assert cli.main(argv + flags) == 1
    assert message in capsys.readouterr().err
