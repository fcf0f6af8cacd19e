import numpy as np

import portable_bp as pbp

TOL = {"float64": dict(rtol=1e-12, atol=1e-12), "float32": dict(rtol=1e-5, atol=1e-6)}
COMBOS = [  # (hidden activation, output activation, loss)
    ("sigmoid", "sigmoid", "mse"),
    ("tanh", "identity", "mse"),
    ("relu", "identity", "l1"),
    ("sigmoid", "softmax", "cross_entropy"),
    ("tanh", "sigmoid", "cross_entropy"),
    ("sigmoid", "softmax", "mse"),
]


def problem(sizes=(3, 4, 5, 2), n=7, seed=0, output="sigmoid"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]))
    if output == "softmax":
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    elif output == "sigmoid":
        Y = rng.uniform(0.05, 0.95, (n, sizes[-1]))
    else:
        Y = rng.standard_normal((n, sizes[-1]))
    return X, Y


def assert_close(actual, desired, dtype="float64", **kw):
    tol = dict(TOL[dtype], **kw)
    a = pbp.to_numpy(actual)
    d = pbp.to_numpy(desired)
    assert a.shape == d.shape, f"shape {a.shape} != {d.shape}"
    np.testing.assert_allclose(a.astype(np.float64), d.astype(np.float64), **tol)


def params_bits(net):
    """The parameters as (dtype, shape, bytes): equal only when bit for bit the same."""
    ws, bs = net.params_numpy()
    return [None if p is None else (p.dtype.str, p.shape, p.tobytes()) for p in ws + bs]


def params_finite(net):
    ws, bs = net.params_numpy()
    return all(np.isfinite(p).all() for p in ws + bs if p is not None)


def wrap_steps(monkeypatch, wrapper):
    """Make the training steps that fit builds from now on run as ``wrapper(step, *args)`` (args:
    params, optimizer state, the batch (X_b, Y_b, w_b, u_b), l2 coefficient), e.g. to count them or
    interrupt one.
    On JAX an epoch is one compiled call: the wrapper then runs when the step is traced (once per
    compilation), not at every step."""
    real = pbp.train.steps.make_step

    def make_step(*a, **k):
        step = real(*a, **k)
        return lambda *args: wrapper(step, *args)

    monkeypatch.setattr(pbp.train.steps, "make_step", make_step)
    monkeypatch.setattr(pbp._shared, "_RUNS", {})  # runs built before (shared by networks of a kind) are not wrapped
