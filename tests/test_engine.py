"""The training engine: fit with optimizers, L2, schedules, callbacks and initialisers, against
independent oracles — network2.py (L2), torch.optim driving a torch network (every optimizer), and
plain restarts (a remembered optimizer, checkpoints)."""

import json
import math

import numpy as np
import pytest

import portable_bp as pbp
from helpers import assert_close, params_bits, wrap_steps
from portable_bp import _backend, optim
from portable_bp.optim import schedules
from portable_bp.train import CSVLogger, EarlyStopping, JSONLogger, LambdaCallback, ReduceLROnPlateau

SIZES = [4, 6, 3]


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0]))
    Y = (rng.uniform(size=(n, SIZES[-1])) < 0.5).astype(float)
    return X, Y


def sigmoid_ce(backend, dtype="float64", seed=0, **kw):
    return pbp.MLP(SIZES, activation="sigmoid", output_activation="sigmoid", loss="cross_entropy",
                   backend=backend, dtype=dtype, seed=seed, **kw)


# -- network2.py's L2 regularisation (an independent oracle written from the book's code) ----------
class Network2:
    """network2.py's Network with CrossEntropyCost: update_mini_batch and total_cost, lmbda included."""

    def __init__(self, weights, biases):
        self.weights, self.biases = [w.copy() for w in weights], [b.copy() for b in biases]

    @staticmethod
    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = self.sigmoid(np.dot(w, a) + b)
        return a

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation, activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = self.sigmoid(z)
            activations.append(activation)
        delta = activations[-1] - y  # CrossEntropyCost.delta
        nabla_b[-1], nabla_w[-1] = delta, np.dot(delta, activations[-2].transpose())
        for l in range(2, len(self.weights) + 1):
            sp = self.sigmoid(zs[-l]) * (1 - self.sigmoid(zs[-l]))
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sp
            nabla_b[-l], nabla_w[-l] = delta, np.dot(delta, activations[-l - 1].transpose())
        return nabla_b, nabla_w

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            dnb, dnw = self.backprop(x, y)
            nabla_b = [nb + d for nb, d in zip(nabla_b, dnb)]
            nabla_w = [nw + d for nw, d in zip(nabla_w, dnw)]
        self.weights = [(1 - eta * (lmbda / n)) * w - (eta / len(mini_batch)) * nw
                        for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def total_cost(self, data, lmbda):
        cost = 0.0
        for x, y in data:
            a = self.feedforward(x)
            cost += np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a))) / len(data)
        return cost + 0.5 * (lmbda / len(data)) * sum(np.linalg.norm(w) ** 2 for w in self.weights)


def test_l2_equals_network2(backend):
    X, Y = data()
    eta, lmbda, batch, epochs = 0.5, 3.0, 8, 4
    net = sigmoid_ce(backend)
    ref = Network2(*net.params_numpy())
    history = net.fit(X, Y, epochs=epochs, batch_size=batch, lr=eta, l2=lmbda, seed=7, progress=False)
    rng, samples = np.random.default_rng(7), [(x[:, None], y[:, None]) for x, y in zip(X, Y)]
    costs = []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        shuffled = [samples[i] for i in order]
        for k in range(0, len(X), batch):
            ref.update_mini_batch(shuffled[k:k + batch], eta, lmbda, len(X))
        costs.append(ref.total_cost(samples, lmbda))
    for l in range(len(SIZES) - 1):
        assert_close(net.weights[l], ref.weights[l], rtol=1e-9, atol=1e-9)
        assert_close(net.biases[l], ref.biases[l], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(history["cost"], costs, rtol=1e-9)  # the reported cost includes (λ/2n)Σ‖W‖²
    plain = sigmoid_ce(backend).fit(X, Y, epochs=1, batch_size=batch, lr=eta, seed=7, progress=False)
    assert history["cost"][0] != pytest.approx(plain["cost"][0], rel=1e-6)  # the term is really there


# -- every optimizer against torch.optim driving a torch copy of the network ----------------------
OPTIMIZERS = {
    "sgd": (lambda: optim.sgd(0.3), lambda t, ps: t.optim.SGD(ps, lr=0.3)),
    "momentum": (lambda: optim.momentum(0.2, beta=0.8), lambda t, ps: t.optim.SGD(ps, lr=0.2, momentum=0.8)),
    "nesterov": (lambda: optim.momentum(0.2, nesterov=True),
                 lambda t, ps: t.optim.SGD(ps, lr=0.2, momentum=0.9, nesterov=True)),
    "adam": (lambda: optim.adam(0.01, beta1=0.8), lambda t, ps: t.optim.Adam(ps, lr=0.01, betas=(0.8, 0.999))),
    "adamw": (lambda: optim.adamw(0.01, weight_decay=0.1),
              lambda t, ps: t.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
}


def torch_reference(net, X, Y, make_opt, *, epochs, batch, seed, l2=0.0):
    """The same network in torch, trained on the same batches with torch.optim (L2 as weight_decay λ/n
    on the weights only, which for SGD and Adam is exactly a (λ/n)·W gradient term)."""
    torch = pytest.importorskip("torch")
    ws, bs = net.params_numpy()
    W = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in ws]
    B = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in bs]
    groups = [{"params": W, "weight_decay": l2 / len(X)}, {"params": B, "weight_decay": 0.0}] if l2 else W + B
    opt = make_opt(torch, groups)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    rng = np.random.default_rng(seed)
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
            opt.step()
    return [w.detach().numpy() for w in W], [b.detach().numpy() for b in B]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fit_equals_torch_optim(backend, name):
    X, Y = data()
    mine, theirs = OPTIMIZERS[name]
    net = sigmoid_ce(backend)
    ws, bs = torch_reference(net, X, Y, theirs, epochs=3, batch=8, seed=3)  # 15 steps
    net.fit(X, Y, epochs=3, batch_size=8, optimizer=mine(), seed=3, progress=False)
    for l in range(len(ws)):
        assert_close(net.weights[l], ws[l], rtol=1e-10, atol=1e-12)
        assert_close(net.biases[l], bs[l], rtol=1e-10, atol=1e-12)


def test_adam_with_l2_equals_torch_weight_decay(backend):
    X, Y = data()
    net = sigmoid_ce(backend)
    ws, bs = torch_reference(net, X, Y, OPTIMIZERS["adam"][1], epochs=3, batch=8, seed=3, l2=2.0)
    net.fit(X, Y, epochs=3, batch_size=8, optimizer=OPTIMIZERS["adam"][0](), l2=2.0, seed=3, progress=False)
    for l in range(len(ws)):
        assert_close(net.weights[l], ws[l], rtol=1e-10, atol=1e-12)
        assert_close(net.biases[l], bs[l], rtol=1e-10, atol=1e-12)


# -- the optimizer is remembered, saved and restored -----------------------------------------------
@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw"])
def test_later_fit_continues_the_optimizer(backend, name):
    X, Y = data()
    a, b = sigmoid_ce(backend), sigmoid_ce(backend)
    opt = OPTIMIZERS[name][0]()
    ra, rb = np.random.default_rng(5), np.random.default_rng(5)
    a.fit(X, Y, epochs=6, batch_size=8, optimizer=opt, seed=ra, progress=False)
    b.fit(X, Y, epochs=3, batch_size=8, optimizer=opt, seed=rb, progress=False)
    b.fit(X, Y, epochs=3, batch_size=8, seed=rb, progress=False)  # neither lr nor optimizer: continue
    assert params_bits(a) == params_bits(b)
    assert float(pbp.to_numpy(b.optimizer_state.step)) == 30
    c = sigmoid_ce(backend)
    c.fit(X, Y, epochs=3, batch_size=8, optimizer=opt, seed=np.random.default_rng(5), progress=False)
    c.fit(X, Y, epochs=3, batch_size=8, optimizer=OPTIMIZERS[name][0](), seed=5, progress=False)  # a new one: fresh
    assert float(pbp.to_numpy(c.optimizer_state.step)) == 15


@pytest.mark.parametrize("name", ["sgd", "nesterov", "adam", "adamw"])
def test_checkpoint_resume_equals_uninterrupted(backend, name, tmp_path):
    X, Y = data()
    sched = optim.get(name, schedules.cosine(0.05, decay_steps=40)) if name != "adamw" else OPTIMIZERS[name][0]()
    straight, first = sigmoid_ce(backend), sigmoid_ce(backend)
    straight.fit(X, Y, epochs=6, batch_size=8, optimizer=sched, seed=np.random.default_rng(9), progress=False)
    rng = np.random.default_rng(9)
    first.fit(X, Y, epochs=3, batch_size=8, optimizer=sched, seed=rng, progress=False)
    second = pbp.load(first.save(tmp_path / "half.npz"), backend=backend)
    assert second.optimizer.config() == sched.config()
    second.fit(X, Y, epochs=3, batch_size=8, seed=rng, progress=False)
    if backend == "numpy":
        assert params_bits(second) == params_bits(straight)
    else:
        for p, q in zip(second.weights + second.biases, straight.weights + straight.biases):
            assert_close(p, q, rtol=1e-12, atol=1e-14)


def test_version_1_checkpoints_still_load(tmp_path):
    net = sigmoid_ce("numpy")
    path = net.save(tmp_path / "v1.npz")  # never trained: no optimizer arrays, as a version-1 file
    with np.load(path) as f:
        arrays = dict(f)
    meta = json.loads(str(arrays["portable_bp_meta"][()]))
    meta["format_version"] = 1
    arrays["portable_bp_meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "old.npz", **arrays)
    back = pbp.load(tmp_path / "old.npz")
    assert params_bits(back) == params_bits(net) and back.optimizer is None


def test_a_users_own_schedule_is_saved_as_its_current_lr(tmp_path):
    X, Y = data()
    net = sigmoid_ce("numpy")
    net.fit(X, Y, epochs=1, batch_size=8, lr=lambda step: 0.1 / (1 + step), seed=0, progress=False)
    cfg = pbp.load(net.save(tmp_path / "m.npz")).optimizer.config()
    assert cfg == {"name": "sgd", "lr": pytest.approx(0.1 / 6)}


# -- fit's arguments ---------------------------------------------------------------------------------
def test_optimizer_arguments():
    X, Y = data()
    net = sigmoid_ce("numpy")
    with pytest.raises(ValueError, match="lr=.*optimizer"):
        net.fit(X, Y, epochs=1, batch_size=8, lr=0.1, optimizer=optim.adam(), progress=False)
    with pytest.raises(ValueError, match="lr=0.5.*optimizer='adam'"):
        net.fit(X, Y, epochs=1, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="unknown optimizer|expected one of"):
        net.fit(X, Y, epochs=1, batch_size=8, optimizer="rmsprop", progress=False)
    with pytest.raises(ValueError, match="l2"):
        net.fit(X, Y, epochs=1, batch_size=8, lr=0.1, l2=-1.0, progress=False)
    with pytest.raises(ValueError, match="lr= is needed|needs lr|lr"):
        net.fit(X, Y, epochs=1, batch_size=8, optimizer="momentum", progress=False)
    net.fit(X, Y, epochs=1, batch_size=8, optimizer="adam", progress=False)  # adam's default lr, 1e-3
    assert net.optimizer.name == "adam" and net.optimizer.lr == 1e-3
    net.fit(X, Y, epochs=1, batch_size=8, optimizer="nesterov", lr=0.1, progress=False)
    assert net.optimizer.hyper["nesterov"] is True


def test_a_schedule_under_jax_compiles_once(monkeypatch):
    if _backend.unavailable_reason("jax"):
        pytest.skip("jax not installed")
    X, Y = data()
    traced = []  # under JAX the step runs inside one compiled epoch: this runs once per compilation
    wrap_steps(monkeypatch, lambda step, *args: (traced.append(args[2][0].shape), step(*args))[1])
    net = sigmoid_ce("jax")
    lrs = []
    net.fit(X, Y, epochs=5, batch_size=8, lr=schedules.cosine(0.5, decay_steps=25), seed=0, progress=False,
            callbacks=[LambdaCallback(lambda epoch, logs: lrs.append(logs["lr"]))])
    assert len(set(lrs)) == 5  # the lr changed every epoch (and every step) ...
    assert traced == [(8, 4)]  # ... and the 25 steps of 5 epochs were compiled once


def test_the_epoch_gather_compiles_once_per_group_shape(monkeypatch):
    """On JAX each epoch's shuffled batches are gathered by one compiled call per group: 5 epochs of
    one (k, m) group of full batches and one (1, r) partial batch trace the gather twice, not per epoch;
    the training equals numpy's."""
    if _backend.unavailable_reason("jax"):
        pytest.skip("jax not installed")
    from portable_bp.train import data as adapters

    X, Y = data()
    shapes = []
    real = adapters.gather
    counted = lambda arrays, rows: (shapes.append(tuple(rows.shape)), real(arrays, rows))[1]
    monkeypatch.setattr(adapters, "gather", counted)
    adapters._gatherer.cache_clear()
    try:
        net, ref = sigmoid_ce("jax"), sigmoid_ce("numpy")
        for n in (net, ref):
            n.fit(X, Y, epochs=5, batch_size=7, lr=0.5, seed=3, progress=False)
    finally:
        adapters._gatherer.cache_clear()  # the next users get the real gather, compiled afresh
    k, r = divmod(X.shape[0], 7)
    assert r and shapes.count((k, 7)) == 6 and shapes.count((1, r)) == 6  # jax: 1 trace each; numpy: 5 calls each
    for a, b in zip(net.weights + net.biases, ref.weights + ref.biases):
        assert_close(a, b)


def test_metrics_take_one_forward_pass_per_data_set(monkeypatch):
    from portable_bp.train import steps

    X, Y = data()
    net = sigmoid_ce("numpy")
    calls = []
    real = steps.forward
    monkeypatch.setattr(steps, "forward", lambda *a: (calls.append(a[-1].shape[0]), real(*a))[1])
    net.fit(X, Y, epochs=3, batch_size=8, lr=0.1, validation_split=0.25, progress=False)
    assert calls == [30, 10] * 3  # training set then validation set, once each per epoch


# -- callbacks -----------------------------------------------------------------------------------------
def test_early_stopping_on_accuracy_restores_the_best():
    X, Y = data(80)
    net = sigmoid_ce("numpy")
    stop = EarlyStopping("val_accuracy", patience=2)
    history = net.fit(X, Y, epochs=200, batch_size=8, lr=3.0, validation_split=0.25, callbacks=[stop],
                      progress=False)
    best = int(np.argmax(history["val_accuracy"]))
    assert len(history["val_accuracy"]) == best + 3 < 200  # stopped 2 epochs after the best ...
    assert net.accuracy(X[60:], Y[60:]) == history["val_accuracy"][best]  # ... and went back to it
    with pytest.raises(ValueError, match="val_cost.*validation_data"):
        net.fit(X, Y, epochs=2, batch_size=8, lr=0.1, callbacks=[EarlyStopping()], progress=False)


def test_reduce_lr_on_plateau_and_loggers(tmp_path):
    X, Y = data()
    net = sigmoid_ce("numpy")
    cb = ReduceLROnPlateau("cost", factor=0.5, patience=1, min_delta=10.0, min_lr=0.01)  # never "improves"
    net.fit(X, Y, epochs=6, batch_size=8, lr=0.1, progress=False,
            callbacks=[cb, JSONLogger(tmp_path / "log.jsonl"), CSVLogger(tmp_path / "log.csv")])
    logs = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in logs] == list(range(6))
    # epoch 0 sets the best, each later epoch is a plateau: the lr halves after each, down to min_lr
    # (logs["lr"] is the lr before the epoch's callbacks run)
    assert [r["lr"] for r in logs] == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.0125, 0.01])
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0] == "epoch,cost,accuracy,lr" and len(rows) == 7
    assert float(rows[3].split(",")[1]) == logs[2]["cost"]


def test_progress_is_one_line_per_epoch_off_a_terminal(capsys):
    X, Y = data()
    sigmoid_ce("numpy").fit(X, Y, epochs=3, batch_size=8, lr=0.1)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("fit [numpy]: epoch 3/3: cost=") and "\r" not in lines[-1]


def test_callbacks_argument_is_checked():
    X, Y = data()
    with pytest.raises(TypeError, match="list"):
        sigmoid_ce("numpy").fit(X, Y, epochs=1, batch_size=8, lr=0.1, callbacks=EarlyStopping(), progress=False)
    with pytest.raises(TypeError, match="Callback"):
        sigmoid_ce("numpy").fit(X, Y, epochs=1, batch_size=8, lr=0.1, callbacks=[print], progress=False)


# -- initialisers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("init", ["glorot_uniform", "he_normal", "he_uniform", "torch", "normal", "scaled_normal"])
def test_initialisers(init):
    sizes = [300, 200, 100]
    ws, bs = pbp.MLP(sizes, init=init, seed=0).params_numpy()
    for W, b, (n_in, n_out) in zip(ws, bs, zip(sizes[:-1], sizes[1:])):
        assert W.shape == (n_out, n_in)
        bound = {"glorot_uniform": math.sqrt(6 / (n_in + n_out)), "he_uniform": math.sqrt(6 / n_in),
                 "torch": 1 / math.sqrt(n_in)}.get(init)
        std = {"he_normal": math.sqrt(2 / n_in), "normal": 1.0, "scaled_normal": 1 / math.sqrt(n_in)}.get(init)
        if bound is not None:  # uniform: within the bound, reaching near it, std bound/√3
            assert np.abs(W).max() <= bound and np.abs(W).max() > 0.99 * bound
            assert W.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
        else:
            assert W.std() == pytest.approx(std, rel=0.02) and abs(W.mean()) < 0.05 * std
        if init in ("glorot_uniform", "he_normal", "he_uniform"):
            assert not b.any()
        elif init == "torch":
            assert np.abs(b).max() <= 1 / math.sqrt(n_in) and b.any()
        else:
            assert b.std() == pytest.approx(1.0, rel=0.2)


def test_initialisers_are_one_network_on_every_backend(backend):
    ref = pbp.MLP([3, 4, 2], init="glorot_uniform", seed=11).params_numpy()
    got = pbp.MLP([3, 4, 2], init="glorot_uniform", seed=11, backend=backend).params_numpy()
    for p, q in zip(ref[0] + ref[1], got[0] + got[1]):
        np.testing.assert_array_equal(p, q)
    with pytest.raises(ValueError, match="unknown init"):
        pbp.MLP([3, 2], init="xavier", backend=backend)


def test_a_network_too_big_is_refused_before_allocating():
    with pytest.raises(ValueError, match=r"^sizes \[5000, .*parameters.*memory is available"):
        pbp.MLP([5000] * 2000)


def test_a_network_pickles_and_deep_copies_with_its_optimizer(backend):
    import copy
    import pickle

    X, Y = data()
    net = sigmoid_ce(backend, dropout=0.2)
    rng = np.random.default_rng(4)
    net.fit(X, Y, epochs=2, batch_size=8, optimizer=optim.adam(0.01, beta1=0.8), seed=rng, progress=False)
    for clone in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert clone.backend == backend and clone.dropout == (0.2,)
        assert clone.optimizer.config() == net.optimizer.config()
        assert params_bits(clone) == params_bits(net)
        a, b = copy.deepcopy(rng), copy.deepcopy(rng)
        clone.fit(X, Y, epochs=1, batch_size=8, seed=a, progress=False)  # continues Adam's moments
        twin = copy.deepcopy(net)
        twin.fit(X, Y, epochs=1, batch_size=8, seed=b, progress=False)
        assert params_bits(clone) == params_bits(twin)


# -- running_cost: the epoch cost from the steps' own forward passes ------------------------------
class BatchRecords(pbp.train.Callback):
    """Keeps ``training.batches`` after every epoch (the running cost's records)."""

    def __init__(self):
        self.rows = []

    def on_train_begin(self, training):
        self.training = training

    def on_epoch_end(self, epoch, logs):
        self.rows.append(self.training.batches)


def test_running_cost_is_the_mean_of_the_batch_costs_before_each_step(backend):
    """fit(running_cost=True): the mean, weighted by batch size, of each batch's cost at the parameters
    its step started from (a hand loop of evaluate + update gives the same), the same training, the
    batch records as training.batches, and no training accuracy."""
    X, Y = data(n=43)
    net, ref = sigmoid_ce(backend), sigmoid_ce(backend)
    records = BatchRecords()
    history = net.fit(X, Y, epochs=2, batch_size=10, lr=0.5, shuffle=False, progress=False, running_cost=True,
                      callbacks=[records])
    rows = records.rows
    assert set(history) == {"cost"}
    for epoch in range(2):
        costs, sizes = [], []
        for s in range(0, 43, 10):
            Xb, Yb = X[s:s + 10], Y[s:s + 10]
            costs.append(ref.evaluate(Xb, Yb)["cost"])
            sizes.append(len(Xb))
            ref.update(Xb, Yb, 0.5)
        assert history["cost"][epoch] == pytest.approx(np.dot(sizes, costs) / 43, rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(rows[epoch][:, 0], sizes)
        np.testing.assert_allclose(rows[epoch][:, 1], costs, rtol=1e-12)
        np.testing.assert_allclose(rows[epoch][:, 2:], [[0.0, m] for m in sizes])  # no L2; weight = size
    assert params_bits(net) == params_bits(ref)


def test_running_cost_with_l2_and_sample_weights_one_batch_per_epoch(backend):
    """One full batch per epoch: the running cost of epoch e is the full pass's cost after epoch e − 1
    (the L2 term and the sample weights included), and the records carry Σ‖W‖² and Σw."""
    X, Y = data()
    w = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    kw = dict(epochs=4, batch_size=X.shape[0], lr=0.3, l2=2.0, sample_weight=w, seed=0, progress=False)
    net, ref = sigmoid_ce(backend), sigmoid_ce(backend)
    squares = float(sum(np.sum(W**2) for W in ref.params_numpy()[0]))
    records = BatchRecords()
    running = net.fit(X, Y, running_cost=True, callbacks=[records], **kw)["cost"]
    rows = records.rows
    full = ref.fit(X, Y, **kw)["cost"]
    assert params_bits(net) == params_bits(ref)
    np.testing.assert_allclose(running[1:], full[:-1], rtol=1e-12)
    assert rows[0][0, 2] == pytest.approx(squares, rel=1e-12) and rows[0][0, 3] == pytest.approx(w.sum(), rel=1e-12)
    assert running[0] == pytest.approx(rows[0][0, 1] + 0.5 * 2.0 / X.shape[0] * squares, rel=1e-12)


def test_running_cost_must_be_a_bool():
    X, Y = data()
    with pytest.raises(TypeError, match="running_cost"):
        sigmoid_ce("numpy").fit(X, Y, epochs=1, batch_size=8, lr=0.1, running_cost="yes", progress=False)


def test_running_cost_logs_stay_plain_numbers(tmp_path):
    """The loggers write every log: with running_cost they are still only numbers (cost, val_*, lr)."""
    X, Y = data()
    net = sigmoid_ce("numpy")
    net.fit(X[:30], Y[:30], epochs=2, batch_size=8, lr=0.5, progress=False, running_cost=True,
            validation_data=(X[30:], Y[30:]),
            callbacks=[JSONLogger(tmp_path / "log.jsonl"), CSVLogger(tmp_path / "log.csv")])
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [sorted(line) for line in lines] == [["cost", "epoch", "lr", "val_accuracy", "val_cost"]] * 2
    assert (tmp_path / "log.csv").read_text().splitlines()[0] == "epoch,cost,val_cost,val_accuracy,lr"
