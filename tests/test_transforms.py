"""portable_bp.optim.transforms: the clips, chain, ema and accumulate, against NumPy oracles written
here from the formulas, torch (clip_grad_norm_ / clip_grad_value_ then torch.optim's step, inside
fit), fit itself (k mini-batches accumulated = one batch k times larger), on every backend; one
compilation of the JAX epoch with any chain; configs, pickling and checkpoints (format 3, and the
older files)."""

import json
import pickle

import numpy as np
import pytest

import portable_bp as pbp
from helpers import assert_close, params_bits, wrap_steps
from portable_bp import _backend, checkpoint, optim
from portable_bp.optim import schedules

STEPS = 25
SHAPES = ([(4, 3), (2, 4)], [(4, 1), None])  # the second layer has no bias
SIZES = [4, 6, 3]


def float64(backend):
    xp = _backend.namespace(backend)
    return xp, _backend.resolve_dtype(xp, "float64", backend)


def problem(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)

    def draw(s=1.0):
        return tuple([None if sh is None else s * rng.standard_normal(sh) for sh in group] for group in SHAPES)

    return draw(), [draw(scale) for _ in range(STEPS)]


def leaves(tree):
    return [leaf for group in tree for leaf in group if leaf is not None]


def on(xp, dtype, tree):
    return optim.tree_map(lambda a: xp.asarray(a, dtype=dtype), tree)


def run(opt, xp, dtype, params, grads, update=None):
    if update is None and "jax" in getattr(xp, "__name__", ""):
        import jax

        update = jax.jit(opt.update)  # eager JAX runs op by op: seconds for 25 steps
    update = update or opt.update
    p = on(xp, dtype, params)
    state = opt.init(p)
    for g in grads:
        p, state = update(on(xp, dtype, g), state, p)
    return [_backend.to_numpy(a) for a in optim.tree_leaves(p)], state


def deviation(got, want):
    assert [g.shape for g in got] == [w.shape for w in want]
    return max(float(np.max(np.abs(g - w) / np.maximum(1.0, np.abs(w)))) for g, w in zip(got, want))


# -- NumPy oracles, leaf by leaf, from the formulas -------------------------------------------------
def clip_oracle(kind, c, gs):
    if kind == "global":  # torch.nn.utils.clip_grad_norm_
        norm = np.sqrt(sum(np.sum(g**2) for g in gs))
        return [g * min(1.0, c / (norm + 1e-6)) for g in gs]
    if kind == "norm":  # Keras clipnorm
        return [g * c / max(np.sqrt(np.sum(g**2)), c) for g in gs]
    return [np.minimum(np.maximum(g, -c), c) for g in gs]  # Keras clipvalue


def adam_oracle(ps, grads, lr, clip=None, b1=0.9, b2=0.999, eps=1e-8, decay=None):
    """Adam (torch's textbook form) after an optional clip; with ``decay`` also the EMA of the weights."""
    ps = [p.copy() for p in ps]
    m, v, avg = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps], None
    for t, g_tree in enumerate(grads, start=1):
        gs = leaves(g_tree) if clip is None else clip_oracle(*clip, leaves(g_tree))
        for i, g in enumerate(gs):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g**2
            ps[i] = ps[i] - lr * (m[i] / (1 - b1**t)) / (np.sqrt(v[i] / (1 - b2**t)) + eps)
        if decay is not None:
            avg = [p.copy() for p in ps] if t == 1 else [decay * a + (1 - decay) * p for a, p in zip(avg, ps)]
    return ps, avg


CLIPS = [("global", optim.clip_by_global_norm), ("norm", optim.clip_by_norm), ("value", optim.clip)]


@pytest.mark.parametrize("kind, link, c", [(*CLIPS[0], 0.5), (*CLIPS[0], 1e3), (*CLIPS[1], 0.5), (*CLIPS[2], 0.5)],
                         ids=["global", "global-not-clipping", "norm", "value"])
def test_chain_of_a_clip_and_adam_matches_numpy_oracle(backend, kind, link, c):
    xp, dtype = float64(backend)
    params, grads = problem(scale=3.0)
    got, state = run(optim.chain(link(c), optim.adam(0.05)), xp, dtype, params, grads)
    want, _ = adam_oracle(leaves(params), grads, 0.05, clip=(kind, c))
    assert deviation(got, want) <= 1e-10
    plain, _ = adam_oracle(leaves(params), grads, 0.05)
    assert (deviation(got, plain) > 1e-6) == (c < 1)  # the clip did (or did not) change the run
    assert float(state.step) == STEPS and len(state.slots) == 2


def test_clips_on_one_gradient(backend):
    """One gradient, each clip, against the formula (and the bias-less layer stays None)."""
    xp, dtype = float64(backend)
    _, grads = problem(seed=4, scale=2.0)
    g = on(xp, dtype, grads[0])
    for kind, link in CLIPS:
        out, slots = link(0.7).update(g, (), None)
        assert slots == () and out[1][1] is None
        got = [_backend.to_numpy(a) for a in optim.tree_leaves(out)]
        assert deviation(got, clip_oracle(kind, 0.7, leaves(grads[0]))) <= 1e-14


def torch_fit(net, X, Y, *, epochs, batch, seed, lr, clip=None):
    """fit's run in torch: the same network and batches, loss.backward(), then clip_grad_norm_ (or
    clip_grad_value_) over all parameters, then torch.optim.Adam.step(). Also returns how many steps
    were clipped."""
    torch = pytest.importorskip("torch")
    ws, bs = net.params_numpy()
    W = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in ws]
    B = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in bs]
    opt = torch.optim.Adam(W + B, lr=lr)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    rng, clipped = np.random.default_rng(seed), 0
    for _ in range(epochs):
        order = torch.tensor(rng.permutation(len(X)))
        for k in range(0, len(X), batch):
            idx = order[k:k + batch]
            a = Xt[idx]
            for l, (w, b) in enumerate(zip(W, B)):
                z = a @ w.T + b.T
                a = torch.sigmoid(z) if l < len(W) - 1 else z
            loss = torch.nn.functional.binary_cross_entropy_with_logits(a, Yt[idx], reduction="none").sum(1).mean()
            opt.zero_grad()
            loss.backward()
            if clip is not None and clip[0] == "global":
                clipped += float(torch.nn.utils.clip_grad_norm_(W + B, clip[1])) > clip[1]
            elif clip is not None:
                clipped += max(float(p.grad.abs().max()) for p in W + B) > clip[1]
                torch.nn.utils.clip_grad_value_(W + B, clip[1])
            opt.step()
    return [w.detach().numpy() for w in W], [b.detach().numpy() for b in B], clipped


def data(n=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0]))
    Y = (rng.uniform(size=(n, SIZES[-1])) < 0.5).astype(float)
    return X, Y


def sigmoid_ce(backend, dtype="float64", seed=0):
    return pbp.MLP(SIZES, activation="sigmoid", output_activation="sigmoid", loss="cross_entropy",
                   backend=backend, dtype=dtype, seed=seed)


@pytest.mark.parametrize("clip", [("global", 0.05), ("value", 0.02)], ids=["clip_grad_norm_", "clip_grad_value_"])
def test_fit_with_a_clipped_adam_equals_torch(backend, clip):
    """fit(optimizer=chain(clip_by_global_norm(0.05), adam(0.05))): 25 steps (5 epochs of 5 shuffled
    batches) equal torch's clip_grad_norm_ then Adam.step on the same batches."""
    X, Y = data()
    net = sigmoid_ce(backend)
    ws, bs, clipped = torch_fit(net, X, Y, epochs=5, batch=10, seed=3, lr=0.05, clip=clip)
    assert clipped >= 20  # most of the 25 steps were clipped: the comparison tests the clip
    link = optim.clip_by_global_norm(clip[1]) if clip[0] == "global" else optim.clip(clip[1])
    net.fit(X, Y, epochs=5, batch_size=10, optimizer=optim.chain(link, optim.adam(0.05)), seed=3, progress=False)
    for l in range(len(ws)):
        assert_close(net.weights[l], ws[l], rtol=1e-10, atol=1e-12)
        assert_close(net.biases[l], bs[l], rtol=1e-10, atol=1e-12)
    unclipped, _, _ = torch_fit(net, X, Y, epochs=5, batch=10, seed=3, lr=0.05)
    assert not np.allclose(unclipped[0], ws[0], atol=1e-6)


# -- ema ---------------------------------------------------------------------------------------------
def test_ema_matches_numpy_oracle(backend):
    xp, dtype = float64(backend)
    params, grads = problem(seed=1)
    opt = optim.ema(optim.chain(optim.clip_by_global_norm(1.0), optim.adam(0.05)), decay=0.8)
    got, state = run(opt, xp, dtype, params, grads)
    want, avg = adam_oracle(leaves(params), grads, 0.05, clip=("global", 1.0), decay=0.8)
    assert deviation(got, want) <= 1e-10
    average = [_backend.to_numpy(a) for a in optim.tree_leaves(optim.ema_params(opt, state))]
    assert deviation(average, avg) <= 1e-10 and deviation(average, want) > 1e-4


def test_ema_in_fit_keeps_the_training_and_averages_every_step(backend):
    """One batch per epoch, so each epoch's parameters (seen by a callback) are each step's: the
    average is p₁, then μ a + (1 − μ) p_t; the training itself is plain sgd's, bit for bit on NumPy."""
    X, Y = data(n=20)
    plain, net = sigmoid_ce(backend), sigmoid_ce(backend)
    plain.fit(X, Y, epochs=6, batch_size=20, lr=0.5, progress=False)
    seen = []
    opt = optim.ema(optim.sgd(0.5), decay=0.7)
    assert opt.descend is not None  # sgd still folds η into δ^L under ema
    net.fit(X, Y, epochs=6, batch_size=20, optimizer=opt, progress=False,
            callback=lambda epoch, n, h: seen.append(n.params_numpy()))
    for p, q in zip(net.weights + net.biases, plain.weights + plain.biases):
        assert_close(p, q, rtol=1e-14, atol=1e-15)
    avg = None
    for ws, bs in seen:
        now = ws + bs
        avg = now if avg is None else [0.7 * a + 0.3 * p for a, p in zip(avg, now)]
    smooth = optim.averaged(net)
    assert smooth.backend == net.backend and smooth.optimizer is None
    for got, want in zip(smooth.weights + smooth.biases, avg):
        assert_close(got, want, rtol=1e-12, atol=1e-14)
    assert smooth.predict(X[:3]).shape == (3, 3)


def test_ema_without_ema_is_refused():
    net = sigmoid_ce("numpy")
    with pytest.raises(ValueError, match="optimizer"):
        optim.averaged(net)
    X, Y = data(n=20)
    net.fit(X, Y, epochs=1, batch_size=10, optimizer="adam", progress=False)
    with pytest.raises(ValueError, match="optim.ema"):
        optim.averaged(net)


# -- accumulate ------------------------------------------------------------------------------------
@pytest.mark.parametrize("inner, l2", [("adam", 0.0), ("sgd", 0.0), ("momentum", 1.0)])
def test_accumulate_equals_a_k_times_larger_batch(backend, inner, l2):
    X, Y = data(n=48)
    make = {"adam": lambda: optim.adam(0.01), "sgd": lambda: optim.sgd(0.5), "momentum": lambda: optim.momentum(0.1)}
    small, big = sigmoid_ce(backend), sigmoid_ce(backend)
    small.fit(X, Y, epochs=3, batch_size=4, optimizer=optim.accumulate(make[inner](), 3), l2=l2, shuffle=False,
              progress=False)
    big.fit(X, Y, epochs=3, batch_size=12, optimizer=make[inner](), l2=l2, shuffle=False, progress=False)
    for p, q in zip(small.weights + small.biases, big.weights + big.biases):
        assert_close(p, q, rtol=1e-12, atol=1e-12)
    assert float(pbp.to_numpy(small.optimizer_state.step)) == 12  # real updates, as optax counts them
    assert float(pbp.to_numpy(small.optimizer_state.slots[-1])) == 0  # no partial sum left


def test_accumulate_carries_a_partial_sum_into_the_next_epoch(backend, tmp_path):
    """10 mini-batches an epoch, k = 3: the sums run across epochs. The oracle is the mean-of-means
    identity: three batches of 4 make one batch of 12 of the same samples, so 3 epochs of X (30
    mini-batches) are 10 updates of fit on X repeated 3 times in batches of 12. Saved after 2 epochs
    (2 mini-batches pending) and resumed, it ends the same."""
    X, Y = data(n=40)
    acc = optim.accumulate(optim.adam(0.01), 3)
    net, oracle = sigmoid_ce(backend), sigmoid_ce(backend)
    net.fit(X, Y, epochs=2, batch_size=4, optimizer=acc, shuffle=False, progress=False)
    state = net.optimizer_state
    assert float(pbp.to_numpy(state.step)) == 6 and float(pbp.to_numpy(state.slots[-1])) == 2
    resumed = pbp.load(net.save(tmp_path / "acc.npz"), backend=backend)
    assert resumed.optimizer.config() == acc.config()
    for net_ in (net, resumed):
        net_.fit(X, Y, epochs=1, batch_size=4, shuffle=False, progress=False)
    oracle.fit(np.tile(X, (3, 1)), np.tile(Y, (3, 1)), epochs=1, batch_size=12, optimizer=optim.adam(0.01),
               shuffle=False, progress=False)
    for a, b, c in zip(net.weights + net.biases, resumed.weights + resumed.biases, oracle.weights + oracle.biases):
        assert_close(a, c, rtol=1e-12, atol=1e-12)
        assert_close(b, c, rtol=1e-12, atol=1e-12)
    assert float(pbp.to_numpy(net.optimizer_state.step)) == 10


def test_accumulate_sees_its_schedule_at_the_real_updates(backend):
    """optax's MultiSteps: the inner schedule counts updates, not mini-batches."""
    xp, dtype = float64(backend)
    params, grads = problem(seed=6)
    sched = schedules.warmup_cosine(0.1, warmup_steps=3, decay_steps=10)
    got, state = run(optim.accumulate(optim.sgd(sched), 5), xp, dtype, params, grads)
    ps = [p.copy() for p in leaves(params)]
    for t in range(STEPS // 5):
        mean = [sum(leaves(grads[5 * t + j])[i] for j in range(5)) / 5 for i in range(len(ps))]
        ps = [p - sched(t) * g for p, g in zip(ps, mean)]
    assert deviation(got, ps) <= 1e-12
    assert float(state.step) == 5


# -- one compilation, configs, pickles, checkpoints -----------------------------------------------
def everything():
    inner = optim.chain(optim.clip_by_global_norm(0.5), optim.clip(0.3),
                        optim.adam(schedules.warmup_cosine(0.02, warmup_steps=4, decay_steps=30)))
    return optim.accumulate(optim.ema(inner, 0.9), 2)


def test_the_jax_epoch_compiles_once_with_any_chain(monkeypatch):
    if _backend.unavailable_reason("jax"):
        pytest.skip("jax not installed")
    X, Y = data(n=40)
    traced = []
    wrap_steps(monkeypatch, lambda step, *args: (traced.append(args[2][0].shape), step(*args))[1])
    net, ref = sigmoid_ce("jax"), sigmoid_ce("numpy")
    net.fit(X, Y, epochs=5, batch_size=8, optimizer=everything(), seed=0, progress=False)
    assert traced == [(8, 4)]  # 25 steps, a schedule, a pending sum, an average: one compilation
    ref.fit(X, Y, epochs=5, batch_size=8, optimizer=everything(), seed=0, progress=False)
    for p, q in zip(net.weights + net.biases, ref.weights + ref.biases):
        assert_close(p, q, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make", [lambda: optim.chain(optim.clip_by_norm(1.0), optim.momentum(0.1, nesterov=True)),
                                  lambda: optim.ema(optim.adamw(0.01), 0.95),
                                  lambda: optim.accumulate(optim.sgd(0.1), 4),
                                  lambda: optim.chain(optim.sgd(0.1)), everything],
                         ids=["chain", "ema", "accumulate", "chain-of-one", "nested"])
def test_jit_of_a_composite_update_traces_once(make):
    if _backend.unavailable_reason("jax"):
        pytest.skip("jax not installed")
    import jax

    xp, dtype = float64("jax")
    params, grads = problem(seed=2)
    opt, traces = make(), []

    def counted(g, s, p):
        traces.append(1)
        return opt.update(g, s, p)

    jitted = jax.jit(counted)
    got, _ = run(opt, xp, dtype, params, grads, update=jitted)
    want, _ = run(opt, *float64("numpy"), params, grads)
    assert deviation(got, want) <= 1e-12 and len(traces) == 1


def test_composite_configs_pickles_and_with_lr():
    opt = everything()
    cfg = opt.config()
    assert cfg["name"] == "accumulate" and cfg["optimizer"]["optimizer"]["links"][0] == {
        "name": "clip_by_global_norm", "max_norm": 0.5}
    back = optim.from_config(json.loads(json.dumps(cfg)))
    assert back.config() == cfg and back.layout == opt.layout == ("params", "params", "params", "params", "scalar")
    assert pickle.loads(pickle.dumps(opt)).config() == cfg
    assert opt.with_lr(0.3).config()["optimizer"]["optimizer"]["optimizer"] == {**optim.adam(0.3).config()}
    assert isinstance(opt, optim.Optimizer) and opt.lr == opt.hyper["optimizer"].lr
    chain = optim.chain(optim.clip(1.0), optim.sgd(0.1))
    assert chain.prescale(None) == 1.0 and chain.descend is None  # nothing folded into δ^L through a clip


BAD = [
    (lambda: optim.chain(), ValueError, "optimizer"),
    (lambda: optim.chain(optim.adam(), optim.clip(1.0)), TypeError, "link 0"),
    (lambda: optim.chain(optim.clip(1.0)), TypeError, "last link"),
    (lambda: optim.chain(optim.clip(1.0), "adam"), TypeError, "last link"),
    (lambda: optim.clip_by_global_norm(0.0), ValueError, "max_norm"),
    (lambda: optim.clip_by_norm(float("nan")), ValueError, "max_norm"),
    (lambda: optim.clip(-1.0), ValueError, "max_value"),
    (lambda: optim.clip("1"), TypeError, "max_value"),
    (lambda: optim.ema(optim.adam(), 1.0), ValueError, "decay"),
    (lambda: optim.ema("adam"), TypeError, "optimizer"),
    (lambda: optim.accumulate(optim.adam(), 0), ValueError, "k"),
    (lambda: optim.accumulate(optim.adam(), 2.5), TypeError, "k"),
    (lambda: optim.from_config({"name": "ema", "decay": 0.9}), ValueError, "optimizer"),
    (lambda: optim.from_config({"name": "ema", "decay": 0.9, "optimizer": {"name": "sgd", "lr": 0.1}, "x": 1}),
     ValueError, "'x'"),
    (lambda: optim.from_config({"name": "chain", "links": [{"name": "clip_it"}], "optimizer": {"name": "sgd",
                                                                                               "lr": 0.1}}),
     ValueError, "links"),
]


@pytest.mark.parametrize("call, exc, name", BAD, ids=range(len(BAD)))
def test_bad_arguments(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


def test_checkpoint_of_a_chain_resumes_exactly(backend, tmp_path):
    X, Y = data(n=40)
    opt = everything()
    straight, first = sigmoid_ce(backend), sigmoid_ce(backend)
    straight.fit(X, Y, epochs=4, batch_size=8, optimizer=opt, seed=np.random.default_rng(2), progress=False)
    rng = np.random.default_rng(2)
    first.fit(X, Y, epochs=1, batch_size=8, optimizer=opt, seed=rng, progress=False)  # 5 steps: 1 pending
    path = first.save(tmp_path / "chain.npz")
    with np.load(path) as f:
        names = set(f.files)
    assert "opt4" in names and "opt3_W1" in names and "opt5_W1" not in names  # the count is 0-d; 4 trees
    assert checkpoint.read_metadata(path)["format_version"] == checkpoint.FORMAT_VERSION == 3
    second = pbp.load(path, backend=backend)
    assert second.optimizer.config() == opt.config()
    second.fit(X, Y, epochs=3, batch_size=8, seed=rng, progress=False)
    if backend == "numpy":
        assert params_bits(second) == params_bits(straight)
    for a, b in zip(optim.tree_leaves(list(second.optimizer_state)), optim.tree_leaves(list(straight.optimizer_state))):
        assert_close(a, b, rtol=1e-12, atol=1e-14)


def rewrite(path, out, change):
    with np.load(path) as f:
        arrays = dict(f)
    meta = json.loads(str(arrays["portable_bp_meta"][()]))
    change(meta, arrays)
    arrays["portable_bp_meta"] = np.array(json.dumps(meta))
    np.savez(out, **arrays)
    return out


def test_version_2_checkpoints_still_load(tmp_path):
    X, Y = data(n=20)
    net = sigmoid_ce("numpy")
    net.fit(X, Y, epochs=2, batch_size=10, optimizer=optim.adam(0.01), progress=False)
    old = rewrite(net.save(tmp_path / "v3.npz"), tmp_path / "v2.npz",
                  lambda meta, arrays: meta.update(format_version=2))
    back = pbp.load(old)
    assert back.optimizer.config() == net.optimizer.config() and params_bits(back) == params_bits(net)
    assert all(np.array_equal(a, b) for a, b in zip(optim.tree_leaves(list(pbp.to_numpy(x) for x in
               optim.tree_leaves(list(back.optimizer_state)))), optim.tree_leaves(list(pbp.to_numpy(x) for x in
               optim.tree_leaves(list(net.optimizer_state))))))


def test_a_checkpoint_whose_slots_disagree_with_its_optimizer_is_refused(tmp_path):
    X, Y = data(n=20)
    net = sigmoid_ce("numpy")
    net.fit(X, Y, epochs=1, batch_size=10, optimizer=optim.accumulate(optim.adam(0.01), 2), progress=False)
    path = net.save(tmp_path / "ok.npz")

    def drop_count(meta, arrays):
        meta["optimizer"]["slots"] = 3
        del arrays["opt3"]

    with pytest.raises(checkpoint.CheckpointError, match="slots"):
        pbp.load(rewrite(path, tmp_path / "bad.npz", drop_count))
    with pytest.raises(checkpoint.CheckpointError, match="opt3"):
        pbp.load(rewrite(path, tmp_path / "bad2.npz", lambda meta, arrays: arrays.pop("opt3")))


def test_float32_state_keeps_its_dtype(backend):
    X, Y = data(n=24)
    net = sigmoid_ce(backend, dtype="float32")
    net.fit(X, Y, epochs=2, batch_size=4, optimizer=everything(), seed=0, progress=False)
    assert all(pbp.to_numpy(a).dtype == np.float32 for a in optim.tree_leaves(list(net.optimizer_state)))


@pytest.mark.parametrize("wrap", [lambda o: optim.chain(optim.clip_by_norm(0.5), o), lambda o: optim.ema(o, 0.9),
                                  lambda o: optim.accumulate(o, 5)], ids=["chain", "ema", "accumulate"])
def test_lr_scale_reaches_the_inner_optimizer(wrap):
    """ReduceLROnPlateau scales state.lr_scale: through a link it is the inner optimizer's smaller lr."""
    xp, dtype = float64("numpy")
    params, grads = problem(seed=7)
    p, state = on(xp, dtype, params), None
    opt = wrap(optim.adam(0.05))
    state = opt.init(p)
    state = state._replace(lr_scale=xp.asarray(0.5, dtype=dtype))
    for g in grads:
        p, state = opt.update(on(xp, dtype, g), state, p)
    want, _ = run(wrap(optim.adam(0.025)), xp, dtype, params, grads)
    assert deviation([_backend.to_numpy(a) for a in optim.tree_leaves(p)], want) <= 1e-14
    assert float(state.lr_scale) == 0.5


def test_a_network_with_a_composite_pickles_copies_and_moves(backend):
    """pickle, deepcopy and net.to carry every link's state (a pending sum, the average, the moments)."""
    import copy

    X, Y = data(n=40)
    net = sigmoid_ce(backend)
    net.fit(X, Y, epochs=1, batch_size=8, optimizer=everything(), progress=False)  # 5 calls: 1 pending
    copies = [pickle.loads(pickle.dumps(net)), copy.deepcopy(net), net.to(backend="numpy")]
    for n in [*copies, net]:
        n.fit(X, Y, epochs=1, batch_size=8, seed=1, progress=False)
    for n in copies:
        assert n.optimizer.config() == net.optimizer.config()
        for p, q in zip(n.weights + n.biases, net.weights + net.biases):
            assert_close(p, q, rtol=1e-12, atol=1e-14)
