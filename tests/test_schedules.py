"""The optax-shaped schedules (warmup_cosine, exponential_decay, piecewise_constant, join) against optax
itself over every step and past the end, for Python ints and 0-d arrays of every backend; one trace
under jax.jit; config round trips; a checkpoint that resumes a scheduled run exactly."""

import json
import math

import numpy as np
import pytest

import portable_bp as pbp
from helpers import params_bits
from portable_bp import _backend, optim
from portable_bp.optim import schedules

try:
    import optax
except ImportError:  # the NumPy-formula oracle below still runs
    optax = None
needs_optax = pytest.mark.skipif(optax is None, reason="optax is not installed: no reference schedules")


def formula(name, t):
    """The cases' values written out from optax's docstrings, in plain Python (the oracle without optax)."""
    cos = lambda c, T: 0.5 * (1 + math.cos(math.pi * min(c, T) / T))
    if name == "warmup_cosine":
        return 0.002 + (0.1 - 0.002) * t / 5 if t < 5 else 0.1 * ((1 - 0.1) * cos(t - 5, 25) + 0.1)
    if name == "warmup_cosine-no-warmup":
        return 0.5 * cos(t, 12)
    if name == "warmup_cosine-then-constant":
        return 0.3 * t / 7 if t < 7 else 0.3
    if name == "exponential":
        return 0.1 * 0.5 ** (t / 7)
    if name == "exponential-staircase-begin-end":
        return 0.1 if t <= 3 else max(0.1 * 0.5 ** math.floor((t - 3) / 4), 0.02)
    if name == "exponential-growing-bounded":
        return min(0.1 * 1.5 ** (t / 7), 0.5)
    if name == "piecewise_constant":
        return 0.1 * (0.5 if t >= 10 else 1) * (0.1 if t >= 20 else 1)
    return 0.1 if t < 5 else 0.2 * cos(t - 5, 10) if t < 12 else 0.3 / (t - 12 + 1) ** 0.5  # join


def _cases():
    """(ours, optax's, steps to compare)."""
    if optax is None:
        nothing = lambda *a, **k: None
        return [(c[0], None, c[2]) for c in _our_cases(type("NoOptax", (), {"__getattr__": lambda s, n: nothing})())]
    return _our_cases(optax)


def _our_cases(optax):
    return [
        (schedules.warmup_cosine(0.1, warmup_steps=5, decay_steps=30, end=0.01, init=0.002),
         optax.warmup_cosine_decay_schedule(init_value=0.002, peak_value=0.1, warmup_steps=5, decay_steps=30,
                                            end_value=0.01), 40),
        (schedules.warmup_cosine(0.5, warmup_steps=0, decay_steps=12),
         optax.warmup_cosine_decay_schedule(init_value=0.0, peak_value=0.5, warmup_steps=0, decay_steps=12), 22),
        (schedules.warmup_cosine(0.3, warmup_steps=7, decay_steps=8, end=0.3),
         optax.warmup_cosine_decay_schedule(init_value=0.0, peak_value=0.3, warmup_steps=7, decay_steps=8,
                                            end_value=0.3), 18),
        (schedules.exponential_decay(0.1, transition_steps=7, decay_rate=0.5),
         optax.exponential_decay(0.1, transition_steps=7, decay_rate=0.5), 40),
        (schedules.exponential_decay(0.1, 4, 0.5, transition_begin=3, staircase=True, end=0.02),
         optax.exponential_decay(0.1, 4, 0.5, transition_begin=3, staircase=True, end_value=0.02), 40),
        (schedules.exponential_decay(0.1, 7, 1.5, end=0.5),
         optax.exponential_decay(0.1, 7, 1.5, end_value=0.5), 40),
        (schedules.piecewise_constant(0.1, {10: 0.5, 20: 0.1}),
         optax.piecewise_constant_schedule(0.1, {10: 0.5, 20: 0.1}), 30),
        (schedules.join([schedules.constant(0.1), schedules.cosine(0.2, decay_steps=10),
                         schedules.invscaling(0.3)], [5, 12]),
         optax.join_schedules([optax.constant_schedule(0.1), optax.cosine_decay_schedule(0.2, 10),
                               lambda t: 0.3 / (t + 1) ** 0.5], [5, 12]), 30),
    ]


CASES = _cases()
IDS = ["warmup_cosine", "warmup_cosine-no-warmup", "warmup_cosine-then-constant", "exponential",
       "exponential-staircase-begin-end", "exponential-growing-bounded", "piecewise_constant", "join"]


def optax_value(schedule, step):
    import jax

    jax.config.update("jax_enable_x64", True)  # as portable_bp's float64 on JAX does for the process
    return float(schedule(jax.numpy.asarray(float(step), dtype=jax.numpy.float64)))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_equals_the_formula(backend, case):
    ours, _, n = case
    name = IDS[CASES.index(case)]
    xp = _backend.namespace(backend)
    dtype = _backend.resolve_dtype(xp, "float64", backend)
    for step in range(n + 1):
        want = formula(name, step)
        assert abs(ours(step) - want) <= 1e-12
        assert abs(float(ours(xp.asarray(float(step), dtype=dtype))) - want) <= 1e-12


@needs_optax
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_equals_optax(backend, case):
    ours, theirs, n = case
    xp = _backend.namespace(backend)
    dtype = _backend.resolve_dtype(xp, "float64", backend)
    worst = 0.0
    for step in range(n + 1):
        want = optax_value(theirs, step)
        got = ours(step)
        assert isinstance(got, float)
        arr = ours(xp.asarray(float(step), dtype=dtype))
        assert _backend.to_numpy(arr).shape == () and _backend.to_numpy(arr).dtype == np.float64
        worst = max(worst, abs(got - want), abs(float(arr) - want))
    assert worst <= 1e-12


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_config_round_trip(case):
    ours = case[0]
    cfg = json.loads(json.dumps(ours.config()))
    assert schedules.from_config(cfg) == ours and cfg["schedule"] in schedules.NAMES
    assert optim.from_config(optim.sgd(ours).config()).lr == ours


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_traced_once_under_jax(case):
    if _backend.unavailable_reason("jax"):
        pytest.skip("jax not installed")
    import jax

    xp = _backend.namespace("jax")
    ours, _, n = case
    name = IDS[CASES.index(case)]
    traces = []
    jitted = jax.jit(lambda s: (traces.append(1), ours(s))[1])
    dtype = _backend.resolve_dtype(xp, "float64", "jax")
    got = [float(jitted(xp.asarray(float(t), dtype=dtype))) for t in range(n)]
    assert len(traces) == 1
    assert max(abs(g - formula(name, t)) for t, g in enumerate(got)) <= 1e-12


def test_a_warmup_run_resumes_from_a_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((40, 4)), (rng.uniform(size=(40, 3)) < 0.5).astype(float)
    sched = schedules.join([schedules.warmup_cosine(0.2, warmup_steps=6, decay_steps=20),
                            schedules.piecewise_constant(0.05, [(3, 0.5)])], [20])
    make = lambda: pbp.MLP([4, 6, 3], activation="sigmoid", output_activation="sigmoid", loss="cross_entropy", seed=0)
    straight, first = make(), make()
    straight.fit(X, Y, epochs=6, batch_size=8, optimizer=optim.adam(sched), seed=np.random.default_rng(1),
                 progress=False)
    r = np.random.default_rng(1)
    first.fit(X, Y, epochs=3, batch_size=8, optimizer=optim.adam(sched), seed=r, progress=False)
    second = pbp.load(first.save(tmp_path / "s.npz"))
    assert second.optimizer.lr == sched
    second.fit(X, Y, epochs=3, batch_size=8, seed=r, progress=False)
    assert params_bits(second) == params_bits(straight)


BAD = [
    (lambda: schedules.warmup_cosine(0.0, 2, 10), ValueError, "peak"),
    (lambda: schedules.warmup_cosine(0.1, -1, 10), ValueError, "warmup_steps"),
    (lambda: schedules.warmup_cosine(0.1, 10, 10), ValueError, "decay_steps"),
    (lambda: schedules.warmup_cosine(0.1, 2, 10, end=-0.1), ValueError, "end"),
    (lambda: schedules.warmup_cosine(0.1, 2.5, 10), TypeError, "warmup_steps"),
    (lambda: schedules.exponential_decay(0.1, 0, 0.5), ValueError, "transition_steps"),
    (lambda: schedules.exponential_decay(0.1, 5, 0.0), ValueError, "decay_rate"),
    (lambda: schedules.exponential_decay(0.1, 5, 0.5, staircase=1), TypeError, "staircase"),
    (lambda: schedules.piecewise_constant(0.1, {5: -0.5}), ValueError, "scale"),
    (lambda: schedules.piecewise_constant(0.1, 5), TypeError, "boundaries_and_scales"),
    (lambda: schedules.join([schedules.constant(0.1)], [3]), ValueError, "boundaries"),
    (lambda: schedules.join([schedules.constant(0.1), 0.2], [3]), TypeError, "schedules"),
    (lambda: schedules.join([schedules.constant(0.1)] * 3, [5, 2]), ValueError, "increasing"),
    (lambda: schedules.from_config({"schedule": "join", "schedules": [{"schedule": "nope"}], "boundaries": []}),
     ValueError, "nope"),
]


@pytest.mark.parametrize("call, exc, name", BAD, ids=range(len(BAD)))
def test_bad_arguments(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


def test_a_growing_exponential_decay_needs_an_end_bound():
    """decay_rate > 1 without end overflows float64 before MAX_STEPS steps: refused, naming decay_rate,
    at the step NumPy's own lr · rate^p first overflows; with end it is capped there (no overflow, no
    warning) on numbers and arrays."""
    with pytest.raises(ValueError, match="decay_rate=1.01 > 1 with no end bound") as info:
        schedules.exponential_decay(0.1, 10, 1.01)
    step = int(str(info.value).split("from step ")[1].split(" ")[0])
    with np.errstate(over="ignore"):
        grown = lambda t: 0.1 * np.float64(1.01) ** (t / 10)
        assert np.isfinite(grown(step - 1)) and np.isinf(grown(step))
    # a growth too slow to overflow within MAX_STEPS steps is allowed, and finite at the last one
    slow = schedules.exponential_decay(0.1, 2**50, 1.5)
    assert math.isfinite(slow(schedules.MAX_STEPS))
    capped = schedules.exponential_decay(0.1, 10, 1.01, end=1.0)
    with np.errstate(all="raise"):
        for t in (0, 5, 10**6, 10**15):
            expect = min(0.1 * 1.01 ** (t / 10), 1.0) if t < 10**4 else 1.0
            assert capped(t) == pytest.approx(expect, rel=1e-12)
            assert float(capped(np.asarray(float(t)))) == pytest.approx(expect, rel=1e-12)
    # and a shrinking rate with a far transition_begin never raises before it (rate^p with p < 0)
    assert schedules.exponential_decay(0.1, 10, 0.5, transition_begin=10**6)(0) == 0.1
