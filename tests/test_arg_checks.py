"""Issue 19 items 4-7: one family of argument checks (``portable_bp._checks``) at every public callable,
the estimators in scikit-learn's words, native torch/JAX inputs checked as NumPy ones, and a CLI that
never ends in a traceback (Ctrl-C at any moment: one line, exit 130).

Each test here failed before its fix (OverflowError, MemoryError, numpy's messages, silently dropped
imaginary parts, AttributeError at the first epoch, tracebacks). The property tests over every
callable's hyper-parameters are tests/test_fuzz_params.py.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import portable_bp as pbp
from portable_bp import _backend, _checks, checkpoint, cli, optim
from portable_bp.optim import schedules
from portable_bp.train import CSVLogger, EarlyStopping, JSONLogger, LambdaCallback, ProgressBar, ReduceLROnPlateau

SRC = os.path.dirname(os.path.dirname(os.path.abspath(pbp.__file__)))
HUGE = 10**400  # an int no float can hold

rng = np.random.default_rng(0)
X = rng.normal(size=(40, 2))
Y = (X[:, :1] > 0).astype(float)


def net(backend="numpy", **kw):
    return pbp.MLP([2, 3, 1], backend=backend, seed=0, **kw)


def fit(model=None, **kw):
    args = dict(epochs=1, batch_size=8, lr=0.1, progress=False) | kw
    return (model or net()).fit(X, Y, **args)


# -- item 4: ints beyond float range, bools, NumPy scalars ---------------------------------------
BEYOND_FLOAT = {
    "optim.adam(lr=10**400)": (lambda: optim.adam(lr=HUGE), "lr"),
    "optim.sgd(10**400)": (lambda: optim.sgd(HUGE), "lr"),
    "optim.adam(eps=10**400)": (lambda: optim.adam(eps=HUGE), "eps"),
    "optim.adamw(weight_decay=10**400)": (lambda: optim.adamw(weight_decay=HUGE), "weight_decay"),
    "optim.momentum(0.1, beta=10**400)": (lambda: optim.momentum(0.1, beta=HUGE), "beta"),
    "fit(l2=10**400)": (lambda: fit(l2=HUGE), "l2"),
    "fit(lr=10**400)": (lambda: fit(lr=HUGE), "lr"),
    "update(lr=10**400)": (lambda: net().update(X, Y, HUGE), "lr"),
    "MLP([2, 10**400, 1])": (lambda: pbp.MLP([2, HUGE, 1]), "sizes"),
    "MLP(dropout=10**400)": (lambda: pbp.MLP([2, 3, 1], dropout=HUGE), "dropout"),
    "schedules.constant(10**400)": (lambda: schedules.constant(HUGE), "lr"),
    "schedules.invscaling(0.1, power_t=10**400)": (lambda: schedules.invscaling(0.1, power_t=HUGE), "power_t"),
    "EarlyStopping(min_delta=10**400)": (lambda: EarlyStopping(min_delta=HUGE), "min_delta"),
    "ReduceLROnPlateau(min_lr=10**400)": (lambda: ReduceLROnPlateau(min_lr=HUGE), "min_lr"),
}


@pytest.mark.parametrize("call", list(BEYOND_FLOAT))
def test_ints_beyond_float_range_are_value_errors_naming_the_parameter(call):
    """Before: OverflowError ("int too large to convert to float") from deep inside."""
    fn, name = BEYOND_FLOAT[call]
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        fn()


@pytest.mark.parametrize("make, name", [
    (lambda: schedules.invscaling(0.1, power_t=500), "power_t"),
    (lambda: schedules.cosine(0.1, decay_steps=HUGE), "decay_steps"),
    (lambda: schedules.step_decay(0.1, every=HUGE), "every"),
    (lambda: schedules.cosine(0.1, decay_steps=2**53 + 1), "decay_steps"),
])
def test_schedules_refuse_at_construction_what_would_overflow_in_training(make, name):
    """Before: accepted, then OverflowError inside fit (invscaling at step 5) or at the first step."""
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        make()


def test_the_largest_accepted_schedules_do_not_overflow_up_to_their_last_step():
    """The construction bounds are the real ones: at the bound, the schedules stay finite at step 2^53 - 1,
    on a Python int (the loop's ``training.lr()``) and on a float64 array (the compiled step)."""
    last = schedules.MAX_STEPS - 1
    for s in (schedules.invscaling(0.1, power_t=schedules.MAX_POWER_T),
              schedules.cosine(0.1, decay_steps=schedules.MAX_STEPS),
              schedules.step_decay(0.1, every=schedules.MAX_STEPS)):
        for step in (last, np.asarray(float(last))):
            with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow: harmless
                value = float(s(step))
            assert 0 <= value <= 0.1 and np.isfinite(value)
    # and the one used in the issue: power_t=500 overflows Python's float at step 5, so it must be refused
    with pytest.raises(OverflowError):
        0.1 / (5 + 1) ** 500.0


@pytest.mark.parametrize("returned", [None, "0.1", np.ones(3)])
def test_a_custom_schedule_returning_a_non_number_is_a_clear_type_error(returned, backend):
    """Before: "unsupported operand type(s) for *: 'NoneType' and 'float'" or a UFuncTypeError from a step."""
    for opt in (optim.sgd(lambda step: returned), optim.adam(lambda step: returned)):
        with pytest.raises(TypeError, match=r"^lr \(the schedule .*\) must return"):
            fit(net(backend), lr=None, optimizer=opt)


def test_a_custom_schedule_returning_a_bad_number_is_a_value_error():
    with pytest.raises(ValueError, match=r"^lr \(the schedule"):
        fit(lr=None, optimizer=optim.sgd(lambda step: float("nan")))
    with pytest.raises(ValueError, match=r"^lr \(the schedule"):
        fit(lr=None, optimizer=optim.sgd(lambda step: -0.1))
    fit(lr=None, optimizer=optim.sgd(lambda step: 0.1 / (1 + step)))  # a good one trains


def test_callbacks_take_numpy_scalars_and_refuse_bools_and_non_bools():
    """Before: patience=np.int64(3) refused ("must be an integer"), min_delta=True taken as 1.0,
    restore_best="no" taken as True."""
    assert EarlyStopping(patience=np.int64(3)).patience == 3
    assert EarlyStopping(patience=np.array(3), min_delta=np.float32(0.5)).min_delta == 0.5
    assert ReduceLROnPlateau(factor=np.float64(0.5), patience=np.int32(2)).factor == 0.5
    assert fit(validation_data=(X, Y), patience=np.int64(3))  # the shorthand, as before
    for make, name in [(lambda: EarlyStopping(min_delta=True), "min_delta"),
                       (lambda: EarlyStopping(patience=True), "patience"),
                       (lambda: ReduceLROnPlateau(factor=True), "factor"),
                       (lambda: EarlyStopping(restore_best="no"), "restore_best"),
                       (lambda: EarlyStopping(restore_best=1), "restore_best"),
                       (lambda: EarlyStopping(patience=2.5), "patience"),
                       (lambda: ReduceLROnPlateau(factor=1.5), "factor"),
                       (lambda: LambdaCallback("not callable"), "on_epoch_end"),
                       (lambda: JSONLogger(3), "path"),
                       (lambda: CSVLogger(None), "path")]:
        with pytest.raises((TypeError, ValueError), match=rf"^{name}\b"):
            make()
    assert EarlyStopping(restore_best=np.bool_(False)).restore_best is False


def test_progress_bar_file_must_be_a_stream_at_construction(tmp_path, capsys):
    """Before: ProgressBar(file="log.txt") failed at the first epoch with AttributeError ('str' ... 'write')."""
    with pytest.raises(TypeError, match=r"^file must be a text stream.*open it first"):
        ProgressBar(file=str(tmp_path / "log.txt"))
    with pytest.raises(TypeError, match=r"^file must be"):
        ProgressBar(file=tmp_path / "log.txt")
    with open(tmp_path / "log.txt", "w") as f:  # the documented way: an open file
        fit(epochs=2, callbacks=[ProgressBar(file=f)])
    assert (tmp_path / "log.txt").read_text().count("epoch") == 2


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sample_weights_whose_sum_overflows_are_refused_at_fit_start(dtype):
    """Before: accepted, then a DivergenceError blaming the learning rate."""
    big = float(np.finfo(dtype).max)
    for w in (np.full(40, 1e308), np.full(40, big / 10)):
        with pytest.raises(ValueError, match=r"^sample_weight sums to .*rescale"):
            fit(net(dtype=dtype), sample_weight=w)
    history = fit(net(dtype=dtype), sample_weight=np.full(40, big / 100))  # a finite sum is fine
    assert np.isfinite(history["cost"][0])


def test_numpy_scalars_and_0d_arrays_are_numbers_everywhere():
    model = pbp.MLP(np.array([2, 3, 1]), seed=np.int64(0), dropout=np.float32(0.25))
    h = model.fit(X, Y, epochs=np.int64(2), batch_size=np.array(8), lr=np.float64(0.1), l2=np.array(0.0),
                  shuffle=np.bool_(True), progress=False)
    assert len(h["cost"]) == 2
    assert optim.adam(np.float32(0.01), beta1=np.array(0.9)).lr == pytest.approx(0.01)
    assert schedules.cosine(np.float64(0.1), decay_steps=np.int64(10)).decay_steps == 10
    with pytest.raises(TypeError, match="^epochs"):
        fit(epochs=True)
    with pytest.raises(TypeError, match="^l2"):
        fit(l2=False)


def test_every_copy_of_the_checks_is_gone():
    """The old per-module checkers are removed; what is left delegates to _checks."""
    from portable_bp import _validation, initializers
    from portable_bp.train import callbacks

    for module, names in [(_validation, ["check_choice", "check_positive", "check_nonnegative", "check_bool",
                                         "check_seed", "check_callable", "check_pair", "check_sizes"]),
                          (initializers, ["check_memory", "available_memory"])]:
        for name in names:
            assert not hasattr(module, name), f"{module.__name__}.{name} is a copy of a _checks function"
    assert schedules._real is _checks.real
    assert "isinstance(patience" not in open(callbacks.__file__).read()


# -- item 5: the estimators in their own words ------------------------------------------------------
sk = pytest.importorskip("sklearn")
from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError as SkInvalid  # noqa: E402

from portable_bp.sklearn import InvalidParameterError, MLPClassifier, MLPRegressor  # noqa: E402

LABELS = (X[:, 0] > 0).astype(int)

#: (parameter, value) that scikit-learn's _parameter_constraints refuse: the message must be scikit-learn's
REFUSED_BY_SKLEARN = [
    ("alpha", np.inf), ("alpha", -1.0), ("alpha", float("nan")), ("alpha", "0.1"),
    ("random_state", -1), ("random_state", 2**32), ("random_state", 1.5), ("random_state", "0"),
    ("learning_rate_init", 0.0), ("learning_rate_init", np.inf), ("max_iter", 0), ("max_iter", 2.0),
    ("tol", -1e-3), ("momentum", 1.5), ("beta_1", 1.0), ("beta_2", -0.1), ("epsilon", 0.0),
    ("validation_fraction", 1.0), ("n_iter_no_change", 0), ("n_iter_no_change", 2.5), ("max_fun", 0),
    ("batch_size", 0), ("batch_size", "big"), ("power_t", -1.0), ("verbose", -1), ("shuffle", "yes"),
    ("warm_start", 1), ("early_stopping", None), ("nesterovs_momentum", "no"), ("solver", "newton"),
    ("activation", "softsign"), ("learning_rate", "cyclic"), ("hidden_layer_sizes", "abc"),
]


@pytest.mark.parametrize("name, value", REFUSED_BY_SKLEARN, ids=[f"{n}={v!r}" for n, v in REFUSED_BY_SKLEARN])
def test_estimators_refuse_what_sklearn_refuses_with_its_message(name, value):
    """Before: alpha=inf gave "l2 must be finite", random_state=-1 numpy's seed message, ..."""
    with pytest.raises(SkInvalid) as theirs:
        SkClassifier(**{name: value}).fit(X, LABELS)
    with pytest.raises(InvalidParameterError) as ours:
        MLPClassifier(**({"max_iter": 2} | {name: value})).fit(X, LABELS)
    assert str(ours.value).startswith(f"The '{name}' parameter of MLPClassifier must be"), ours.value
    # ours: more activations, the options sorted, a bound on the counts (max_iter, max_fun)
    if name not in ("activation", "solver", "learning_rate", "max_iter", "max_fun"):
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("name", ["alpha", "tol", "max_iter", "learning_rate_init", "momentum", "batch_size"])
def test_estimators_refuse_bools_as_numbers(name):
    """scikit-learn takes alpha=True as 1; a bool is never a number here (as everywhere in portable_bp)."""
    with pytest.raises(InvalidParameterError, match=rf"^The '{name}' parameter of MLPClassifier must be"):
        MLPClassifier(**{name: True}).fit(X, LABELS)


@pytest.mark.parametrize("kwargs, name", [
    (dict(max_iter=10**30), "max_iter"), (dict(learning_rate_init=HUGE), "learning_rate_init"),
    (dict(alpha=HUGE), "alpha"), (dict(tol=HUGE), "tol"), (dict(max_fun=10**30), "max_fun"),
    (dict(random_state=HUGE), "random_state"),
])
def test_estimators_name_their_own_parameters_for_absurd_values(kwargs, name):
    """Before: max_iter=10**30 gave "epochs must be at most ..." (MLP.fit's word), others OverflowError."""
    for Est, y in ((MLPClassifier, LABELS), (MLPRegressor, Y[:, 0])):
        with pytest.raises(InvalidParameterError, match=rf"^The '{name}' parameter of {Est.__name__}"):
            Est(hidden_layer_sizes=(3,), **kwargs).fit(X, y)


def test_hidden_layer_sizes_too_large_is_refused_before_allocating():
    """Before: MemoryError (NumPy's "Unable to allocate 14.6 TiB") after trying."""
    t0 = time.perf_counter()
    for sizes in [(10**12,), (10**6, 10**6), (HUGE,)]:
        with pytest.raises(ValueError, match=r"^hidden_layer_sizes=.* is too large for this machine"):
            MLPClassifier(sizes).fit(X, LABELS)
    assert time.perf_counter() - t0 < 5


def test_estimator_numbers_that_overflow_later_are_refused_or_harmless():
    """alpha=1e308 (finite, but alpha·n / batch_size is not) names alpha; invscaling with a power_t that
    overflows scikit-learn's own formula (OverflowError there) trains with a vanishing rate."""
    with pytest.raises(ValueError, match=r"^alpha=1e\+308 is too large"):
        MLPClassifier((3,), alpha=1e308, max_iter=2).fit(X, LABELS)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier((3,), solver="sgd", learning_rate="invscaling", power_t=500.0, max_iter=3,
                            random_state=0).fit(X, LABELS)
    assert len(est.loss_curve_) == 3 and np.all(np.isfinite(est.loss_curve_))


# -- item 6: native torch / JAX inputs get the same checks ----------------------------------------
def _native(lib, a, dtype=None):
    if lib == "torch":
        torch = pytest.importorskip("torch")
        return torch.asarray(a, dtype=dtype)
    jnp = pytest.importorskip("jax.numpy")
    return jnp.asarray(a, dtype=dtype)


@pytest.mark.parametrize("lib", ["torch", "jax"])
def test_estimators_refuse_complex_native_input(lib):
    """Before: the imaginary part was dropped without a word and the fit went on."""
    Xc = _native(lib, X + 1j * X, "complex128" if lib == "jax" else None)
    for Est, y in ((MLPClassifier, LABELS), (MLPRegressor, Y[:, 0])):
        with pytest.raises(ValueError, match=r"^Complex data not supported"):
            Est(hidden_layer_sizes=(3,), max_iter=2).fit(Xc, y)
    fitted = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2).fit(_native(lib, X), Y[:, 0])
    with pytest.raises(ValueError, match=r"^Complex data not supported"):
        fitted.predict(Xc)
    with pytest.raises(ValueError, match=r"^Complex data not supported"):
        MLPRegressor(hidden_layer_sizes=(3,), max_iter=2).fit(_native(lib, X), Y[:, 0] + 1j)


def test_sparse_torch_tensors_are_refused_on_the_torch_backend():
    """Before: a sparse tensor skipped the checks on the torch backend (RuntimeError from array_api_compat,
    or a prediction from the sparse layout)."""
    torch = pytest.importorskip("torch")
    model = net("torch")
    Xs, Ys = torch.asarray(X).to_sparse(), torch.asarray(Y).to_sparse()
    for call in (lambda: model.predict(Xs), lambda: model.backprop(Xs, torch.asarray(Y)),
                 lambda: model.backprop(torch.asarray(X), Ys), lambda: fit(model, lr=0.1) and model.fit(
                     Xs, torch.asarray(Y), epochs=1, batch_size=8, lr=0.1, progress=False)):
        with pytest.raises(TypeError, match=r"sparse .*to_dense\(\)"):
            call()
    with pytest.raises(TypeError, match=r"sparse .*to_dense\(\)"):
        MLPClassifier((3,), max_iter=2).fit(Xs, LABELS)


@pytest.mark.parametrize("kind", ["timedelta64[s]", "datetime64[s]"])
def test_dates_and_durations_are_refused_on_every_backend(backend, kind):
    """Before: timedelta64 passed as integers on NumPy and failed deep in torch ("can't convert np.ndarray of type
    numpy.timedelta64")."""
    Xt = (X * 100).astype(np.int64).astype(kind)
    with pytest.raises(TypeError, match=r"^X must be numeric; got (timedelta64|datetime64)"):
        net(backend).predict(Xt)
    with pytest.raises(TypeError, match=r"^Y must be numeric"):
        net(backend).backprop(X, Y.astype(np.int64).astype(kind))


def test_complex_and_object_native_inputs_are_refused_on_every_backend(backend):
    xp = _backend.namespace(backend)
    model = net(backend)
    if backend != "array_api_strict":
        try:
            Xc = xp.asarray(X + 1j * X)
        except Exception:  # noqa: BLE001 - a library without complex arrays
            Xc = None
        if Xc is not None:
            with pytest.raises(TypeError, match=r"^X must be real-valued"):
                model.predict(Xc)
    with pytest.raises(TypeError, match=r"^X must be a numeric array; got object data"):
        model.predict(np.array([[1, None]], dtype=object))


def test_none_as_targets_is_refused_naming_Y_on_every_backend(backend):
    """Found by tests/test_fuzz_params.py: on JAX (where the checks are compiled into the call) Y=None was taken
    for "no targets" and failed with "<lambda>() missing 1 required positional argument: 'Y'"."""
    model = net(backend)
    for call in (lambda: model.backprop(X, None), lambda: model.cost(X, None), lambda: model.update(X, None, 0.1),
                 lambda: fit(model, lr=0.1) and model.fit(X, None, epochs=1, batch_size=8, lr=0.1, progress=False)):
        with pytest.raises(TypeError, match=r"^Y must be"):
            call()


def test_validation_split_beyond_one_is_refused_naming_it():
    """Found by tests/test_fuzz_params.py: validation_split=1e308 gave "OverflowError: cannot convert float
    infinity to integer"."""
    for v in (1e308, 1.5, 1.0, 0.0, -0.5, HUGE):
        with pytest.raises(ValueError, match=r"^validation_split must be in \(0, 1\)"):
            fit(validation_split=v)


def test_progress_must_be_a_bool():
    """Found by tests/test_fuzz_params.py: progress=np.ones(2) gave NumPy's "truth value of an array ... is
    ambiguous"; progress="no" showed a bar."""
    for v in (np.ones(2), "no", None, 1):
        with pytest.raises(TypeError, match=r"^progress must be True or False"):
            fit(progress=v)
    fit(progress=np.bool_(False))


def test_callbacks_that_cannot_take_their_arguments_are_refused_at_once():
    with pytest.raises(TypeError, match=r"^callback must accept 3 arguments \(epoch, net, history\)"):
        fit(callback=lambda epoch: None)
    with pytest.raises(TypeError, match=r"^on_epoch_end must accept 2 arguments"):
        LambdaCallback(lambda: None)
    seen = []
    fit(callback=lambda *a: seen.append(a[0]), epochs=2)
    assert seen == [0, 1]


def test_batch_size_error_says_what_validation_split_left():
    with pytest.raises(ValueError, match=r"^batch_size=8 is larger than the 6 training samples that validation_split"):
        fit(validation_split=0.85)


# -- item 7: the CLI never ends in a traceback ------------------------------------------------------
def test_layers_too_large_for_memory_are_a_usage_error(capsys):
    """Before: a MemoryError traceback after trying to allocate 3.2 TB."""
    for layers in ("2,100000000000,1", "2," + "9" * 400 + ",1"):
        with pytest.raises(SystemExit) as exc:
            cli.main(["train", "--layers", layers, "--quiet"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "--layers" in err.splitlines()[-1] and "memory" in err.splitlines()[-1]
    for flag, value in [("--lr", "1e400"), ("--lr", "inf"), ("--epochs", "10" * 20), ("--l2", "1e999"),
                        ("--seed", "-1"), ("--batch-size", "1" * 5000)]:
        with pytest.raises(SystemExit) as exc:
            cli.main(["train", flag, value, "--quiet"])
        assert exc.value.code == 2, (flag, value)
        assert f"argument {flag}" in capsys.readouterr().err.splitlines()[-1]


@pytest.fixture(scope="module")
def run_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", "--quiet", "--epochs", "1", "--out", str(out)]) == 0
    return (out / "weights.npz").read_bytes()


def _checkpoint_with(tmp_path, data, edit):
    path = tmp_path / "weights.npz"
    path.write_bytes(data)
    with np.load(path, allow_pickle=False) as f:
        arrays = {name: f[name] for name in f.files}
    arrays[checkpoint.META_KEY] = np.array(edit(str(arrays[checkpoint.META_KEY][()])))
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _set_user(**fields):
    def edit(text):
        meta = json.loads(text)
        meta["user"].update(fields)
        return json.dumps(meta)
    return edit


@pytest.mark.parametrize("edit, field", [
    (_set_user(history={"cost": [HUGE], "accuracy": [0.5]}), "'history'"),
    (_set_user(epochs_done=HUGE), "'epochs_done'"),
    (_set_user(seed=HUGE), "'seed'"),
    (_set_user(epochs_done=10**10, history={}), "'epochs_done'"),
    (lambda text: text.replace('"user": {', '"user": {"deep": ' + "[" * 100000 + "]" * 100000 + ", ", 1), None),
    (lambda text: text.replace('"sizes": [', '"sizes": [' + "9" * 400 + ", ", 1), None),
])
def test_resume_from_crafted_metadata_is_one_line(tmp_path, capsys, run_checkpoint, edit, field):
    """Before: OverflowError / RecursionError tracebacks from --resume."""
    path = _checkpoint_with(tmp_path, run_checkpoint, edit)
    capsys.readouterr()
    code = cli.main(["train", "--quiet", "--epochs", "1", "--resume", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("portable-bp train: error:")
    if field:
        assert field in err


def _sigint_runs(delays, args, timeout=120):
    """Start the console script (as pip's wrapper runs it) once per delay; send SIGINT ``delay`` seconds after
    it imported the entry module (the interpreter's own start-up and that import, before the module's first
    line, are out of reach). SIGINT as a terminal sends it: default disposition, whatever this test runs under."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    script = ("import re, sys; from _portable_bp_entry import main; sys.stderr.write('ready\\n'); "
              "sys.stderr.flush(); sys.exit(main())")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a Python handler: SIG_DFL after exec
    try:
        procs = [subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True, env=env) for _ in delays]
    finally:
        signal.signal(signal.SIGINT, previous)
    results = []
    try:
        for proc in procs:
            assert proc.stderr.readline() == "ready\n"
        t0 = time.perf_counter()
        for delay, proc in sorted(zip(delays, procs), key=lambda p: p[0]):
            time.sleep(max(0.0, t0 + delay - time.perf_counter()))
            proc.send_signal(signal.SIGINT)
        for delay, proc in zip(delays, procs):
            _, err = proc.communicate(timeout=timeout)
            results.append((delay, proc.returncode, err))
    finally:
        for proc in procs:
            proc.kill()
    return results


def test_ctrl_c_at_any_moment_from_the_entry_point_exits_130_with_one_line(tmp_path):
    """Before: Ctrl-C in the first ~0.5 s (while importing NumPy and the library) gave a KeyboardInterrupt
    traceback and death by signal (-2). Delays from 0 (importing) to 2.5 s (training) after the entry
    point's first line."""
    delays = [0.0, 0.03, 0.1, 0.3, 0.8, 2.5]
    results = _sigint_runs(delays, ["train", "--epochs", "100000", "--quiet", "--out", str(tmp_path / "run")])
    for delay, code, err in results:
        assert code == 130, (delay, code, err)
        assert err.count("\n") == 1 and "Traceback" not in err and "interrupted (Ctrl-C)" in err, (delay, err)


def test_the_console_script_is_the_light_entry_point():
    """pyproject's console script is the module that handles Ctrl-C before the heavy imports, and that module
    imports nothing but what the interpreter has loaded at start-up."""
    text = open(os.path.join(os.path.dirname(SRC), "pyproject.toml")).read()
    assert 'portable-bp = "_portable_bp_entry:main"' in text
    code = ("import sys; before = set(sys.modules); import _portable_bp_entry; "
            "print(sorted(set(sys.modules) - before - {'_portable_bp_entry'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": SRC}).stdout
    assert out.strip() == "[]", out
