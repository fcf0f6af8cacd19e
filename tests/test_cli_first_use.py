"""``portable-bp`` as a first-time user meets it (issue 14): Ctrl-C anywhere in ``train`` (exit 130, one
line, an earlier weights.npz never overwritten), ``--resume`` refusing bad metadata before training and
keeping the checkpoint's backend and directory, the figures of a resumed run, stale figures, toy1d's
held-out split, ``check``'s skipped backends, every option's help and default, and the bench figure."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import portable_bp as pbp
from portable_bp import _backend, checkpoint, cli, plots

needs_mpl = pytest.mark.skipif(not plots.have_matplotlib(), reason=f"matplotlib missing: {plots.INSTALL_HINT}")
SRC = os.path.dirname(os.path.dirname(os.path.abspath(pbp.__file__)))


def train(*args):
    return cli.main(["train", "--quiet", "--epochs", "2", *map(str, args)])


def one_line(err):
    """The command's whole stderr is one line, and no traceback."""
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, err
    return err


def files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def earlier_run(tmp_path):
    """An --out directory holding a finished run (weights.npz, metrics.json, figures)."""
    out = tmp_path / "run"
    assert train("--out", out) == 0
    return out


# -- Ctrl-C: one place, exit 130, one line, weights.npz never written by an interrupted run -----------
def interrupt(*_args, **_kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["dataset", "network", "monitor", "first_epoch"])
def test_ctrl_c_before_the_first_epoch_ends(where, earlier_run, monkeypatch, capsys):
    before = files(earlier_run)
    capsys.readouterr()
    if where == "dataset":
        monkeypatch.setattr(cli._train, "load_dataset", interrupt)  # where train looks it up
    elif where == "network":  # building the network (JAX compiles here)
        monkeypatch.setattr(cli._train, "MLP", interrupt)
    elif where == "monitor":  # the untrained network's cost and gradients, epoch 0 of the figures
        monkeypatch.setattr(plots.TrainingMonitor, "__init__", interrupt)
    else:
        monkeypatch.setattr(pbp.train.Arrays, "groups", interrupt)
    assert train("--out", earlier_run) == 130
    err = one_line(capsys.readouterr().err)
    assert "interrupted (Ctrl-C) before" in err and "weights.npz is as it was" in err, err
    assert files(earlier_run) == before


def test_ctrl_c_in_a_fresh_directory_before_any_epoch_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pbp.train.Arrays, "groups", interrupt)
    assert train("--out", tmp_path / "new") == 130
    assert "nothing was written" in one_line(capsys.readouterr().err)
    assert list((tmp_path / "new").iterdir()) == []


def test_an_interrupted_first_run_is_resumed_from_interrupted_npz(tmp_path, monkeypatch, capsys):
    real, calls = pbp.train.Arrays.groups, []

    def groups(self, *args, **kwargs):  # Ctrl-C in the second epoch
        calls.append(None)
        if len(calls) == 2:
            raise KeyboardInterrupt
        yield from real(self, *args, **kwargs)

    monkeypatch.setattr(pbp.train.Arrays, "groups", groups)
    assert cli.main(["train", "--quiet", "--epochs", "3", "--out", str(tmp_path)]) == 130
    err = one_line(capsys.readouterr().err)
    assert f"after epoch 1 of 3: saved that network to {tmp_path / 'interrupted.npz'};" in err, err
    assert sorted(os.listdir(tmp_path)) == ["interrupted.npz"]
    monkeypatch.undo()
    with pytest.raises(SystemExit):  # the directory has no weights.npz: the error points at interrupted.npz
        train("--resume", tmp_path)
    assert f"--resume {tmp_path / 'interrupted.npz'}" in capsys.readouterr().err
    assert train("--resume", tmp_path / "interrupted.npz") == 0
    assert checkpoint.read_metadata(tmp_path / "weights.npz")["user"]["epochs_done"] == 3


def test_metrics_json_keeps_its_permissions(earlier_run):
    (earlier_run / "metrics.json").chmod(0o600)
    assert train("--out", earlier_run) == 0
    assert (earlier_run / "metrics.json").stat().st_mode & 0o777 == 0o600


@needs_mpl
def test_ctrl_c_while_drawing_the_figures_says_the_results_are_saved(earlier_run, monkeypatch, capsys):
    """Training had finished, so weights.npz and metrics.json are this run's; the message says so and
    which figures were drawn; no half-written figure is left."""
    old = files(earlier_run)
    capsys.readouterr()
    monkeypatch.setattr(plots, "plot_grad_norms", interrupt)  # the second figure
    assert cli.main(["train", "--quiet", "--epochs", "3", "--out", str(earlier_run)]) == 130
    err = one_line(capsys.readouterr().err)
    assert "after training finished" in err and "hold this run's network (3 epochs)" in err, err
    assert "drew cost.png of the figures" in err, err
    now = files(earlier_run)
    assert checkpoint.read_metadata(earlier_run / "weights.npz")["user"]["epochs_done"] == 3
    assert json.loads(now["metrics.json"])["epochs"] == 3
    assert now["cost.png"] != old["cost.png"] and now["grad_norms.png"] == old["grad_norms.png"]
    assert not [name for name in os.listdir(earlier_run) if name.startswith(".")]  # no temporary files
    assert "interrupted.npz" not in now


def test_ctrl_c_while_saving_the_results_keeps_weights_npz_whole(earlier_run, monkeypatch, capsys):
    """A KeyboardInterrupt inside the save (raised there, as a test can; a real Ctrl-C is deferred until
    both files are written) leaves the earlier weights.npz whole; the epochs go to interrupted.npz."""
    before = (earlier_run / "weights.npz").read_bytes()
    real, calls = pbp.MLP.save, []

    def save(self, path, **kwargs):
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(self, path, **kwargs)

    monkeypatch.setattr(pbp.MLP, "save", save)
    capsys.readouterr()
    assert train("--out", earlier_run) == 130
    err = one_line(capsys.readouterr().err)
    assert "after epoch 2 of 2" in err and "to go on" in err, err
    assert (earlier_run / "weights.npz").read_bytes() == before
    assert checkpoint.read_metadata(earlier_run / "interrupted.npz")["user"]["epochs_done"] == 2


def swallowed_sigint():
    """A real SIGINT whose KeyboardInterrupt is swallowed, as an exception in JAX's garbage-collection
    callback is (printed as "Exception ignored", never raised)."""
    try:
        signal.raise_signal(signal.SIGINT)
        for _ in range(1000):  # the Python-level handler runs at the next bytecode boundary
            pass
    except KeyboardInterrupt:
        pass


def test_a_swallowed_ctrl_c_still_ends_the_run_without_writing_weights(earlier_run, monkeypatch, capsys):
    before = files(earlier_run)
    real = plots.TrainingMonitor.__call__

    def monitor(self, epoch, net, history):
        if epoch == 1:
            swallowed_sigint()
        return real(self, epoch, net, history)

    monkeypatch.setattr(plots.TrainingMonitor, "__call__", monitor)
    capsys.readouterr()
    assert cli.main(["train", "--quiet", "--epochs", "5", "--out", str(earlier_run)]) == 130
    err = one_line(capsys.readouterr().err)
    assert "after epoch 3 of 5" in err, err  # the epoch after the swallowed interrupt completes, then stops
    assert {k: v for k, v in files(earlier_run).items() if k != "interrupted.npz"} == before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back


@needs_mpl
def test_a_swallowed_ctrl_c_while_drawing_stops_before_the_next_figure(tmp_path, monkeypatch, capsys):
    real = plots.plot_costs

    def plot_costs(*args, **kwargs):
        swallowed_sigint()
        return real(*args, **kwargs)

    monkeypatch.setattr(plots, "plot_costs", plot_costs)
    assert train("--out", tmp_path) == 130
    assert "drew cost.png of the figures" in one_line(capsys.readouterr().err)
    assert sorted(os.listdir(tmp_path)) == ["cost.png", "metrics.json", "weights.npz"]


@pytest.mark.parametrize("name, delay", [("numpy", 0.0), ("numpy", 0.5), ("jax", 0.5)])
def test_a_real_ctrl_c_in_a_real_process_exits_130_with_one_line(name, delay, tmp_path):
    """SIGINT to ``portable-bp train`` as the terminal sends it: exit code 130 (never -2), one line on
    stderr, and an earlier weights.npz in --out untouched."""
    if _backend.unavailable_reason(name):
        pytest.skip(f"{name} is not available here")
    out = tmp_path / "run"
    assert train("--out", out, "--backend", name) == 0
    before = (out / "weights.npz").read_bytes()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    # the console script's code; SIGINT as from a terminal, even where this test runs with it ignored (nohup)
    script = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
              "from portable_bp.cli import main; sys.exit(main())")
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", script, "train", "--epochs", "1000000", "--quiet", "--backend", name,
         "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert first.startswith("training"), first
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    one_line(err)
    assert "interrupted (Ctrl-C)" in err
    assert (out / "weights.npz").read_bytes() == before


# -- --resume checks everything it uses before training -------------------------------------------
def edit_metadata(path, edit):
    """Rewrite a checkpoint's JSON metadata by hand, as a user with a text editor or another program might."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {name: f[name] for name in f.files}
    meta = json.loads(str(arrays[checkpoint.META_KEY][()]))
    edit(meta)
    arrays[checkpoint.META_KEY] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def set_user(**fields):
    return lambda meta: meta["user"].update(fields)


BAD_METADATA = {
    "rng_state_shape": (set_user(rng_state={"bit_generator": "PCG64", "state": {"state": [1, 2], "inc": 3},
                                            "has_uint32": 0, "uinteger": 0}), "'rng_state'"),
    "rng_state_list": (set_user(rng_state=[1, 2, 3]), "'rng_state'"),
    "rng_state_other_generator": (set_user(rng_state={"bit_generator": "MT19937", "state": {}}), "'rng_state'"),
    "epochs_done_string": (set_user(epochs_done="2"), "'epochs_done'"),
    "epochs_done_negative": (set_user(epochs_done=-1), "'epochs_done'"),
    "epochs_done_vs_history": (set_user(epochs_done=7), "'epochs_done'"),
    "history_list": (set_user(history=[0.5, 0.4]), "'history'"),
    "history_values": (set_user(history={"cost": "0.5, 0.4", "accuracy": [0.5, 0.6]}), r"'history'\['cost'\]"),
    "history_none": (set_user(history={"cost": [0.5, None], "accuracy": [0.5, 0.6]}), r"'history'\['cost'\]"),
    "history_ragged": (set_user(history={"cost": [0.5, 0.4], "accuracy": [0.5]}), "'history'"),
    "history_lacks_accuracy": (set_user(history={"cost": [0.5, 0.4]}), "'history'.*accuracy"),
    "dataset_unknown": (set_user(dataset="imagenet"), "'dataset'"),
    "dataset_number": (set_user(dataset=3), "'dataset'"),
    "seed_string": (set_user(seed="0"), "'seed'"),
    "interrupted_string": (set_user(interrupted="yes"), "'interrupted'"),
    "user_list": (lambda meta: meta.update(user=[1, 2]), "'user'"),
    "backend_unknown": (lambda meta: meta.update(backend="tensorflow"), "'backend'"),
}


@pytest.mark.parametrize("case", sorted(BAD_METADATA))
def test_resume_refuses_bad_metadata_before_training(case, earlier_run, monkeypatch, capsys):
    edit, field = BAD_METADATA[case]
    edit_metadata(earlier_run / "weights.npz", edit)
    calls = []
    monkeypatch.setattr(pbp.MLP, "fit", lambda *a, **k: calls.append(1))
    capsys.readouterr()
    assert train("--resume", earlier_run) == 1
    err = one_line(capsys.readouterr().err)
    # the fields load itself checks (the 'user' object) are refused by the checkpoint reader, the others by --resume
    assert re.search(f"(cannot resume from .*weights.npz|weights.npz is not a readable portable_bp checkpoint): "
                     f"its metadata field {field}", err), err
    assert calls == []  # refused before any training


def test_resume_refuses_another_dataset_than_the_checkpoints(earlier_run, monkeypatch, capsys):
    monkeypatch.setattr(pbp.MLP, "fit", lambda *a, **k: pytest.fail("trained"))
    assert train("--resume", earlier_run, "--dataset", "moons") == 1
    assert "its metadata field 'dataset' is 'circles' but --dataset is 'moons'" in capsys.readouterr().err


def test_resume_error_is_a_checkpoint_error():
    with pytest.raises(checkpoint.CheckpointError):
        raise cli._Resumed("x.npz").bad("'seed'", "is -1")


def test_resume_of_a_network_saved_without_metadata(tmp_path, capsys):
    """net.save from the API (no metadata): resumed from epoch 0, on --dataset (default circles); a network
    that does not fit the data set is refused before training."""
    pbp.MLP([2, 4, 1], loss="cross_entropy", seed=0).save(tmp_path / "api.npz")
    assert train("--resume", tmp_path / "api.npz", "--dataset", "moons") == 0
    meta = checkpoint.read_metadata(tmp_path / "weights.npz")["user"]
    assert meta["epochs_done"] == 2 and meta["dataset"] == "moons"
    pbp.MLP([3, 4, 1], loss="cross_entropy", seed=0).save(tmp_path / "three.npz")
    capsys.readouterr()
    assert train("--resume", tmp_path / "three.npz", "--out", tmp_path / "o") == 1
    assert "takes 3 inputs but the circles data set has 2 features" in capsys.readouterr().err


# -- --resume keeps the checkpoint's backend and directory, and says which -------------------------
def test_resume_defaults_to_the_checkpoints_backend_and_directory(tmp_path, monkeypatch, capsys):
    if _backend.unavailable_reason("jax"):
        pytest.skip("jax is not available here")
    monkeypatch.delenv(_backend.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    assert train("--out", "jaxrun", "--backend", "jax") == 0
    capsys.readouterr()
    assert train("--resume", "jaxrun") == 0  # no --backend, no --out
    out = capsys.readouterr().out
    assert "backend jax (the checkpoint's); writing to jaxrun/" in out, out
    metrics = json.loads((tmp_path / "jaxrun" / "metrics.json").read_text())
    assert metrics["backend"] == "jax" and metrics["epochs_done"] == 4
    assert not (tmp_path / "runs").exists()  # not runs/latest
    monkeypatch.setenv(_backend.ENV_VAR, "numpy")  # asked for, through the environment: that wins
    assert train("--resume", "jaxrun") == 0
    assert "backend numpy ($PORTABLE_BP_BACKEND)" in capsys.readouterr().out
    assert json.loads((tmp_path / "jaxrun" / "metrics.json").read_text())["backend"] == "numpy"


def test_resume_of_a_checkpoint_from_a_backend_missing_here_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(_backend.ENV_VAR, raising=False)
    assert train("--out", tmp_path) == 0
    edit_metadata(tmp_path / "weights.npz", lambda meta: meta.update(backend="cupy"))
    real = _backend.unavailable_reason
    monkeypatch.setattr(_backend, "unavailable_reason", lambda name: "no GPU here" if name == "cupy" else real(name))
    capsys.readouterr()
    assert train("--resume", tmp_path) == 0
    out = capsys.readouterr().out
    assert "backend numpy (the checkpoint was trained on cupy, which is not available here: no GPU here" in out, out


@needs_mpl
def test_the_figures_of_a_resumed_run_continue_its_epochs(tmp_path, capsys):
    assert train("--out", tmp_path, "--animate") == 0
    assert cli.main(["train", "--quiet", "--epochs", "3", "--resume", str(tmp_path), "--animate"]) == 0
    monitor = json.loads((tmp_path / "metrics.json").read_text())["monitor"]
    assert monitor["epochs"] == [2, 3, 4, 5] and monitor["start_epoch"] == 2
    assert len(monitor["train_cost"]) == 4 and len(monitor["test_cost"]) == 4


def test_monitor_of_a_resumed_run(tmp_path):
    from portable_bp import datasets

    X, y = datasets.circles(n=200, seed=0)
    net = pbp.MLP([2, 5, 3, 1], loss="cross_entropy", seed=0)
    first = net.fit(X, y, epochs=3, batch_size=10, lr=0.5, seed=0, progress=False)
    mon = plots.TrainingMonitor(net, X, y, frames=True, frame_every=2, start_epoch=3, earlier=first, total_epochs=6)
    net.fit(X, y, epochs=3, batch_size=10, lr=0.5, seed=1, progress=False, callback=mon)
    assert mon.epochs == [3, 4, 5, 6] and [f[0] for f in mon.frames] == [3, 5, 6]
    assert mon.earlier["cost"] == first["cost"] and mon.as_dict()["start_epoch"] == 3
    if plots.have_matplotlib():
        plots.plot_costs(mon, tmp_path / "cost.png")
        plots.plot_grad_norms(mon, tmp_path / "grad_norms.png")
    with pytest.raises(ValueError, match="start_epoch"):
        plots.TrainingMonitor(net, X, y, start_epoch=-1)
    with pytest.raises(ValueError, match="earlier must hold start_epoch=2"):
        plots.TrainingMonitor(net, X, y, start_epoch=2, earlier=first)


# -- runs/latest: only this run's figures --------------------------------------------------------
@needs_mpl
def test_figures_of_an_earlier_run_that_this_run_did_not_draw_are_removed(tmp_path, capsys):
    assert train("--out", tmp_path, "--animate") == 0  # circles: cost, grad_norms, decision_regions, hidden.gif
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "cost.png.bak").write_text("mine")
    (tmp_path / "other.png").write_text("mine")
    capsys.readouterr()
    assert train("--out", tmp_path, "--dataset", "toy1d") == 0  # 1-D: no decision regions; no --animate
    out = capsys.readouterr().out
    assert "removed decision_regions.png, hidden.gif" in out, out
    assert sorted(os.listdir(tmp_path)) == ["cost.png", "cost.png.bak", "grad_norms.png", "metrics.json",
                                            "notes.txt", "other.png", "weights.npz"]


def test_without_matplotlib_no_figure_of_an_earlier_run_stays(tmp_path, capsys, monkeypatch):
    for name in ("cost.png", "grad_norms.png"):
        (tmp_path / name).write_bytes(b"an earlier run's figure")
    monkeypatch.setattr(plots, "have_matplotlib", lambda: False)
    assert train("--out", tmp_path) == 0
    assert "removed cost.png, grad_norms.png" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["metrics.json", "weights.npz"]


# -- toy1d has a held-out test set ----------------------------------------------------------------
def test_toy1d_test_set_is_held_out(tmp_path, capsys):
    X_tr, Y_tr, X_te, Y_te = cli.load_dataset("toy1d", seed=0)
    assert (len(X_tr), len(X_te)) == (750, 250)
    assert not set(X_te.ravel()) & set(X_tr.ravel())
    assert X_te.min() < -4.9 and X_te.max() > 4.9  # spread over the whole interval
    assert set(np.unique(Y_te)) == {-1.0, 1.0}
    assert train("--out", tmp_path, "--dataset", "toy1d") == 0
    assert "750 train / 250 test samples; test = every 4th point" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_set"].startswith("held out: every 4th point")


# -- check lists the backends it could not run ----------------------------------------------------
def test_check_lists_unavailable_backends_as_skipped(monkeypatch, capsys):
    real = _backend.unavailable_reason
    monkeypatch.setattr(_backend, "unavailable_reason",
                        lambda name: "ModuleNotFoundError: pretend" if name in ("torch", "cupy") else real(name))
    assert cli.main(["check", "--backends", "numpy,torch"]) == 1  # named, but could not be checked
    captured = capsys.readouterr()
    rows = captured.out.splitlines()
    assert any(re.match(r"torch\s+-\s+-\s+-\s+-\s+skipped: ModuleNotFoundError: pretend \(pip install", r)
               for r in rows), captured.out
    assert "not checked, although named in --backends: torch" in captured.err
    assert cli.main(["check"]) == 0  # all: the unavailable ones are skipped rows, not failures
    out = capsys.readouterr().out
    assert re.search(r"^cupy .*skipped: ModuleNotFoundError: pretend", out, re.M), out
    assert re.search(r"^numpy .*float64 .* ok$", out, re.M), out


# -- --help: every option says what it does and its default ---------------------------------------
def help_blocks(text):
    """{option: its help text} from argparse's --help output."""
    blocks, current = {}, None
    for line in text.split("options:", 1)[1].splitlines():
        match = re.match(r"^  (-\S+?)(,| |$)", line)
        if match:
            current = match.group(1)
            blocks[current] = line
        elif current:
            blocks[current] += " " + line.strip()
    return blocks


@pytest.mark.parametrize("command", ["train", "check"])
def test_every_option_has_help_and_shows_its_default(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    blocks = help_blocks(capsys.readouterr().out)
    sub = cli.build_parser()._subparsers._group_actions[0].choices[command]
    options = [a.option_strings[-1] for a in sub._actions if a.option_strings and a.dest != "help"]
    assert sorted(blocks) == sorted(["-h", *options])
    for option in options:
        text = " ".join(blocks[option].split())
        assert re.search(r"\S+\s+\S+", text.split(option, 1)[1]), f"{option} has no help: {text}"
        assert "default" in text, f"{option} does not show its default: {text}"
        assert "(default: None)" not in text, text


def test_train_help_names_the_defaults_a_new_user_asks_for(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    blocks = {k: " ".join(v.split()) for k, v in help_blocks(capsys.readouterr().out).items()}
    assert "(default: 60)" in blocks["--epochs"] and "(default: 10)" in blocks["--batch-size"]
    assert "default: 0.5 for sgd" in blocks["--lr"] and "default: circles" in blocks["--dataset"]
    assert "default: runs/latest" in blocks["--out"] and "(default: off)" in blocks["--quiet"]


# -- the benchmark figure of a --quick run is readable --------------------------------------------
def quick_payload():
    """bench.json's shape for a --quick run: one batch size per network, many series."""
    rng = np.random.default_rng(0)
    rows, peers = [], []
    for sizes, n in (([2, 3, 3, 1], 50), ([784, 100, 10], 64)):
        for dtype in ("float32", "float64"):
            for backend in ("numpy", "array_api_strict", "jax", "torch"):
                for kernel in ("matmul", "einsum", "stacked", "loop"):
                    t = float(10 ** rng.uniform(-4, -3.8))  # close together: the old plot stacked them
                    rows.append(dict(sizes=sizes, n=n, dtype=dtype, backend=backend, kernel=kernel, op="step",
                                     median_s=t, min_s=t * 0.9, max_s=t * 1.2))
            for peer in ("handwritten", "notebook-stacked", "sklearn", "network.py", "jax-grad-jit"):
                t = float(10 ** rng.uniform(-4, -3.8))
                peers.append(dict(sizes=sizes, n=n, dtype=dtype, peer=peer, op="step", median_s=t, min_s=t,
                                  max_s=t))
    return {"results": {"portable_bp": rows, "peers": peers},
            "machine": {"cpu": "Some CPU with a rather long model name", "mode": "cpu"}}


@needs_mpl
@pytest.mark.parametrize("kind", ["quick", "full"])
def test_bench_figure_has_no_overlapping_labels_or_markers(kind, tmp_path):
    sys.path.insert(0, os.path.join(os.path.dirname(SRC), "benchmarks"))
    try:
        from pbp_bench import report
    finally:
        sys.path.pop(0)
    payload = quick_payload()
    if kind == "full":  # a second batch size for every network, and one network measured at one N only
        extra = [dict(r, n=r["n"] * 8, **{k: r[k] * 3 for k in ("median_s", "min_s", "max_s")})
                 for r in payload["results"]["portable_bp"]]
        payload["results"]["portable_bp"] += extra
        payload["results"]["peers"] += [dict(r, sizes=[4, 4, 1]) for r in payload["results"]["peers"]]
    fig = report.figure(payload)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    texts = [fig._suptitle, *(t for leg in fig.legends for t in leg.get_texts())]
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        for axis in (ax.xaxis, ax.yaxis):  # the ticks drawn: those inside the view
            texts += [t for tick in axis._update_ticks() for t in (tick.label1, tick.label2)]
    texts = [t for t in texts if t is not None and t.get_visible() and t.get_text().strip()]
    extents = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    for name, e in extents:  # nothing cut off at the edges
        assert e.x0 >= box.x0 - 1 and e.x1 <= box.x1 + 1 and e.y0 >= box.y0 - 1 and e.y1 <= box.y1 + 1, name
    for i, (a, ea) in enumerate(extents):
        for b, eb in extents[i + 1:]:
            overlap = min(ea.x1, eb.x1) - max(ea.x0, eb.x0), min(ea.y1, eb.y1) - max(ea.y0, eb.y0)
            assert min(overlap) <= 1, f"{a!r} overlaps {b!r}"
    for ax in fig.axes:  # in a panel of one batch size, two series' markers never sit on top of each other
        if kind == "full" and not ax.get_title().startswith("[4,4,1]"):
            continue  # (several batch sizes: where lines cross, markers meet, as in any line plot)
        points = []
        for line in ax.get_lines():
            if line.get_marker() not in (None, "", "None", " ", "|", "_") and len(line.get_xdata()):
                data = np.c_[np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)]
                xy = ax.transData.transform(data)
                points += [(id(line), p) for p in xy]
        for i, (la, pa) in enumerate(points):
            for lb, pb in points[i + 1:]:
                if la != lb:
                    assert np.hypot(*(pa - pb)) >= 5, f"two series' markers overlap in {ax.get_title()}"
    report.plot(payload, tmp_path / "step_vs_batch.png")
    assert (tmp_path / "step_vs_batch.png").stat().st_size > 10_000
