"""portable_bp.optim: every optimizer against a NumPy oracle written here and against torch.optim,
on every backend and under jax.jit (one compilation for 25 steps with a schedule); the schedules,
configs, names and argument checks."""

import json
import math

import numpy as np
import pytest

from portable_bp import _backend, optim
from portable_bp.optim import schedules

STEPS = 25
TOL = 1e-10  # on |got − want| / max(1, |want|)
SHAPES = ([(4, 3), (2, 4)], [(4, 1), None])  # ([W1, W2], [b1, None]): the second layer has no bias

CASES = [  # (id, factory, keyword arguments); the oracle fills in the defaults it knows itself
    ("sgd", "sgd", dict(lr=0.1)),
    ("momentum", "momentum", dict(lr=0.05)),
    ("momentum-beta0.5", "momentum", dict(lr=0.05, beta=0.5)),
    ("nesterov", "momentum", dict(lr=0.05, nesterov=True)),
    ("nesterov-beta0.7", "momentum", dict(lr=0.05, beta=0.7, nesterov=True)),
    ("adam", "adam", dict()),
    ("adam-custom", "adam", dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6)),
    ("adamw", "adamw", dict()),
    ("adamw-custom", "adamw", dict(lr=0.02, beta1=0.7, beta2=0.95, eps=1e-5, weight_decay=0.1)),
]
IDS = [c[0] for c in CASES]
DEFAULTS = {
    "sgd": {},
    "momentum": dict(beta=0.9, nesterov=False),
    "adam": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
    "adamw": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2),
}


def make(case, **override):
    _, kind, kw = case
    return getattr(optim, kind)(**{**kw, **override})


def problem(seed=0):
    """Initial params and STEPS gradient trees, as NumPy float64, from one fixed Generator."""
    rng = np.random.default_rng(seed)

    def draw():
        return tuple([None if s is None else rng.standard_normal(s) for s in group] for group in SHAPES)

    return draw(), [draw() for _ in range(STEPS)]


def leaves(tree):
    return [leaf for group in tree for leaf in group if leaf is not None]


def on(xp, dtype, tree):
    return optim.tree_map(lambda a: xp.asarray(a, dtype=dtype), tree)


def oracle(case, params, grads, lr_at=None):
    """The updates in plain NumPy, leaf by leaf, in their textbook form (torch's docs):
    momentum b ← g at t = 1, else β b + g, step b (nesterov g + β b); Adam with m̂ = m / (1 − β₁ᵗ),
    v̂ = v / (1 − β₂ᵗ), p ← p − η m̂ / (√v̂ + ε); AdamW decays p ← p (1 − η λ) first."""
    _, kind, kw = case
    h = {**DEFAULTS[kind], **kw}
    ps = [p.copy() for p in leaves(params)]
    buf, m, v = [None] * len(ps), [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    for t, g_tree in enumerate(grads, start=1):
        lr = h["lr"] if lr_at is None else lr_at(t - 1)
        for i, g in enumerate(leaves(g_tree)):
            if kind == "sgd":
                ps[i] = ps[i] - lr * g
            elif kind == "momentum":
                buf[i] = g.copy() if t == 1 else h["beta"] * buf[i] + g
                ps[i] = ps[i] - lr * (g + h["beta"] * buf[i] if h["nesterov"] else buf[i])
            else:
                ps[i] = ps[i] * (1 - lr * h["weight_decay"])
                m[i] = h["beta1"] * m[i] + (1 - h["beta1"]) * g
                v[i] = h["beta2"] * v[i] + (1 - h["beta2"]) * g**2
                m_hat, v_hat = m[i] / (1 - h["beta1"] ** t), v[i] / (1 - h["beta2"] ** t)
                ps[i] = ps[i] - lr * m_hat / (np.sqrt(v_hat) + h["eps"])
    return ps


def torch_reference(case, params, grads):
    """The same steps by torch.optim (float64 leaf tensors on the CPU, .grad set, opt.step())."""
    torch = pytest.importorskip("torch", reason="torch is not installed: no torch.optim to compare with")
    _, kind, kw = case
    h = {**DEFAULTS[kind], **kw}
    ps = [torch.tensor(p, dtype=torch.float64, device="cpu", requires_grad=True) for p in leaves(params)]
    if kind == "sgd":
        opt = torch.optim.SGD(ps, lr=h["lr"])
    elif kind == "momentum":
        opt = torch.optim.SGD(ps, lr=h["lr"], momentum=h["beta"], dampening=0, nesterov=h["nesterov"])
    else:
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        opt = cls(ps, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"], weight_decay=h["weight_decay"])
    for g_tree in grads:
        for p, g in zip(ps, leaves(g_tree)):
            p.grad = torch.tensor(g, dtype=torch.float64, device="cpu")
        opt.step()
    return [p.detach().cpu().numpy() for p in ps]


def deviation(got, want):
    """max |got − want| / max(1, |want|) over every leaf."""
    assert [g.shape for g in got] == [w.shape for w in want]
    return max(float(np.max(np.abs(g - w) / np.maximum(1.0, np.abs(w)))) for g, w in zip(got, want))


def run(opt, xp, dtype, params, grads, update=None, scale_at=None):
    """STEPS updates on the backend; returns the final params (NumPy leaves), the state and the tree."""
    update = update or opt.update
    p = on(xp, dtype, params)
    state = opt.init(p)
    for t, g in enumerate(grads):
        if scale_at is not None:
            state = state._replace(lr_scale=xp.asarray(scale_at(t), dtype=dtype))
        p, state = update(on(xp, dtype, g), state, p)
    return [_backend.to_numpy(a) for a in optim.tree_leaves(p)], state, p


def float64(backend):
    xp = _backend.namespace(backend)
    return xp, _backend.resolve_dtype(xp, "float64", backend)


# -- the updates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_numpy_oracle(backend, case):
    xp, dtype = float64(backend)
    params, grads = problem()
    got, state, tree = run(make(case), xp, dtype, params, grads)
    assert deviation(got, oracle(case, params, grads)) <= TOL
    assert deviation(got, leaves(params)) > 1e-3  # the params did move
    assert float(state.step) == STEPS and float(state.lr_scale) == 1.0
    assert tree[1][1] is None and isinstance(tree, tuple) and isinstance(tree[0], list)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_torch_optim(backend, case):
    xp, dtype = float64(backend)
    params, grads = problem(seed=1)
    want = torch_reference(case, params, grads)
    got, _, _ = run(make(case), xp, dtype, params, grads)
    assert deviation(got, want) <= TOL


@pytest.mark.parametrize("scheduled", [False, True], ids=["constant-lr", "cosine-schedule"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jax_jit_compiles_once(case, scheduled):
    if _backend.unavailable_reason("jax"):
        pytest.skip(f"jax unavailable: {_backend.unavailable_reason('jax')}")
    import jax

    xp, dtype = float64("jax")
    params, grads = problem(seed=2)
    opt = make(case)
    lr0 = {**DEFAULTS[case[1]], **case[2]}["lr"]
    sched = schedules.cosine(lr0, decay_steps=40, alpha=0.1)  # a new lr every step
    if scheduled:
        opt = opt.with_lr(sched)
    traces = []

    def counted(g, s, p):
        traces.append(1)  # runs once per trace, not per call
        return opt.update(g, s, p)

    jitted = jax.jit(counted)
    scale_at = lambda t: 0.5 if t >= 10 else 1.0  # lr_scale changes mid-run: data, not a recompilation
    got, state, _ = run(opt, xp, dtype, params, grads, update=jitted, scale_at=scale_at)
    lr_at = lambda t: (sched(t) if scheduled else lr0) * scale_at(t)
    assert deviation(got, oracle(case, params, grads, lr_at=lr_at)) <= TOL
    assert len(traces) == 1
    if hasattr(jitted, "_cache_size"):
        assert jitted._cache_size() == 1


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_lr_scale_is_a_smaller_lr(backend, case):
    xp, dtype = float64(backend)
    params, grads = problem(seed=3)
    lr = {**DEFAULTS[case[1]], **case[2]}["lr"]
    half, _, _ = run(make(case), xp, dtype, params, grads, scale_at=lambda t: 0.5)
    want, _, _ = run(make(case, lr=lr / 2), xp, dtype, params, grads)
    assert deviation(half, want) <= 1e-14
    if case[0] == "sgd":  # η · 0.5 is exactly η / 2: bit for bit the same
        assert all(np.array_equal(a, b) for a, b in zip(half, want))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_prescale_and_descend_are_the_update(backend, case):
    """The training step's pair: gradients multiplied by prescale(state) (folded into δ^L), then
    descend — the same update, with a schedule and lr_scale changing every step. sgd folds its rate
    (η_t g carried in, one pass per parameter); the others take the gradient as it is."""
    xp, dtype = float64(backend)
    params, grads = problem(seed=5)
    sched = schedules.cosine(0.3, decay_steps=4, alpha=0.1)
    opt = make(case, lr=sched)
    descend = opt.descend or opt.update

    def via_pair(g, state, p):
        gain = opt.prescale(state)
        return descend(optim.tree_map(lambda a: gain * a, g), state, p)

    scale_at = lambda t: 1.0 / (t + 1)
    want, _, _ = run(opt, xp, dtype, params, grads, scale_at=scale_at)
    got, _, _ = run(opt, xp, dtype, params, grads, update=via_pair, scale_at=scale_at)
    assert deviation(got, want) <= 1e-15
    if case[0] == "sgd":
        assert opt.descend is not None
        assert float(_backend.to_numpy(opt.prescale(opt.init(on(xp, dtype, params))))) == pytest.approx(0.3)
    else:
        assert opt.descend is None and opt.prescale(None) == 1.0


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_init_and_float32(backend, case):
    xp = _backend.namespace(backend)
    dtype = _backend.resolve_dtype(xp, "float32", backend)
    params, grads = problem()
    opt = make(case)
    p = on(xp, dtype, params)
    state = opt.init(p)
    assert state.step.shape == () and state.step.dtype == dtype and float(state.step) == 0.0
    assert state.lr_scale.shape == () and state.lr_scale.dtype == dtype and float(state.lr_scale) == 1.0
    assert len(state.slots) == {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}[case[1]]
    for slot in state.slots:
        assert slot[1][1] is None
        assert all(float(xp.max(xp.abs(a))) == 0.0 and a.shape == b.shape for a, b in zip(leaves(slot), leaves(p)))
    new_p, new_state = opt.with_lr(schedules.invscaling(0.01)).update(on(xp, dtype, grads[0]), state, p)
    assert all(a.dtype == dtype for a in optim.tree_leaves((new_p, new_state)))  # Python floats never promote
    assert new_p[1][1] is None and float(new_state.step) == 1.0


def test_tree_map_and_leaves():
    calls = []
    tree = ([1, 2], (3, None, [4]))
    out = optim.tree_map(lambda a, b: calls.append(a) or a * 10 + b, tree, ([1, 1], (1, None, [1])))
    assert out == ([11, 21], (31, None, [41])) and isinstance(out[0], list) and isinstance(out[1], tuple)
    assert calls == [1, 2, 3, 4]  # never called on None
    assert optim.tree_leaves(tree) == [1, 2, 3, 4]
    assert optim.tree_leaves(([None], [None])) == []


def test_init_needs_an_array():
    with pytest.raises(ValueError, match="no arrays"):
        optim.sgd(0.1).init(([None], [None]))


# -- schedules ------------------------------------------------------------------------------------

SCHEDULE_VALUES = [  # (schedule, {step: value}) worked out by hand
    (schedules.constant(0.3), {0: 0.3, 7: 0.3, 1000: 0.3}),
    (schedules.step_decay(0.1, drop=0.5, every=10), {0: 0.1, 9: 0.1, 10: 0.05, 25: 0.025, 30: 0.0125}),
    (schedules.step_decay(0.2), {999: 0.2, 1000: 0.1}),  # defaults drop 0.5, every 1000
    (schedules.invscaling(0.1, power_t=0.5), {0: 0.1, 3: 0.05, 8: 0.1 / 3}),
    (schedules.invscaling(0.1, power_t=1.0), {0: 0.1, 1: 0.05, 9: 0.01}),
    (schedules.cosine(0.1, decay_steps=10, alpha=0.2), {0: 0.1, 5: 0.06, 10: 0.02, 20: 0.02}),
    (schedules.cosine(1.0, decay_steps=4), {0: 1.0, 1: (1 + math.sqrt(0.5)) / 2, 2: 0.5, 4: 0.0, 9: 0.0}),
]


@pytest.mark.parametrize("schedule, values", SCHEDULE_VALUES, ids=repr)
def test_schedule_values(backend, schedule, values):
    xp, dtype = float64(backend)
    for step, want in values.items():
        assert isinstance(schedule(step), float)
        assert schedule(step) == pytest.approx(want, rel=1e-14, abs=1e-15)
        # a float64 0-d array, and an integer one (computed in the default float dtype: float32 on torch)
        for arr, rel in ((xp.asarray(float(step), dtype=dtype), 1e-14), (xp.asarray(step), 1e-6)):
            out = schedule(arr)
            assert _backend.is_backend_array(out) or isinstance(out, np.generic)
            assert _backend.to_numpy(out).shape == ()
            assert float(out) == pytest.approx(want, rel=rel, abs=rel / 10)


@pytest.mark.parametrize("schedule", [s for s, _ in SCHEDULE_VALUES], ids=repr)
def test_schedule_config_round_trip(schedule):
    cfg = json.loads(json.dumps(schedule.config()))
    assert cfg["schedule"] in schedules.NAMES
    assert schedules.from_config(cfg) == schedule
    assert schedules.get(cfg["schedule"].upper(), **{k: v for k, v in cfg.items() if k != "schedule"}) == schedule


# -- configs, names, arguments --------------------------------------------------------------------


@pytest.mark.parametrize("lr", [None, schedules.cosine(0.05, decay_steps=100, alpha=0.01),
                                schedules.step_decay(0.05, drop=0.1, every=3)], ids=["float", "cosine", "step"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_optimizer_config_round_trip(case, lr):
    opt = make(case) if lr is None else make(case, lr=lr)
    cfg = opt.config()
    back = optim.from_config(json.loads(json.dumps(cfg)))
    assert back.config() == cfg and back.name == opt.name and back.hyper == opt.hyper and back.lr == opt.lr
    assert cfg["name"] == case[1]
    assert opt.with_lr(0.5).config() == {**cfg, "lr": 0.5}


def test_get_by_name():
    assert optim.get("ADAM").config() == optim.adam().config()
    assert optim.get(" adamw ").config() == optim.adamw().config()
    assert optim.get("adam", 0.01).lr == 0.01
    assert optim.get("sgd", 0.1).config() == {"name": "sgd", "lr": 0.1}
    assert optim.get("Momentum", 0.1).hyper == {"beta": 0.9, "nesterov": False}
    assert optim.get("nesterov", 0.1).config() == optim.momentum(0.1, nesterov=True).config()
    cos = schedules.cosine(0.1, decay_steps=5)
    assert optim.get("sgd", cos).lr is cos
    assert set(optim.NAMES) == {"sgd", "momentum", "nesterov", "adam", "adamw"}
    for name in ("sgd", "momentum", "nesterov"):
        with pytest.raises(ValueError, match="lr="):
            optim.get(name)
    with pytest.raises(ValueError, match="nesterov"):  # the message lists the names
        optim.get("rmsprop", 0.1)
    with pytest.raises(ValueError, match="cosine"):
        schedules.get("linear", 0.1)


BAD_ARGUMENTS = [  # (call, exception, the argument's name in the message)
    (lambda: optim.sgd(0), ValueError, "lr"),
    (lambda: optim.sgd(-0.1), ValueError, "lr"),
    (lambda: optim.sgd(float("inf")), ValueError, "lr"),
    (lambda: optim.sgd(float("nan")), ValueError, "lr"),
    (lambda: optim.sgd("0.1"), TypeError, "lr"),
    (lambda: optim.sgd(True), TypeError, "lr"),
    (lambda: optim.momentum(0.1, beta=1.0), ValueError, "beta"),
    (lambda: optim.momentum(0.1, beta=-0.1), ValueError, "beta"),
    (lambda: optim.momentum(0.1, beta="0.9"), TypeError, "beta"),
    (lambda: optim.momentum(0.1, nesterov=1), TypeError, "nesterov"),
    (lambda: optim.adam(beta1=1.0), ValueError, "beta1"),
    (lambda: optim.adam(beta2=1.5), ValueError, "beta2"),
    (lambda: optim.adam(eps=0.0), ValueError, "eps"),
    (lambda: optim.adamw(lr=-1.0), ValueError, "lr"),
    (lambda: optim.adamw(weight_decay=-0.01), ValueError, "weight_decay"),
    (lambda: optim.adamw(weight_decay=float("nan")), ValueError, "weight_decay"),
    (lambda: schedules.constant(0.0), ValueError, "lr"),
    (lambda: schedules.step_decay(0.1, drop=0.0), ValueError, "drop"),
    (lambda: schedules.step_decay(0.1, drop=1.5), ValueError, "drop"),
    (lambda: schedules.step_decay(0.1, every=0), ValueError, "every"),
    (lambda: schedules.step_decay(0.1, every=2.5), TypeError, "every"),
    (lambda: schedules.invscaling(0.1, power_t=-0.5), ValueError, "power_t"),
    (lambda: schedules.cosine(0.1, decay_steps=0), ValueError, "decay_steps"),
    (lambda: schedules.cosine(0.1, decay_steps=10, alpha=1.5), ValueError, "alpha"),
    (lambda: optim.from_config({"name": "adam", "lr": 0.1, "betas": [0.9, 0.99]}), ValueError, "betas"),
    (lambda: optim.from_config({"name": "sgd", "lr": 0.1, "beta": 0.9}), ValueError, "beta"),
    (lambda: optim.from_config({"name": "lion", "lr": 0.1}), ValueError, "name"),
    (lambda: optim.from_config({"lr": 0.1}), ValueError, "name"),
    (lambda: optim.from_config({"name": "sgd"}), ValueError, "lr"),
    (lambda: optim.from_config([("name", "sgd")]), ValueError, "dict"),
    (lambda: optim.from_config({"name": "sgd", "lr": {"schedule": "linear", "lr": 0.1}}), ValueError, "schedule"),
    (lambda: schedules.from_config({"schedule": "cosine", "lr": 0.1}), ValueError, "decay_steps"),
    (lambda: schedules.from_config({"schedule": "cosine", "lr": 0.1, "decay_steps": 3, "warmup": 2}), ValueError,
     "warmup"),
    (lambda: schedules.from_config({"lr": 0.1}), ValueError, "schedule"),
]


@pytest.mark.parametrize("call, exc, name", BAD_ARGUMENTS, ids=range(len(BAD_ARGUMENTS)))
def test_bad_arguments(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


def test_a_user_callable_lr_runs_but_has_no_config(backend):
    xp, dtype = float64(backend)
    params, grads = problem()
    opt = optim.sgd(lambda step: 0.1)
    got, _, _ = run(opt, xp, dtype, params, grads)
    assert deviation(got, oracle(CASES[0], params, grads)) <= TOL
    with pytest.raises(TypeError, match="lr"):
        opt.config()
