"""The same seed gives the same result run after run on each backend (in this process and in fresh
ones), and the same initial network on every backend."""

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import portable_bp as pbp

SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    import numpy as np
    import portable_bp as pbp

    for backend in sys.argv[1].split(","):
        for dtype in ("float64", "float32"):
            rng = np.random.default_rng(7)
            X, y = rng.standard_normal((48, 4)), rng.integers(0, 3, 48)
            net = pbp.MLP([4, 6, 3], activation="tanh", output_activation="softmax", loss="cross_entropy",
                          backend=backend, dtype=dtype, seed=11)
            history = net.fit(X, y, epochs=3, batch_size=8, lr=0.3, seed=5, progress=False)
            h = hashlib.sha256(repr(history).encode())
            for p in net.params_numpy()[0] + net.params_numpy()[1]:
                h.update(np.ascontiguousarray(p).tobytes())
            print(backend, dtype, h.hexdigest())
    """
)


def digest(net, history):
    h = hashlib.sha256(repr(history).encode())
    ws, bs = net.params_numpy()
    for p in ws + bs:
        h.update(np.ascontiguousarray(p).tobytes())
    return h.hexdigest()


def run(backend, dtype, kernel="matmul"):
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((48, 4)), rng.integers(0, 3, 48)
    net = pbp.MLP([4, 6, 3], activation="tanh", output_activation="softmax", loss="cross_entropy",
                  backend=backend, dtype=dtype, kernel=kernel, seed=11)
    history = net.fit(X, y, epochs=3, batch_size=8, lr=0.3, seed=5, progress=False)
    return digest(net, history)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kernel", ["matmul", "stacked"])
def test_same_seed_same_training_run(backend, dtype, kernel):
    assert run(backend, dtype, kernel) == run(backend, dtype, kernel)


def test_different_seed_differs(backend):
    a = pbp.MLP([4, 6, 3], backend=backend, seed=1).params_numpy()[0][0]
    b = pbp.MLP([4, 6, 3], backend=backend, seed=2).params_numpy()[0][0]
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_initial_network_on_every_backend(other_backends, dtype):
    """Parameters are drawn on the host with numpy and moved: bit-identical everywhere."""
    ref = pbp.MLP([5, 7, 3, 2], backend="numpy", dtype=dtype, seed=123)
    for name in other_backends:
        net = pbp.MLP([5, 7, 3, 2], backend=name, dtype=dtype, seed=123)
        for a, b in zip(net.params_numpy()[0] + net.params_numpy()[1], ref.params_numpy()[0] + ref.params_numpy()[1]):
            assert a.dtype == b.dtype == np.dtype(dtype)
            assert a.tobytes() == b.tobytes(), name


def test_same_result_in_a_fresh_process(backend):
    """A new interpreter (another hash seed) reproduces this process's training runs bit for bit."""
    env = dict(os.environ, PYTHONHASHSEED="12345")
    done = subprocess.run([sys.executable, "-c", SCRIPT, backend], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert len(lines) == 6, done.stdout
    for name, dtype, h in zip(lines[::3], lines[1::3], lines[2::3]):
        assert name == backend and h == run(backend, dtype), (backend, dtype)
