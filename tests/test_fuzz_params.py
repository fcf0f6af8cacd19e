"""Property tests over the hyper-parameters of every public callable (issue 19 item 8): MLP, fit, update,
optim.*, optim.schedules.*, the callbacks and the estimators, and over the kinds of data on every backend.

Each property: the call works, or raises a ValueError/TypeError whose message names the parameter (or,
for data, X / Y) — never an OverflowError, MemoryError, AttributeError, a NumPy or backend message, a
hang. Values: ints far beyond float range, NaN/±inf, the extremes of float64, bools, NumPy scalars and
0-d arrays of all of them, strings, containers, complex numbers, callables, arbitrary objects.
Hypothesis profiles: tests/conftest.py ("ci": seconds; "deep": ``nox -s props_deep``).
"""

import math
import numbers
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import portable_bp as pbp
from portable_bp import _backend, _checks, optim
from portable_bp.optim import schedules
from portable_bp.train import CSVLogger, EarlyStopping, JSONLogger, LambdaCallback, ProgressBar, ReduceLROnPlateau

pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

N = 24
rng = np.random.default_rng(1)
X = rng.normal(size=(N, 2))
Y = (X[:, :1] > 0).astype(float)
LABELS = (X[:, 0] > 0).astype(int)


# -- values ----------------------------------------------------------------------------------------
HUGE_INTS = [10**400, -(10**400), 10**30, 2**63, 2**64, 2**53 + 1, 2**32, -1, -(2**63)]
SPECIAL_FLOATS = [math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 2.2e-308, 1e-300, 1e300, 1.7976931348623157e308,
                  -1e308, 1e38, 3.5e38]


def _numpy_forms(v):
    """``v`` and its NumPy forms that exist: scalars of several dtypes and a 0-d array."""
    forms = [v]
    for make in (np.int64, np.int32, np.uint8, np.float64, np.float32, np.float16, np.array):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                w = make(v)
            if not isinstance(v, float) or make not in (np.int64, np.int32, np.uint8) or float(w) == v:
                forms.append(w)
        except (OverflowError, ValueError, TypeError):
            pass
    return forms


scalars = st.one_of(st.integers(-3, 12), st.floats(-2, 2), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(HUGE_INTS), st.sampled_from(SPECIAL_FLOATS))
numeric = scalars.flatmap(lambda v: st.sampled_from(_numpy_forms(v)))
OTHERS = [None, True, False, np.bool_(True), np.bool_(False), "0.1", "", "3", "adam", "relu", "no", [], [1, 2],
          (0.5,), [0.1, 0.2], {}, {"a": 1}, 1j, np.complex128(1 + 1j), object(), lambda *a: 0.1, np.ones(2),
          np.array([[1.0]]), b"x", np.array("s"), np.datetime64("2020-01-01"), np.timedelta64(3, "s"), float]
anything = st.one_of(numeric, st.sampled_from(OTHERS))


def names_it(call, name, *also, allowed=()):
    """Run ``call``: fine, or a ValueError/TypeError naming ``name`` (or one of ``also``), or one of ``allowed``."""
    try:
        call()
    except (ValueError, TypeError) as exc:
        text = str(exc)
        assert any(n in text for n in (name, *also)), f"{type(exc).__name__} does not name {name!r}: {text}"
        assert "Traceback" not in text
        return exc
    except allowed:
        pass
    return None


def small_count(name, value, limit):
    """Skip valid counts that would make the call long (epochs=10**9 is valid, and slow)."""
    try:
        n = _checks.integer(name, value)
    except (TypeError, ValueError):
        return
    assume(n <= limit)


# -- MLP and fit ---------------------------------------------------------------------------------
MLP_PARAMS = {
    "sizes": st.one_of(anything, st.lists(anything, max_size=4), st.lists(st.integers(-2, 10**13), min_size=2,
                                                                          max_size=4)),
    "activation": st.one_of(anything, st.sampled_from(["tanh", "RELU", "Sigmoid", "logistic", "softmax", "gelu"])),
    "output_activation": st.one_of(anything, st.sampled_from(["softmax", "identity", "Tanh", "relu"])),
    "loss": st.one_of(anything, st.sampled_from(["cross_entropy", "MSE", "l1", "quadratic"])),
    "bias": anything, "init": st.one_of(anything, st.sampled_from(["he_normal", "TORCH", "xavier"])),
    "dtype": st.one_of(anything, st.sampled_from(["float32", "float16", "int64"])),
    "kernel": st.one_of(anything, st.sampled_from(["einsum", "Loop", "stacked"])), "seed": anything,
    "dropout": st.one_of(anything, st.lists(anything, max_size=2)),
    "backend": st.one_of(anything, st.sampled_from(["numpy", "NumPy", "nope"])),
}


@given(data=st.data())
def test_mlp_hyper_parameters(data):
    name = data.draw(st.sampled_from(sorted(MLP_PARAMS)), label="parameter")
    value = data.draw(MLP_PARAMS[name], label="value")
    kwargs = {"sizes": [2, 3, 1]} | {name: value}
    if name == "sizes":
        sizes = kwargs["sizes"]
        assume(not (isinstance(sizes, list) and all(isinstance(s, int) and 0 < s for s in sizes)
                    and sum(a * b for a, b in zip(sizes, sizes[1:])) > 10**6))  # valid but big: slow, not wrong
    names_it(lambda: pbp.MLP(**kwargs), name, *(["output_activation", "loss"] if name in ("loss", "activation",
                                                                                       "output_activation") else []))


FIT_PARAMS = {
    "epochs": anything, "batch_size": anything, "lr": anything, "l2": anything, "shuffle": anything,
    "seed": st.one_of(anything, st.just(np.random.default_rng(0))), "progress": anything, "callback": anything,
    "validation_split": anything, "running_cost": anything, "callbacks": st.one_of(anything, st.lists(anything,
                                                                                                     max_size=2)),
    "optimizer": st.one_of(anything, st.sampled_from(["adam", "Nesterov", "rmsprop", "sgd"])),
    "validation_data": st.one_of(anything, st.tuples(anything, anything), st.just((X, Y)), st.just((X, "y"))),
    "patience": anything,
    "sample_weight": st.one_of(anything, numeric.map(lambda v: np.full(N, v)),
                               st.sampled_from([np.ones(N - 1), np.ones((N, 2)), np.zeros(N), -np.ones(N)])),
}


@given(data=st.data())
def test_fit_hyper_parameters(data):
    name = data.draw(st.sampled_from(sorted(FIT_PARAMS)), label="parameter")
    value = data.draw(FIT_PARAMS[name], label="value")
    if name == "epochs":
        small_count(name, value, 3)
    assume(not (name == "callback" and value is float))  # no signature to check: its own TypeError, inside fit
    kwargs = dict(epochs=2, batch_size=8, lr=0.1, progress=False) | {name: value}
    if name == "optimizer":
        kwargs["lr"] = None
    net = pbp.MLP([2, 3, 1], seed=0)
    also = {"patience": ["validation"], "optimizer": ["lr"], "validation_data": ["validation_data"],
            "lr": ["optimizer"]}.get(name, [])
    names_it(lambda: net.fit(X, Y, **kwargs), name, *also, allowed=(pbp.DivergenceError,))


@given(lr=anything)
def test_update_lr(lr):
    names_it(lambda: pbp.MLP([2, 3, 1], seed=0).update(X, Y, lr), "lr", allowed=(FloatingPointError,))


# -- optim and schedules ---------------------------------------------------------------------------
OPTIM = {
    "sgd": (optim.sgd, ["lr"]), "momentum": (optim.momentum, ["lr", "beta", "nesterov"]),
    "adam": (optim.adam, ["lr", "beta1", "beta2", "eps"]),
    "adamw": (optim.adamw, ["lr", "beta1", "beta2", "eps", "weight_decay"]),
}


@given(data=st.data())
def test_optimizer_hyper_parameters(data):
    kind = data.draw(st.sampled_from(sorted(OPTIM)), label="optimizer")
    factory, params = OPTIM[kind]
    name = data.draw(st.sampled_from(params), label="parameter")
    value = data.draw(anything, label="value")
    kwargs = {"lr": 0.01} | {name: value}
    made = []
    if names_it(lambda: made.append(factory(**kwargs)), name) is None and made:
        opt, net = made[0], pbp.MLP([2, 3, 1], seed=0)
        params, state = opt.update(net.backprop(X, Y), opt.init(net.params), net.params)  # one step runs
        assert int(state.step) == 1 and len(params[0]) == 2
        if not callable(opt.lr) or isinstance(opt.lr, schedules.Schedule):  # a custom callable has no config
            assert optim.from_config(opt.config()).config() == opt.config()


SCHEDULES = {
    "constant": (schedules.constant, ["lr"], {}), "step_decay": (schedules.step_decay, ["lr", "drop", "every"], {}),
    "invscaling": (schedules.invscaling, ["lr", "power_t"], {}),
    "cosine": (schedules.cosine, ["lr", "decay_steps", "alpha"], {"decay_steps": 10}),
}


@given(data=st.data(), step=st.sampled_from([0, 1, 5, 10**6, 2**40, schedules.MAX_STEPS - 1]))
def test_schedule_hyper_parameters_and_no_overflow_in_training(data, step):
    """Whatever a schedule accepts cannot overflow at any step it is made for, on a Python int (the loop's
    ``training.lr()``) or a float64 array (the compiled step)."""
    kind = data.draw(st.sampled_from(sorted(SCHEDULES)), label="schedule")
    factory, params, defaults = SCHEDULES[kind]
    name = data.draw(st.sampled_from(params), label="parameter")
    value = data.draw(st.one_of(anything, st.floats(0, 40), st.integers(1, 2**60)), label="value")
    kwargs = {"lr": 0.1} | defaults | {name: value}
    made = []
    if names_it(lambda: made.append(factory(**kwargs)), name) is None and made:
        s = made[0]
        for t in (step, np.asarray(float(step))):
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                v = float(s(t))
            assert math.isfinite(v) and v >= 0
        assert schedules.from_config(s.config()) == s


# -- callbacks -------------------------------------------------------------------------------------
CALLBACKS = {
    "EarlyStopping": (EarlyStopping, ["monitor", "patience", "min_delta", "restore_best"]),
    "ReduceLROnPlateau": (ReduceLROnPlateau, ["monitor", "factor", "patience", "min_lr", "min_delta"]),
    "JSONLogger": (JSONLogger, ["path"]), "CSVLogger": (CSVLogger, ["path"]),
    "LambdaCallback": (LambdaCallback, ["on_epoch_end"]), "ProgressBar": (ProgressBar, ["desc", "file"]),
}
MONITORS = st.sampled_from(["cost", "val_cost", "accuracy", "val_accuracy", "loss", ""])


@given(data=st.data())
def test_callback_hyper_parameters(data, tmp_path_factory):
    kind = data.draw(st.sampled_from(sorted(CALLBACKS)), label="callback")
    cls, params = CALLBACKS[kind]
    name = data.draw(st.sampled_from(params), label="parameter")
    value = data.draw(st.one_of(anything, MONITORS) if name == "monitor" else anything, label="value")
    assume(name not in ("path",) or not isinstance(value, (str, bytes)))  # a valid path is a file: not fuzzed here
    if name == "on_epoch_end" and callable(value):
        value = lambda epoch, logs: None  # noqa: E731 - a valid one that accepts the hook's arguments
    defaults = {"path": str(tmp_path_factory.mktemp("cb") / "log")} if "path" in params else {}
    kwargs = defaults | {name: value}
    made = []
    if names_it(lambda: made.append(cls(**kwargs)), name) is None and made:
        with open(str(tmp_path_factory.mktemp("pb") / "out"), "w") as sink:
            if isinstance(made[0], ProgressBar) and made[0].file is None:
                made[0].file = sink
            net = pbp.MLP([2, 3, 1], seed=0)
            names_it(lambda: net.fit(X, Y, epochs=2, batch_size=8, lr=0.1, progress=False, callbacks=made,
                                     validation_data=(X, Y)), name)


# -- the estimators --------------------------------------------------------------------------------
sk = pytest.importorskip("sklearn")
from portable_bp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

EST_PARAMS = ["hidden_layer_sizes", "activation", "solver", "alpha", "batch_size", "learning_rate",
              "learning_rate_init", "power_t", "max_iter", "shuffle", "random_state", "tol", "verbose",
              "warm_start", "momentum", "nesterovs_momentum", "early_stopping", "validation_fraction", "beta_1",
              "beta_2", "epsilon", "n_iter_no_change", "max_fun", "dtype", "kernel", "init", "dropout", "backend"]


@given(data=st.data(), regressor=st.booleans())
def test_estimator_hyper_parameters(data, regressor):
    name = data.draw(st.sampled_from(EST_PARAMS + (["loss"] if regressor else ["class_weight"])), label="parameter")
    value = data.draw(st.one_of(anything, st.tuples(anything), st.lists(st.integers(-1, 10**13), max_size=2)),
                      label="value")
    if name in ("max_iter", "max_fun"):
        small_count(name, value, 3)
    if name == "hidden_layer_sizes":
        sizes = value if isinstance(value, (list, tuple)) else [value]
        assume(not all(isinstance(s, int) and not isinstance(s, bool) and 100 < s < 10**8 for s in sizes))
    if name == "verbose":
        assume(not _checks._not(numbers.Integral, value) and not value)  # a verbose one prints: fine, but noisy
    Est = MLPRegressor if regressor else MLPClassifier
    kwargs = dict(hidden_layer_sizes=(3,), max_iter=3) | {name: value}
    y = Y[:, 0] if regressor else LABELS
    names_it(lambda: Est(**kwargs).fit(X, y), name, allowed=(sk.exceptions.ConvergenceWarning,))


# -- data kinds, per backend -----------------------------------------------------------------------
HOST_KINDS = {
    "float64": lambda: X, "float32": lambda: X.astype(np.float32), "float16": lambda: X.astype(np.float16),
    "int": lambda: (X * 10).astype(np.int64), "uint8": lambda: (np.abs(X) * 10).astype(np.uint8),
    "bool": lambda: X > 0, "list": lambda: X.tolist(), "complex": lambda: X + 1j,
    "object": lambda: X.astype(object), "str": lambda: X.astype(str), "bytes": lambda: X.astype(bytes),
    "timedelta": lambda: (X * 10).astype(np.int64).astype("timedelta64[s]"),
    "datetime": lambda: (X * 10).astype(np.int64).astype("datetime64[s]"),
    "1-d": lambda: X[:, 0], "3-d": lambda: X[:, :, None], "0-d": lambda: np.float64(1.0), "empty": lambda: X[:0],
    "no features": lambda: X[:, :0], "nan": lambda: np.where(X > 1, np.nan, X), "huge": lambda: X * 1e308,
    "masked": lambda: np.ma.masked_less(X, 0), "matrix": lambda: np.asmatrix(X), "None": lambda: None,
    "ragged": lambda: [[1.0, 2.0], [1.0]], "scalar str": lambda: "X",
}


def _native_kinds(backend):
    """Arrays of the backend's own library, of every dtype it has (and sparse for torch)."""
    if backend == "torch":
        import torch

        t = torch.asarray(X)
        return {"torch float64": lambda: t, "torch float32": lambda: t.float(), "torch int": lambda: t.long(),
                "torch bool": lambda: t > 0, "torch complex": lambda: t.to(torch.complex128),
                "torch sparse": lambda: t.to_sparse(), "torch sparse csr": lambda: t.to_sparse_csr(),
                "torch nan": lambda: t * torch.nan, "torch 1-d": lambda: t[:, 0], "torch half": lambda: t.half(),
                "torch requires_grad": lambda: t.clone().requires_grad_(True)}
    if backend == "jax":
        import jax.numpy as jnp

        j = jnp.asarray(X)
        return {"jax": lambda: j, "jax int": lambda: j.astype(jnp.int32), "jax bool": lambda: j > 0,
                "jax complex": lambda: j.astype(jnp.complex64), "jax nan": lambda: j * jnp.nan,
                "jax 3-d": lambda: j[:, :, None], "jax bfloat16": lambda: j.astype(jnp.bfloat16)}
    xp = _backend.namespace(backend)
    return {f"{backend} float64": lambda: xp.asarray(X), f"{backend} int": lambda: xp.asarray((X * 10).astype(int)),
            f"{backend} bool": lambda: xp.asarray(X > 0)}


@given(data=st.data())
def test_data_kinds_per_backend(backend, data):
    """X (and Y) of every kind: the float64 NumPy result, or a ValueError/TypeError naming X (or Y)."""
    kinds = HOST_KINDS | _native_kinds(backend)
    kind = data.draw(st.sampled_from(sorted(kinds)), label="kind")
    where = data.draw(st.sampled_from(["X", "Y"]), label="as")
    value = kinds[kind]()
    net = pbp.MLP([2, 3, 2], activation="tanh", output_activation="sigmoid", backend=backend, seed=0)
    calls = {"predict": lambda: net.predict(value), "fit": lambda: net.fit(
        value, np.hstack([Y, 1 - Y]), epochs=1, batch_size=8, lr=0.1, progress=False)} if where == "X" else {
        "backprop": lambda: net.backprop(X, value if getattr(value, "ndim", 2) != 2 else value),
        "fit": lambda: net.fit(X, value, epochs=1, batch_size=8, lr=0.1, progress=False)}
    for call in calls.values():
        exc = names_it(call, where, allowed=(FloatingPointError,))
        if exc is not None:
            assert str(exc).startswith((where, f"class labels in {where}")) or f" {where} " in str(exc), str(exc)


EST_DATA = ["torch complex", "torch sparse", "torch int", "torch bool", "torch float32", "jax complex", "jax int",
            "jax bool", "jax bfloat16", "complex", "object", "str", "timedelta", "nan", "3-d", "1-d", "empty"]


@given(kind=st.sampled_from(EST_DATA), regressor=st.booleans())
def test_estimator_data_kinds(kind, regressor):
    """The estimators: native torch/JAX X of every dtype is fitted, or refused with a clear error (complex
    never cast to real)."""
    lib = kind.split()[0] if kind.split()[0] in ("torch", "jax") else "numpy"
    if lib != "numpy" and _backend.unavailable_reason(lib):
        return
    value = (_native_kinds(lib) if lib != "numpy" else HOST_KINDS)[kind]()
    Est = MLPRegressor if regressor else MLPClassifier
    y = Y[:, 0] if regressor else LABELS
    exc = names_it(lambda: Est(hidden_layer_sizes=(3,), max_iter=2).fit(value, y), "X", "array", "Complex",
                   "dtype", "sample", "dimension", "Expected 2D", "NaN", "numeric", "sparse")
    if "complex" in kind:
        assert exc is not None and "Complex" in str(exc)
