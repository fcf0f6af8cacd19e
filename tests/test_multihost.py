"""Several JAX processes on loopback: one global mesh, the code path of a cluster (jax.distributed).

Each test starts processes that run ``multihost_worker.py`` (or ``portable-bp train --processes N``):
gloo CPU collectives, ``jax.distributed.initialize`` on 127.0.0.1 and a port reserved for the run,
``fit(..., devices="all")`` in float64 over memory-mapped data. Checked against a one-process fit
here: identical parameters on every process and equal to one process (1e-12); the rows each process
reads (exactly those its device holds); who writes checkpoints; resume; a killed process.

Every child runs in its own process group with a time limit, and the ``children`` fixture kills the
groups of those still running when a test ends, pass or fail. 2 processes run by default (about
25 s on 2 cores); ``nox -s tests_multihost`` (PORTABLE_BP_TEST_MULTIHOST=full) adds 4 processes,
killing the coordinator, and ``portable-bp train --processes 2`` against one process.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import portable_bp as pbp
from portable_bp.cli import _launch

pytestmark = pytest.mark.multiprocess
WORKER = Path(__file__).with_name("multihost_worker.py")
FULL = os.environ.get("PORTABLE_BP_TEST_MULTIHOST") == "full"
# the worker's run (multihost_worker.py: FIT, EPOCHS, STREAM_ROWS, SEED)
N, D, BS, EPOCHS, STREAM_ROWS, SEED = 256, 5, 16, 3, 64, 5
TIMEOUT = 240  # seconds for any one multi-process run (each process: ~10 s here when the machine is quiet)


@pytest.fixture(scope="module")
def jax_here():
    from portable_bp import _backend

    if _backend.unavailable_reason("jax") is not None:
        pytest.skip("jax.distributed needs jax")


def child_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    src = str(Path(pbp.__file__).resolve().parents[1])  # this checkout's library, in the children too
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    env.update(JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1", **extra)
    return env


class Children:
    """Processes started for one test, each in its own process group; :meth:`stop` kills what is left."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, out, env):
        with open(out.with_suffix(".out"), "w") as o, open(out.with_suffix(".err"), "w") as e:
            p = subprocess.Popen(cmd, stdout=o, stderr=e, env=env, start_new_session=True)
        p.out, p.err = out.with_suffix(".out"), out.with_suffix(".err")
        self.procs.append(p)
        return p

    def workers(self, mode, n, workdir, **env):
        """Start ``n`` workers on a reserved loopback port (a new one if process 0 found it taken)."""
        for _ in range(3):
            sock, port = _launch.reserve_port()
            procs = [self.start([sys.executable, str(WORKER), mode, str(port), str(n), str(i), str(workdir)],
                                workdir / f"{mode}{i}", child_env(**env)) for i in range(n)]
            procs[0].reservation = sock
            if mode == "kill":
                return procs
            codes = wait(procs, TIMEOUT)
            sock.close()
            if codes[0] != _launch.PORT_TAKEN:
                return procs
            _launch.stop(procs)
        pytest.fail("no free loopback port in 3 tries")

    def stop(self):
        _launch.stop(self.procs)
        for p in self.procs:
            sock = getattr(p, "reservation", None)
            if sock is not None:
                sock.close()


@pytest.fixture
def children():
    c = Children()
    yield c
    c.stop()


def wait(procs, timeout):
    """Exit codes of ``procs``; fail (the fixture then kills them) when they overrun ``timeout``."""
    end = time.monotonic() + timeout
    try:
        return [p.wait(max(0.1, end - time.monotonic())) for p in procs]
    except subprocess.TimeoutExpired:
        pytest.fail(f"{len(procs)} processes still running after {timeout} s:\n" + tails(procs))


def tails(procs, n=3000):
    return "\n".join(f"--- process {i} (exit {p.poll()}):\n{p.err.read_text()[-n:]}" for i, p in enumerate(procs))


def write_data(workdir):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((N, D)), rng.integers(0, 3, N)
    np.save(workdir / "X.npy", X)
    np.save(workdir / "y.npy", y)
    return X, y


def make():
    return pbp.MLP([D, 8, 3], activation="tanh", output_activation="softmax", loss="cross_entropy", backend="jax",
                   dtype="float64", seed=1)


def one_process(X, y):
    """The same fit in this process, on one device, in memory: the oracle of every multi-process run."""
    net = make()
    history = net.fit(X, y, epochs=EPOCHS, batch_size=BS, optimizer="adam", lr=0.01, seed=SEED, progress=False)
    w, b = net.params_numpy()
    return w + b, history["cost"]


def expected_reads(n_proc, p):
    """How often process p of n_proc (one device each) must read each row of X: per epoch its slice of each
    shuffled mini-batch (device k of the mesh holds rows k*m..(k+1)*m-1 of it, m = BS / n_proc) and its
    slice of each evaluation piece of STREAM_ROWS rows. Drawn here from the same rng.permutation."""
    counts, rng = np.zeros(N, dtype=np.int64), np.random.default_rng(SEED)
    m, k = BS // n_proc, STREAM_ROWS // n_proc
    for _ in range(EPOCHS):
        perm = rng.permutation(N)
        for start in range(0, N, BS):
            np.add.at(counts, perm[start + p * m:start + (p + 1) * m], 1)
        for start in range(0, N, STREAM_ROWS):
            counts[start + p * k:start + (p + 1) * k] += 1
    return counts


def max_rel(a, b):
    return max(float(np.max(np.abs(np.asarray(p) - np.asarray(q))) / np.max(np.abs(q))) for p, q in zip(a, b))


@pytest.fixture(scope="module", params=[2, 4] if FULL else [2])
def run(request, tmp_path_factory, jax_here):
    """One ``fit`` run of n worker processes: their reports, and the one-process oracle."""
    n = request.param
    workdir = tmp_path_factory.mktemp(f"multihost{n}")
    X, y = write_data(workdir)
    c = Children()
    try:
        t0 = time.perf_counter()
        procs = c.workers("fit", n, workdir)
        seconds = time.perf_counter() - t0
        if any(p.returncode for p in procs):
            pytest.fail("worker failed:\n" + tails(procs))
    finally:
        c.stop()
    reports = [json.loads((workdir / f"report{i}.json").read_text()) for i in range(n)]
    print(f"\n{n} processes: {seconds:.1f} s")
    return dict(n=n, workdir=workdir, reports=reports, oracle=one_process(X, y))


def test_every_process_ends_with_the_one_process_network(run):
    n, reports = run["n"], run["reports"]
    assert [r["process_index"] for r in reports] == list(range(n))
    assert all(r["process_count"] == n and r["n_devices"] == n and r["n_local_devices"] == 1 for r in reports)
    for r in reports[1:]:  # the processes agree bit for bit: the same all-reduced update everywhere
        assert r["params"] == reports[0]["params"] and r["cost"] == reports[0]["cost"]
    params, cost = run["oracle"]
    print(f"\n{n} processes vs one: max relative parameter difference {max_rel(reports[0]['params'], params):.1e}")
    assert max_rel(reports[0]["params"], params) < 1e-12
    np.testing.assert_allclose(reports[0]["cost"], cost, rtol=1e-12)


def test_each_process_reads_only_the_rows_its_device_holds(run):
    n, reports = run["n"], run["reports"]
    for p, r in enumerate(reports):
        expected = expected_reads(n, p)
        np.testing.assert_array_equal(r["rows_read_X"], expected, err_msg=f"process {p}")
        np.testing.assert_array_equal(r["rows_read_y"], expected, err_msg=f"process {p}")
        assert sum(r["rows_read_X"]) == 2 * EPOCHS * N // n  # a 1/n share of training + evaluation reads
    total = np.sum([r["rows_read_X"] for r in reports], axis=0)
    np.testing.assert_array_equal(total, np.full(N, 2 * EPOCHS))  # together: every row, twice an epoch


def test_only_process_0_writes_checkpoints(run):
    workdir, reports = run["workdir"], run["reports"]
    assert reports[0]["writes"] == ["ckpt.npz"] * EPOCHS + ["resume.npz"]
    assert all(r["writes"] == [] for r in reports[1:])
    assert sorted(p.name for p in workdir.glob("*.npz")) == ["ckpt.npz", "resume.npz"]
    assert not list(workdir.glob(".*tmp"))  # atomic writes leave no temporary files
    saved = pbp.load(workdir / "ckpt.npz")
    w, b = saved.params_numpy()
    assert max_rel(w + b, reports[0]["params"]) == 0.0  # the last epoch's checkpoint is the final network


def test_resumed_run_equals_the_uninterrupted_one(run):
    for r in run["reports"]:
        print(f"\nresumed vs uninterrupted: {max_rel(r['resumed_params'], r['params']):.1e}")
        assert max_rel(r["resumed_params"], r["params"]) < 1e-12


@pytest.mark.parametrize("victim", [1, 0] if FULL else [1])
def test_killed_process_makes_the_others_fail_in_bounded_time(children, tmp_path, jax_here, victim):
    """SIGKILL one process mid-run: the other fails (gloo sees the peer gone, or the coordinator misses its
    heartbeats) with a message that says so, within seconds, instead of waiting forever."""
    write_data(tmp_path)
    procs = children.workers("kill", 2, tmp_path, HEARTBEAT="3")
    end = time.monotonic() + TIMEOUT
    while "epoch 1" not in procs[victim].out.read_text():
        if time.monotonic() > end or any(p.poll() is not None for p in procs):
            pytest.fail("the run did not reach epoch 1:\n" + tails(procs))
        time.sleep(0.1)
    os.killpg(procs[victim].pid, signal.SIGKILL)
    killed = time.monotonic()
    survivor = procs[1 - victim]
    try:
        code = survivor.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail("the surviving process was still running 60 s after the other was killed")
    elapsed = time.monotonic() - killed
    err = survivor.err.read_text()
    print(f"\nprocess {1 - victim} failed {elapsed:.1f} s after process {victim} was killed (exit {code})")
    assert code != 0
    assert elapsed < 30
    reasons = ("another task died", "heartbeat", "Connection reset by peer", "Connection closed by peer",
               "coordination service")
    assert any(r in err for r in reasons), err[-3000:]


# -- the launcher: portable-bp train --processes N --------------------------------------------------
@pytest.mark.skipif(not FULL, reason="about 25 s on 2 cores: nox -s tests_multihost (PORTABLE_BP_TEST_MULTIHOST=full)")
def test_train_processes_2_equals_one_process(children, tmp_path, jax_here):
    args = ["train", "--epochs", "3", "--batch-size", "10", "--quiet", "--dataset", "circles"]
    p = children.start([sys.executable, "-m", "portable_bp.cli", *args, "--processes", "2", "--out",
                        str(tmp_path / "two")], tmp_path / "launcher", child_env())
    code = wait([p], TIMEOUT)[0]
    assert code == 0, p.err.read_text()[-4000:]
    from portable_bp import cli

    assert cli.main([*args, "--backend", "jax", "--out", str(tmp_path / "one")]) == 0
    two, one = pbp.load(tmp_path / "two" / "weights.npz"), pbp.load(tmp_path / "one" / "weights.npz")
    w2, b2 = two.params_numpy()
    w1, b1 = one.params_numpy()
    print(f"\nportable-bp train --processes 2 vs one process: {max_rel(w2 + b2, w1 + b1):.1e}")
    assert max_rel(w2 + b2, w1 + b1) < 1e-12
    m2, m1 = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("two", "one"))
    np.testing.assert_allclose(m2["history"]["cost"], m1["history"]["cost"], rtol=1e-12)
    np.testing.assert_allclose(m2["monitor"]["test_cost"], m1["monitor"]["test_cost"], rtol=1e-12)
    assert m2["backend"] == "jax"
    assert sorted(os.listdir(tmp_path / "two")) == sorted(os.listdir(tmp_path / "one"))  # figures too
    assert "training MLP" in p.out.read_text()  # process 0's output is shown; process 1's is not
    assert "process 1: done" not in p.out.read_text()


def test_only_process_0_of_train_writes(tmp_path, monkeypatch):
    """In processes 1.. of a run, train writes nothing: no --out directory, metrics, checkpoint or figure."""
    from portable_bp import cli

    monkeypatch.setattr(_launch, "is_primary", lambda: False)
    out = tmp_path / "never"
    assert cli.main(["train", "--epochs", "2", "--quiet", "--backend", "numpy", "--out", str(out)]) == 0
    assert not out.exists()


def test_multiprocess_flags_are_checked(capsys):
    from portable_bp import cli

    for argv, message in (
        (["--processes", "2", "--coordinator", "127.0.0.1:1234"], "--processes starts the processes itself"),
        (["--processes", "2", "--backend", "numpy"], "--backend jax"),
        (["--num-processes", "2", "--process-id", "2"], "must be below --num-processes"),
        (["--coordinator", "nohost"], "HOST:PORT"),
        (["--process-id", "-1"], "integer >= 0"),
        (["--processes", "0"], "positive"),
    ):
        with pytest.raises(SystemExit) as info:
            cli.main(["train", *argv])
        assert info.value.code == 2
        assert message in capsys.readouterr().err, argv
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "SLURM" in help_text and "jax.distributed.initialize()" in help_text


def test_child_argv_drops_processes():
    assert _launch.child_argv(["train", "--processes", "4", "--epochs", "2"]) == ["train", "--epochs", "2"]
    assert _launch.child_argv(["train", "--processes=4", "--out", "d"]) == ["train", "--out", "d"]


def test_reserved_port_is_held_and_the_coordinator_can_still_bind_it():
    import socket

    sock, port = _launch.reserve_port()
    try:
        plain = socket.socket()
        with pytest.raises(OSError):
            plain.bind(("127.0.0.1", port))  # nobody else gets the port while the run holds it ...
        plain.close()
        assert _launch.port_is_free(port)  # ... but a SO_REUSEPORT server (gRPC's, the coordinator) does
    finally:
        sock.close()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    try:
        assert not _launch.port_is_free(taken.getsockname()[1])  # a port held plainly: process 0 exits 75
    finally:
        taken.close()


def test_launcher_stops_the_others_when_one_fails(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    failing = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], start_new_session=True)
    t0 = time.monotonic()
    try:
        code, first = _launch._wait([sleeper, failing], grace=1.0)
    finally:
        _launch.stop([sleeper, failing])
    assert (code, first) == (3, 1)
    assert time.monotonic() - t0 < 20
    assert sleeper.poll() is not None  # killed, reaped
