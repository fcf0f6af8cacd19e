"""The fit benchmark (issue 13, item 6): one epoch of ``net.fit`` on every backend against the
training loops people write by hand, same network, data and recipe, timed side by side.

    python benchmarks/fit_bench.py --out runs/fit                 # the full CPU run (~5 min on 2 cores)
    python benchmarks/fit_bench.py --quick --out runs/fit-quick   # a smoke run (under a minute)
    python benchmarks/fit_bench.py --device gpu --out benchmarks/results/fit-gpu-NAME
    python benchmarks/fit_bench.py --from-json DIR/fit.json --out DIR   # tables and figure again, nothing timed

What one "epoch" is, for every implementation: shuffle the 10 000 samples with a permutation,
train on every mini-batch in that order (the last one shorter when the batch does not divide
10 000, as network.py does), then ONE evaluation pass over the training set that reads the mean
cost and the accuracy back to the host. Reading them back is the epoch's synchronisation.

* ``fit``: ``net.fit(X, Y, epochs=1, batch_size=B, lr=η, seed=rng, progress=False)`` with X, Y
  already arrays of the backend (an extra row passes NumPy arrays, converted on every call).
* hand ``lax.scan`` epoch: one ``jax.jit`` call of ``lax.scan`` over the reshaped full batches
  (``jax.grad`` of the batch-mean cost, p − η g; parameters donated), the partial last batch as one
  more jitted step, one jitted evaluation.
* hand loop of ``jax.jit`` steps: the same step, one jitted call per batch (the batch picked by its
  index inside the call: one dispatch per step).
* hand torch eager: ``F.linear``/``torch.sigmoid``, ``F.cross_entropy``, ``loss.backward()``,
  ``torch.optim.SGD(momentum=0)``; and ``torch.compile`` of that whole step (skipped, with the
  reason, where it fails or compiling takes over a minute).
* scikit-learn: ``MLPClassifier(solver="sgd", momentum=0, learning_rate_init=η, batch_size=B,
  alpha=0, activation="logistic").partial_fit`` on the permuted samples, then ``predict_proba``.
* hand NumPy loop (CuPy on a GPU): network.py's maths batch-first, one GEMM per product.

The recipe: sigmoid hidden layer, softmax output, cross-entropy cost (what scikit-learn's
MLPClassifier computes: it has no quadratic cost), plain SGD p ← p − (η/m) Σ_x ∇C_x with η = 0.5,
float32, the same initial parameters (``init_params``, seed 0) and the same permutations for all.
Data: scikit-learn's 8×8 digits upsampled to 28×28 (MNIST-shaped), shifted, 10 000 samples.

Timing: every implementation runs one epoch before it is timed (JAX and torch.compile compile
there; that epoch also checks that all of them reach the same parameters), then the harness's
``measure_many`` interleaves the repeats within each thread-pool family (NumPy/OpenBLAS, JAX/XLA,
PyTorch) and drops rounds during which other processes used more than 0.25 cores. Medians, with
[min–max]; ratios are fit ÷ peer from the same run. Writes fit.json, table.md and
time_per_step.png to --out.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # pbp_bench (the harness's timing and machine helpers) lives beside this file
    sys.path.insert(0, HERE)
try:
    import portable_bp  # noqa: F401
except ImportError:  # a fresh clone without an install: use its sources
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

from pbp_bench import _csv  # noqa: E402
from pbp_bench.report import machine_info, write_json  # noqa: E402
from pbp_bench.timing import measure_family  # noqa: E402

LR = 0.1  # η: at B=1, 0.5 is chaotic (float32 rounding differences grow to O(1) within an epoch)
N_SAMPLES = 10_000
SEED = 0  # initial parameters (init_params) and the permutations (numpy default_rng)
SETTINGS = [((784, 30, 10), 10), ((784, 100, 10), 64)]  # network.py's recipe; the wider one of the issue
SWEEP_SIZES = (784, 100, 10)
SWEEP_BATCHES = (1, 10, 32, 64, 256, 1024)
QUICK = dict(n=1000, sweep=(64, 256), repeats=3)  # B=64 is measured for the table already
SWEEP_MAX_STEPS = 2000  # the figure's B=1 point trains on the first 2000 samples (2000 steps), not 10 000
FIT_BACKENDS = {"cpu": ["numpy", "jax", "torch", "array_api_strict"], "gpu": ["jax", "torch", "cupy"]}
PEERS = ["hand-numpy", "sklearn", "jax-scan", "jax-jit-loop", "torch-eager", "torch-compile"]
BUSY = 0.25  # cores other processes may use during a round that counts (the harness's threshold)
COMPILE_BUDGET_S = 60.0  # torch.compile: a first epoch slower than this is dropped
STRICT_MAX_STEPS = 1000  # array-api-strict pays ~10 µs per operation: fewer steps than this per epoch only
#: thread-pool family of each implementation: repeats are interleaved within a family only
FAMILY = {"numpy": "numpy", "array_api_strict": "numpy", "hand-numpy": "numpy", "sklearn": "numpy",
          "jax": "jax", "jax-scan": "jax", "jax-jit-loop": "jax",
          "torch": "torch", "torch-eager": "torch", "torch-compile": "torch",
          "cupy": "cupy", "hand-cupy": "cupy"}
#: the fit backend a peer is compared with (ratio = fit time ÷ peer time)
COMPARE = {"hand-numpy": "numpy", "sklearn": "numpy", "jax-scan": "jax", "jax-jit-loop": "jax",
           "torch-eager": "torch", "torch-compile": "torch", "hand-cupy": "cupy"}
LABELS = {
    "fit:numpy": "fit · numpy backend", "fit:array_api_strict": "fit · array_api_strict backend",
    "fit:jax": "fit · jax backend", "fit:torch": "fit · torch backend", "fit:cupy": "fit · cupy backend",
    "fit-numpy-in:jax": "fit · jax, X/Y passed as NumPy", "fit-numpy-in:torch": "fit · torch, X/Y passed as NumPy",
    "hand-numpy": "hand NumPy loop", "hand-cupy": "hand CuPy loop",
    "sklearn": "scikit-learn partial_fit", "jax-scan": "hand lax.scan epoch (jax.jit)",
    "jax-jit-loop": "hand loop of jax.jit steps", "torch-eager": "hand torch eager (autograd + optim.SGD)",
    "torch-compile": "hand torch.compile step",
}
#: the issue's CPU targets: (name, index into SETTINGS, peer; fit is COMPARE[peer], ratio fit ÷ peer ≤ limit)
CPU_TARGETS = [("JAX fit ≤ 1.2× hand lax.scan epoch", i, "jax-scan", 1.2) for i in (0, 1)] + [
    ("NumPy fit ≤ 1.15× hand NumPy loop", i, "hand-numpy", 1.15) for i in (0, 1)] + [
    ("torch fit ≤ 1.0× hand torch eager loop", i, "torch-eager", 1.0) for i in (0, 1)]
#: the issue's GPU targets: (name, index into SETTINGS, fit key, seconds per step ≤ limit)
GPU_TARGETS = [("JAX fit ≤ 100 µs per step", 0, "fit:jax", 100e-6),
               ("CuPy fit ≤ 150 µs per step", 0, "fit:cupy", 150e-6)]


# -- the problem ----------------------------------------------------------------------------------
def mnist_shaped(n, seed=SEED):
    """(X float32 (n, 784) in [0, 1], labels (n,), source): scikit-learn's 8×8 digits upsampled 3×
    to 24×24, placed in a 28×28 field at a random offset of 0-4 pixels (MNIST's frame), n samples
    drawn with replacement. Uniform random pixels and labels where scikit-learn is missing."""
    rng = np.random.default_rng(seed + 1)
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return (rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n),
                "uniform random pixels in [0, 1) and random labels (scikit-learn not installed)")
    digits = load_digits()
    images = np.kron(digits.images / 16.0, np.ones((3, 3)))  # (1797, 24, 24)
    pick = rng.integers(0, len(images), n)
    dx, dy = rng.integers(0, 5, n), rng.integers(0, 5, n)
    X = np.zeros((n, 28, 28), dtype=np.float32)
    for i in range(n):
        X[i, dy[i]:dy[i] + 24, dx[i]:dx[i] + 24] = images[pick[i]]
    return (X.reshape(n, 784), digits.target[pick].astype(np.int64),
            "scikit-learn's 8x8 digits upsampled 3x to 24x24 in a 28x28 field at a random 0-4 pixel offset, "
            f"{n} samples drawn with replacement from 1797")


@dataclass
class Problem:
    sizes: tuple
    batch: int
    X: np.ndarray  # (n, 784) float32
    labels: np.ndarray  # (n,) int64
    gpu: bool = False
    lr: float = LR
    seed: int = SEED
    Y: np.ndarray = field(init=False)  # one-hot float32
    params: list = field(init=False)  # [(W (n_l, n_{l-1}), b (n_l,))] float32, init_params(seed)

    def __post_init__(self):
        from portable_bp.initializers import init_params

        self.Y = np.eye(self.sizes[-1], dtype=np.float32)[self.labels]
        weights, biases = init_params(list(self.sizes), "scaled_normal", self.seed)
        self.params = [(W.astype(np.float32), b.ravel().astype(np.float32)) for W, b in zip(weights, biases)]

    @property
    def n(self):
        return self.X.shape[0]

    @property
    def steps(self):
        return -(-self.n // self.batch)

    @property
    def label(self):
        return f"[{','.join(map(str, self.sizes))}] B={self.batch}"

    def rng(self):
        """The permutations: the same stream for every implementation (fit gets it as ``seed=``)."""
        return np.random.default_rng(self.seed)


class Unavailable(Exception):
    """The implementation cannot run here; the message says why."""


@dataclass
class Impl:
    key: str
    epoch: object  # () -> (cost, accuracy) as Python floats: the epoch's one host synchronisation
    params: object  # () -> [(W, b)] as NumPy arrays, for the agreement check


# -- portable_bp fit --------------------------------------------------------------------------------
def make_fit(p, backend, numpy_in=False):
    import portable_bp as pbp
    from portable_bp import _backend

    why = _backend.unavailable_reason(backend)
    if why:
        raise Unavailable(why)
    device = ({"jax": "gpu", "torch": "cuda"}.get(backend) if p.gpu else None)
    net = pbp.MLP.from_params([W for W, _ in p.params], [b for _, b in p.params], activation="sigmoid",
                              output_activation="softmax", loss="cross_entropy", backend=backend,
                              device=device, dtype="float32")
    if numpy_in:
        X, Y = p.X, p.Y
    else:
        X, Y = (net.xp.asarray(a, dtype=net.dtype, device=net.device) for a in (p.X, p.Y))
    rng, B = p.rng(), p.batch

    def epoch():
        h = net.fit(X, Y, epochs=1, batch_size=B, lr=p.lr, seed=rng, progress=False)
        return h["cost"][-1], h["accuracy"][-1]

    def params():
        ws, bs = net.params_numpy()
        return [(W, b.ravel()) for W, b in zip(ws, bs)]

    return Impl(f"{'fit-numpy-in' if numpy_in else 'fit'}:{backend}", epoch, params)


# -- hand NumPy / CuPy --------------------------------------------------------------------------
def make_hand_numpy(p, mod=np):
    """network.py's maths, batch-first: Z = A Wᵀ + bᵀ; δ^L = a − y (softmax + cross-entropy),
    scaled once by η/m; BP4 δᵀA, BP3 Σδ, BP2 (δ W) ⊙ a(1 − a); parameters updated in place."""
    X, Y = mod.asarray(p.X), mod.asarray(p.Y)
    labels = mod.asarray(p.labels)
    params = [(mod.asarray(W).copy(), mod.asarray(b).copy()) for W, b in p.params]
    rng, n, B, L, lr = p.rng(), p.n, p.batch, len(p.params), np.float32(p.lr)
    one = np.float32(1.0)

    def forward(a):
        acts = [a]
        for l, (W, b) in enumerate(params):
            z = a @ W.T + b
            if l < L - 1:
                a = one / (one + mod.exp(-z))
            else:
                z = z - z.max(axis=1, keepdims=True)
                e = mod.exp(z)
                a = e / e.sum(axis=1, keepdims=True)
            acts.append(a)
        return acts

    def epoch():
        perm = mod.asarray(rng.permutation(n))
        Xp, Yp = X[perm], Y[perm]
        with np.errstate(over="ignore"):  # exp(-z) → inf for very negative z: σ(z) = 0, as it should
            for k in range(0, n, B):
                x, y = Xp[k:k + B], Yp[k:k + B]
                acts = forward(x)
                delta = (acts[-1] - y) * np.float32(lr / x.shape[0])
                for l in range(L - 1, -1, -1):
                    W, b = params[l]
                    gW, gb = delta.T @ acts[l], delta.sum(axis=0)
                    if l:
                        a = acts[l]
                        delta = (delta @ W) * (a * (one - a))
                    W -= gW
                    b -= gb
            out = forward(X)[-1]
        cost = -mod.log(out[mod.arange(n), labels] + np.float32(1e-30)).mean()
        acc = (out.argmax(axis=1) == labels).mean()
        return float(cost), float(acc)

    def get():
        to = (lambda a: a.get()) if mod is not np else (lambda a: a)
        return [(to(W), to(b)) for W, b in params]

    return Impl("hand-cupy" if mod is not np else "hand-numpy", epoch, get)


# -- scikit-learn -----------------------------------------------------------------------------------
def make_sklearn(p):
    if p.gpu:
        raise Unavailable("scikit-learn's MLP runs on NumPy only (CPU)")
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError as exc:
        raise Unavailable(f"scikit-learn not importable: {exc}") from None
    clf = MLPClassifier(hidden_layer_sizes=tuple(p.sizes[1:-1]), activation="logistic", solver="sgd",
                        alpha=0.0, batch_size=p.batch, learning_rate="constant", learning_rate_init=p.lr,
                        momentum=0.0, nesterovs_momentum=False, shuffle=False, max_iter=1, random_state=0)
    classes = np.arange(p.sizes[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.partial_fit(p.X[:p.batch], p.labels[:p.batch], classes=classes)  # builds it; then our parameters
    clf.coefs_ = [np.ascontiguousarray(W.T) for W, _ in p.params]
    clf.intercepts_ = [b.copy() for _, b in p.params]
    rng, n, X, labels = p.rng(), p.n, p.X, p.labels

    def epoch():
        perm = rng.permutation(n)  # shuffle=False above: the permutation is ours, as for the others
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(X[perm], labels[perm])
        proba = clf.predict_proba(X)
        cost = -np.log(proba[np.arange(n), labels] + 1e-30).mean()
        return float(cost), float((proba.argmax(axis=1) == labels).mean())

    def get():
        if clf.coefs_[0].dtype != np.float32:
            raise RuntimeError(f"scikit-learn trained in {clf.coefs_[0].dtype}, not float32")
        return [(W.T, b) for W, b in zip(clf.coefs_, clf.intercepts_)]

    return Impl("sklearn", epoch, get)


# -- JAX by hand -----------------------------------------------------------------------------------
def _jax_parts(p):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise Unavailable(f"jax not importable: {exc}") from None
    try:
        device = jax.devices("gpu" if p.gpu else "cpu")[0]
    except RuntimeError as exc:
        raise Unavailable(f"jax has no {'GPU' if p.gpu else 'CPU'} device: {exc}") from None
    put = lambda a: jax.device_put(np.asarray(a), device)
    params = tuple((put(W), put(b)) for W, b in p.params)
    lr = p.lr

    def logits(params, x):
        for W, b in params[:-1]:
            x = jax.nn.sigmoid(x @ W.T + b)
        W, b = params[-1]
        return x @ W.T + b

    def loss(params, x, y):
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits(params, x), axis=-1), axis=-1))

    def sgd(params, x, y):
        grads = jax.grad(loss)(params, x, y)
        return jax.tree_util.tree_map(lambda q, g: q - lr * g, params, grads)

    @jax.jit
    def metrics(params, X, Y):
        z = logits(params, X)
        cost = -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(z, axis=-1), axis=-1))
        acc = jnp.mean((jnp.argmax(z, axis=1) == jnp.argmax(Y, axis=1)).astype(z.dtype))
        return jnp.stack([cost, acc])

    tail = jax.jit(lambda params, X, Y, idx: sgd(params, X[idx], Y[idx]), donate_argnums=0)
    return jax, jnp, put, params, sgd, metrics, tail


def _jax_impl(key, p, parts, run_full):
    """An epoch of hand JAX: ``run_full(params, X, Y, idx)`` trains the full batches, ``tail`` the rest."""
    jax, jnp, put, params, sgd, metrics, tail = parts
    X, Y = put(p.X), put(p.Y)
    rng, n = p.rng(), p.n
    full = (n // p.batch) * p.batch
    state = [params]

    def epoch():
        perm = rng.permutation(n).astype(np.int32)
        params = run_full(state[0], X, Y, perm[:full]) if full else state[0]
        if full < n:
            params = tail(params, X, Y, perm[full:])
        state[0] = params
        cost, acc = np.asarray(metrics(params, X, Y))  # the one host synchronisation
        return float(cost), float(acc)

    get = lambda: [(np.asarray(W), np.asarray(b)) for W, b in state[0]]
    return Impl(key, epoch, get)


def make_jax_scan(p):
    parts = _jax_parts(p)
    jax, sgd = parts[0], parts[4]
    k, B = p.n // p.batch, p.batch

    def scan_epoch(params, X, Y, idx):
        Xs = X[idx].reshape(k, B, X.shape[1])
        Ys = Y[idx].reshape(k, B, Y.shape[1])
        return jax.lax.scan(lambda q, xy: (sgd(q, *xy), None), params, (Xs, Ys))[0]

    return _jax_impl("jax-scan", p, parts, jax.jit(scan_epoch, donate_argnums=0))


def make_jax_jit_loop(p):
    parts = _jax_parts(p)
    jax, sgd = parts[0], parts[4]
    k, B = p.n // p.batch, p.batch
    prepare = jax.jit(lambda X, Y, idx: (X[idx].reshape(k, B, X.shape[1]), Y[idx].reshape(k, B, Y.shape[1])))
    step = jax.jit(lambda params, Xs, Ys, i: sgd(params, Xs[i], Ys[i]), donate_argnums=0)

    def run_full(params, X, Y, idx):
        Xs, Ys = prepare(X, Y, idx)
        for i in range(k):
            params = step(params, Xs, Ys, i)
        return params

    return _jax_impl("jax-jit-loop", p, parts, run_full)


# -- PyTorch by hand -------------------------------------------------------------------------------
def make_torch(p, compiled=False):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as exc:
        raise Unavailable(f"torch not importable: {exc}") from None
    if p.gpu and not torch.cuda.is_available():
        raise Unavailable("torch sees no CUDA device")
    device = torch.device("cuda" if p.gpu else "cpu")
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), device=device)
    params = [q for W, b in p.params for q in (t(W).clone().requires_grad_(), t(b).clone().requires_grad_())]
    X, labels = t(p.X), t(p.labels)
    opt = torch.optim.SGD(params, lr=p.lr, momentum=0.0)
    L, rng, n, B = len(p.params), p.rng(), p.n, p.batch

    def logits(a):
        for l in range(L):
            a = F.linear(a, params[2 * l], params[2 * l + 1])
            if l < L - 1:
                a = torch.sigmoid(a)
        return a

    def train_step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(logits(x), y)
        loss.backward()
        opt.step()

    if compiled:
        # GPU: CUDA graphs (the suggestion); CPU: inductor's C++ code. The partial last batch
        # is a second shape, compiled once more (dynamic=False: no symbolic shapes).
        step = torch.compile(train_step, mode="reduce-overhead" if p.gpu else None, dynamic=False)
    else:
        step = train_step

    def epoch():
        perm = t(rng.permutation(n))
        Xp, yp = X[perm], labels[perm]
        for k in range(0, n, B):
            step(Xp[k:k + B], yp[k:k + B])
        with torch.no_grad():
            z = logits(X)
            cost = F.cross_entropy(z, labels)
            acc = (z.argmax(dim=1) == labels).float().mean()
            return cost.item(), acc.item()

    get = lambda: [(params[2 * l].detach().cpu().numpy(), params[2 * l + 1].detach().cpu().numpy())
                   for l in range(L)]
    return Impl("torch-compile" if compiled else "torch-eager", epoch, get)


def make_impl(key, p):
    if key.startswith("fit"):
        kind, backend = key.split(":")
        return make_fit(p, backend, numpy_in=kind == "fit-numpy-in")
    if key == "hand-numpy":
        return make_hand_numpy(p)
    if key == "hand-cupy":
        try:
            import cupy
        except ImportError as exc:
            raise Unavailable(f"cupy not importable: {exc}") from None
        return make_hand_numpy(p, cupy)
    return {"sklearn": make_sklearn, "jax-scan": make_jax_scan, "jax-jit-loop": make_jax_jit_loop,
            "torch-eager": make_torch, "torch-compile": lambda p: make_torch(p, compiled=True)}[key](p)


# -- measuring ---------------------------------------------------------------------------------------
@dataclass
class Config:
    out: str
    gpu: bool = False
    backends: list = field(default_factory=list)
    peers: list = field(default_factory=list)
    n: int = N_SAMPLES
    sweep: tuple = SWEEP_BATCHES
    repeats: int = 7
    sweep_repeats: int = 5
    min_time: float = 0.02
    wait_idle: float = 0.0
    retry_busy: int = 0
    numpy_in: bool = True
    extra_rounds: int = 2  # measure_many: rounds added for a variant short of quiet repeats
    threads: int = 0  # 0: each library's default thread pools
    log: object = print


def keys_for(cfg, p, sweep):
    keys = []
    for b in cfg.backends:
        keys.append(f"fit:{b}")
        if cfg.numpy_in and not sweep and b in ("jax", "torch"):
            keys.append(f"fit-numpy-in:{b}")
    for peer in cfg.peers:
        keys.append("hand-cupy" if cfg.gpu and peer == "hand-numpy" else peer)
    return keys


def skip_reason(key, p, cfg):
    if key == "fit:array_api_strict" and p.steps > STRICT_MAX_STEPS:
        return (f"not run: {p.steps} steps per epoch; array-api-strict pays ~10 µs per array operation "
                f"(run only up to {STRICT_MAX_STEPS} steps per epoch)")
    if key == "sklearn" and cfg.gpu:
        return "CPU only (scikit-learn's MLP runs on NumPy)"
    return None


def measure_setting(p, keys, cfg, repeats):
    """Build every implementation, run one untimed epoch each (compilation; the agreement check),
    then time them: interleaved repeats within each thread-pool family. Returns the rows."""
    log = cfg.log
    rows, entries = [], []
    for key in keys:
        row = {"key": key, "sizes": list(p.sizes), "batch": p.batch, "n": p.n, "steps": p.steps}
        why = skip_reason(key, p, cfg)
        impl = None
        if why is None:
            try:
                impl = make_impl(key, p)
                t0 = time.perf_counter()
                with _quiet_warnings():
                    cost, acc = impl.epoch()  # compiles (JAX, torch.compile); the agreement epoch
                first = time.perf_counter() - t0
                row.update(first_epoch_s=first, first_cost=cost, first_accuracy=acc, params_after_first=impl.params())
                if key == "torch-compile" and first > COMPILE_BUDGET_S:
                    why = (f"skipped: torch.compile's first epoch (compilation included) took {first:.0f} s, "
                           f"over the {COMPILE_BUDGET_S:.0f} s allowed")
            except Unavailable as exc:
                why = f"unavailable: {exc}"
            except Exception as exc:
                why = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        if why is not None:
            log(f"  {p.label:<20} {LABELS.get(key, key)}: {why}")
            row.pop("params_after_first", None)
            rows.append(dict(row, skipped=why))
            continue
        rows.append(row)
        entries.append((row, impl))
    agreement(rows)
    families = {}
    for row, impl in entries:
        families.setdefault(FAMILY[key_name(row["key"])], []).append((row, impl))
    for name, family in families.items():
        with _quiet_warnings():
            load, timings = measure_family([(impl.epoch, _same) for _, impl in family], retries=cfg.retry_busy,
                                           wait_idle=cfg.wait_idle, busy=BUSY, log=log, label=f"{p.label} [{name}]",
                                           repeats=repeats, min_time=cfg.min_time, warmup=2, slow=1.0,
                                           extra_rounds=cfg.extra_rounds)
        for (row, _), t in zip(family, timings):
            if "error" in t:
                row["skipped"] = t["error"]
            else:
                row.update(t, per_step_s=t["median_s"] / p.steps, others_cpu_cores=load, family=name)
    for row in rows:
        row.pop("params_after_first", None)
        if "median_s" in row:
            log(f"  {p.label:<20} {LABELS.get(row['key'], row['key']):<42} epoch {fmt_time(row['median_s'])}"
                f"  ({fmt_time(row['per_step_s'])}/step)")
    add_ratios(rows)
    return rows


def _same(x):
    return x


@contextlib.contextmanager
def _quiet_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Dd]onat.*")  # donation is a hint; CPU may decline it
        # fit on NumPy warns when σ(z) saturates (exp(-z) overflows to inf, σ = 0 as it should); the hand
        # loop silences it with np.errstate
        warnings.filterwarnings("ignore", message="overflow encountered in exp", category=RuntimeWarning)
        yield


def key_name(key):
    """``fit:jax`` -> ``jax``; a peer's key is its own name."""
    return key.split(":", 1)[1] if ":" in key else key


def agreement(rows):
    """Max |Δ| of the parameters after the first epoch against the hand NumPy (CuPy) loop: same
    start, same permutation, so only float32 rounding should separate them."""
    ref = next((r["params_after_first"] for r in rows if r["key"] in ("hand-numpy", "hand-cupy")
                and "params_after_first" in r), None)
    for r in rows:
        got = r.get("params_after_first")
        if ref is None or got is None:
            continue
        diff = max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
                   for pa, pb in zip(got, ref) for a, b in zip(pa, pb))
        scale = max(float(np.max(np.abs(b))) for pb in ref for b in pb)
        r["max_abs_diff_vs_hand"] = diff
        r["max_param"] = scale


def add_ratios(rows):
    fits = {key_name(r["key"]): r for r in rows if r["key"].startswith("fit:") and "median_s" in r}
    for r in rows:
        fit = fits.get(COMPARE.get(r["key"]))
        if fit is not None and "median_s" in r:
            r["compare"] = fit["key"]
            r["ratio_fit_over_this"] = fit["median_s"] / r["median_s"]
            r["ratio_fastest"] = fit["min_s"] / r["min_s"]


# -- reporting -----------------------------------------------------------------------------------------
def fmt_time(s):
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "—"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def targets(payload):
    out = []
    settings = payload["settings"]
    find = lambda rows, key: next((r for r in rows if r["key"] == key and "median_s" in r), None)
    if payload["machine"]["mode"] == "gpu":
        for name, i, key, limit in GPU_TARGETS:
            if i >= len(settings):
                continue
            r = find(settings[i]["rows"], key)
            value = None if r is None else r["per_step_s"]
            out.append(dict(target=name, setting=settings[i]["label"], measured=value, fastest=None if r is None
                            else r["min_s"] / r["steps"], limit=limit, met=None if value is None else value <= limit,
                            unit="s"))
        return out
    for name, i, peer, limit in CPU_TARGETS:
        if i >= len(settings):
            continue
        r = find(settings[i]["rows"], peer)
        value = None if r is None or "ratio_fit_over_this" not in r else r["ratio_fit_over_this"]
        out.append(dict(target=name, setting=settings[i]["label"], measured=value,
                        fastest=None if value is None else r["ratio_fastest"], limit=limit,
                        met=None if value is None else value <= limit, unit="×"))
    return out


def setting_table(rows):
    lines = ["| implementation | epoch: median [min–max] | per step | fit ÷ this (fastest repeats) "
             "| first epoch (compile) | max \\|Δparam\\| vs hand | cost, accuracy after 1st epoch "
             "| repeats (busy dropped) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = LABELS.get(r["key"], r["key"])
        if "median_s" not in r:
            lines.append(f"| {name} | {r.get('skipped', '?')} | | | | | | |")
            continue
        ratio = "" if "ratio_fit_over_this" not in r else (
            f"**{r['ratio_fit_over_this']:.2f}** ({r['ratio_fastest']:.2f}) [{key_name(r['compare'])}]")
        diff = "" if "max_abs_diff_vs_hand" not in r else f"{r['max_abs_diff_vs_hand']:.1e}"
        lines.append(
            f"| {name} | {fmt_time(r['median_s'])} [{fmt_time(r['min_s'])}–{fmt_time(r['max_s'])}] "
            f"| {fmt_time(r['per_step_s'])} | {ratio} | {fmt_time(r.get('first_epoch_s'))} | {diff} "
            f"| {r['first_cost']:.3f}, {r['first_accuracy']:.3f} | {r['repeats']} ({r['busy_repeats_dropped']})"
            f"{'' if r.get('quiet', True) else ' noisy'} |")
    return "\n".join(lines)


def tables(payload):
    m = payload["machine"]
    c = payload["config"]
    head = [
        f"# fit benchmark — {m['cpu']}{', ' + m['gpu'] if m.get('gpu') else ''}, "
        f"{m.get('cpus_usable', m['cpu_count'])} cores ({m['mode']})",
        "",
        f"{m['date']}; portable_bp {c.get('git', '?')}; Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if k != "portable_bp")
        + (f"; torch threads {m['torch_threads']}" if "torch_threads" in m else ""),
        "",
        f"Command: `{c['command']}` ({payload['wall_seconds'] / 60:.1f} min). "
        f"Recipe: {c['recipe']}. Data: {c['data']}. One epoch = {c['epoch']}.",
        "",
        "Epoch times are medians over the repeats ([min–max]) after one untimed epoch (JAX's and "
        "torch.compile's compilation are not in them: the 'first epoch' column shows what it cost). "
        "**fit ÷ this** < 1 means portable_bp's fit is faster than that peer; the bracket names the fit "
        "backend it is compared with. max |Δparam|: after the first epoch, from the same start and the "
        "same permutation, against the hand NumPy loop (float32 rounding only).",
    ]
    parts = head
    for s in payload["settings"]:
        parts += ["", f"## {s['label']}, {s['n']} samples, {s['steps']} steps per epoch", "", setting_table(s["rows"])]
    parts += ["", "## Targets (issue 13; verdict on medians, fastest repeats in brackets)", "",
              "| target | setting | measured | limit | met |", "|---|---|---|---|---|"]
    for t in payload["targets"]:
        if t["measured"] is None:
            val = "not measured"
        elif t["unit"] == "s":
            val = f"{fmt_time(t['measured'])} ({fmt_time(t['fastest'])})"
        else:
            val = f"{t['measured']:.2f}× ({t['fastest']:.2f}×)"
        lim = fmt_time(t["limit"]) if t["unit"] == "s" else f"{t['limit']}×"
        met = "—" if t["met"] is None else ("met" if t["met"] else "**not met**")
        parts.append(f"| {t['target']} | {t['setting']} | {val} | {lim} | {met} |")
    if payload.get("sweep"):
        keys = []
        for s in payload["sweep"]:
            keys += [r["key"] for r in s["rows"] if r["key"] not in keys]
        parts += ["", f"## Time per step (epoch ÷ steps) against the batch, [{','.join(map(str, SWEEP_SIZES))}]", "",
                  "| implementation | " + " | ".join(f"B={s['batch']}" for s in payload["sweep"]) + " |",
                  "|---|" + "---|" * len(payload["sweep"])]
        for key in keys:
            cells = []
            for s in payload["sweep"]:
                r = next((r for r in s["rows"] if r["key"] == key), None)
                cells.append("—" if r is None or "median_s" not in r else fmt_time(r["per_step_s"]))
            parts.append(f"| {LABELS.get(key, key)} | " + " | ".join(cells) + " |")
    loads = []
    for s in payload["settings"] + payload.get("sweep", []):
        fam = {}
        for r in s["rows"]:
            if "others_cpu_cores" in r and r["others_cpu_cores"] is not None:
                fam[r["family"]] = r["others_cpu_cores"]
        loads.append(f"{s['label']}: " + ", ".join(f"{k} {v:.2f}" for k, v in fam.items()))
    parts += ["", "Cores other processes used while each family was timed (shared machine): " + "; ".join(loads), ""]
    return "\n".join(parts)


STYLE = {  # key: (color, marker, linestyle)
    "fit:numpy": ("tab:blue", "o", "-"), "fit:jax": ("tab:red", "s", "-"), "fit:torch": ("tab:orange", "D", "-"),
    "fit:array_api_strict": ("tab:purple", "v", "-"), "fit:cupy": ("tab:green", "^", "-"),
    "hand-numpy": ("tab:blue", "o", "--"), "hand-cupy": ("tab:green", "^", "--"), "sklearn": ("tab:gray", "x", ":"),
    "jax-scan": ("tab:red", "s", "--"), "jax-jit-loop": ("darkred", "P", ":"),
    "torch-eager": ("tab:orange", "D", "--"), "torch-compile": ("saddlebrown", "*", ":"),
}


def plot(payload, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    sweep = payload["sweep"]
    series = {}
    for s in sweep:
        for r in s["rows"]:
            if "median_s" in r:
                series.setdefault(r["key"], []).append(r)
    fig, ax = plt.subplots(figsize=(10.5, 5.6))
    order = list(LABELS)
    for key, rs in sorted(series.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
        color, marker, ls = STYLE.get(key, ("k", "o", "-"))
        x = [r["batch"] for r in rs]
        y = [r["per_step_s"] for r in rs]
        err = [[(r["median_s"] - r["min_s"]) / r["steps"] for r in rs],
               [(r["max_s"] - r["median_s"]) / r["steps"] for r in rs]]
        ax.errorbar(x, y, yerr=err, color=color, marker=marker, ls=ls, lw=1.6 if key.startswith("fit") else 1.2,
                    ms=6, mfc=color if key.startswith("fit") else "none", capsize=2, label=LABELS.get(key, key))
    batches = [s["batch"] for s in sweep]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlim(batches[0] / 1.5, batches[-1] * 1.5)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt_time(v)))
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlabel("batch size B")
    ax.set_ylabel("time per step = epoch time ÷ steps")
    m = payload["machine"]
    where = m.get("gpu") or f"{m['cpu']}, {m.get('cpus_usable', m['cpu_count'])} cores"
    n = max(s["n"] for s in sweep)
    fewer = ", ".join(f"B={s['batch']}: {s['n']}" for s in sweep if s["n"] < n)
    ax.set_title(f"fit vs hand-written loops, [{','.join(map(str, SWEEP_SIZES))}] float32: one epoch of {n} samples"
                 f"{f' ({fewer})' if fewer else ''} incl. one evaluation pass\n{where}; median, bars min–max",
                 fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5, frameon=False,
              title="solid: portable_bp fit\ndashed/dotted: by hand", title_fontsize=8.5)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- main ---------------------------------------------------------------------------------------------
def _git_commit():
    try:
        out = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python benchmarks/fit_bench.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="directory for fit.json, table.md, time_per_step.png")
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu",
                   help="gpu: jax and torch on the GPU, cupy; numpy, array_api_strict and scikit-learn are CPU-only")
    p.add_argument("--backends", type=_csv(["numpy", "jax", "torch", "array_api_strict", "cupy"]), default=None,
                   help="fit backends (default: numpy,jax,torch,array_api_strict; gpu: jax,torch,cupy)")
    p.add_argument("--peers", type=_csv(PEERS + ["none"]), default=None,
                   help=f"hand peers (default: {','.join(PEERS)})")
    p.add_argument("--batches", default=None, help="batch sizes of the figure (default 1,10,32,64,256,1024; "
                   "'none' for no sweep)")
    p.add_argument("--n-samples", type=int, default=None, help=f"training samples (default {N_SAMPLES})")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats of the two table settings (default 7)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each family, wait up to this long for other processes to use < 0.25 cores")
    p.add_argument("--retry-busy", type=int, default=0, metavar="K",
                   help="time a family again (up to K times, keeping the best attempt) when some of it got fewer "
                        "than 3 quiet repeats")
    p.add_argument("--threads", type=int, default=0, metavar="N",
                   help="N threads for OpenBLAS, PyTorch and XLA (default 0: each library's default; on a shared "
                        "2-core machine 1 keeps PyTorch's and OpenBLAS's spinning workers from stalling)")
    p.add_argument("--no-compile", action="store_true", help="leave out torch.compile (it compiles for seconds)")
    p.add_argument("--no-numpy-in", action="store_true", help="leave out the fit rows fed with NumPy arrays")
    p.add_argument("--quick", action="store_true",
                   help=f"a smoke run: {QUICK['n']} samples, batches {QUICK['sweep']}, 3 repeats, no torch.compile")
    p.add_argument("--no-plot", action="store_true", help="no PNG (no matplotlib needed)")
    p.add_argument("--from-json", default=None, metavar="FIT_JSON", help="time nothing: tables and figure again")
    return p.parse_args(argv)


def config_from(args, log=print):
    gpu = args.device == "gpu"
    peers = args.peers or list(PEERS)
    if "none" in peers:
        peers = []
    if args.no_compile or args.quick:
        peers = [q for q in peers if q != "torch-compile"]
    cfg = Config(out=args.out, gpu=gpu, backends=args.backends or FIT_BACKENDS[args.device], peers=peers,
                 wait_idle=args.wait_idle, retry_busy=max(0, args.retry_busy),
                 numpy_in=not (args.no_numpy_in or args.quick), threads=max(0, args.threads), log=log)
    if args.quick:
        cfg.n, cfg.sweep, cfg.repeats, cfg.sweep_repeats = QUICK["n"], QUICK["sweep"], QUICK["repeats"], 3
        cfg.extra_rounds = 1
    if args.n_samples:
        cfg.n = args.n_samples
    if args.repeats:
        cfg.repeats = args.repeats
        cfg.sweep_repeats = min(cfg.sweep_repeats, args.repeats)
    if args.batches:
        cfg.sweep = () if args.batches == "none" else tuple(int(b) for b in args.batches.split(","))
    return cfg


def limit_threads(n):
    """N threads for XLA (read when JAX starts its CPU client: before any JAX call), OpenBLAS and PyTorch."""
    eigen = "false" if n == 1 else "true"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={n}").strip()
    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(n)
    with contextlib.suppress(ImportError):
        import sklearn.neural_network  # noqa: F401  (loads SciPy's OpenBLAS too, so that it is limited below)
    with contextlib.suppress(ImportError):
        import threadpoolctl

        threadpoolctl.threadpool_limits(n)  # OpenBLAS (NumPy, scikit-learn) and OpenMP pools loaded by now


def run(cfg, command):
    log = cfg.log
    if cfg.gpu:
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # leave GPU memory to torch and CuPy
    if cfg.threads:
        limit_threads(cfg.threads)
    X, labels, source = mnist_shaped(cfg.n)
    t0 = time.perf_counter()
    payload = {"settings": [], "sweep": []}
    done = {}
    for sizes, batch in SETTINGS:
        p = Problem(sizes, batch, X, labels, gpu=cfg.gpu)
        log(f"{p.label}: {p.steps} steps per epoch")
        rows = measure_setting(p, keys_for(cfg, p, sweep=False), cfg, cfg.repeats)
        done[(sizes, batch)] = rows
        payload["settings"].append(dict(label=p.label, n=p.n, batch=batch, steps=p.steps, rows=rows))
    for batch in cfg.sweep:
        n = min(cfg.n, SWEEP_MAX_STEPS * batch)
        p = Problem(SWEEP_SIZES, batch, X[:n], labels[:n], gpu=cfg.gpu)
        if (SWEEP_SIZES, batch) in done:  # measured above: the same run, the same numbers
            rows = [r for r in done[(SWEEP_SIZES, batch)] if not r["key"].startswith("fit-numpy-in")]
        else:
            log(f"sweep {p.label}: {p.steps} steps per epoch")
            rows = measure_setting(p, keys_for(cfg, p, sweep=True), cfg, cfg.sweep_repeats)
        payload["sweep"].append(dict(label=p.label, n=p.n, batch=batch, steps=p.steps, rows=rows))
    payload["wall_seconds"] = time.perf_counter() - t0
    payload["machine"] = machine_info(["jax", "torch", "cupy"] if cfg.gpu else ["jax", "torch"], cfg.gpu)
    payload["config"] = dict(
        command=command, git=_git_commit(), device="gpu" if cfg.gpu else "cpu", backends=cfg.backends,
        peers=cfg.peers, n=cfg.n, lr=LR, seed=SEED, dtype="float32", settings=[p[0] for p in SETTINGS],
        sweep_sizes=list(SWEEP_SIZES), sweep_batches=list(cfg.sweep), repeats=cfg.repeats,
        sweep_repeats=cfg.sweep_repeats, min_time_s=cfg.min_time, busy_cores=BUSY, wait_idle_s=cfg.wait_idle,
        retry_busy=cfg.retry_busy, extra_rounds=cfg.extra_rounds, threads=cfg.threads or "library defaults",
        compile_budget_s=COMPILE_BUDGET_S, strict_max_steps=STRICT_MAX_STEPS,
        portable_bp_path=os.path.dirname(sys.modules["portable_bp"].__file__), data=source,
        recipe="sigmoid hidden layer, softmax output, cross-entropy, plain SGD p <- p - lr/m * sum of gradients, "
               f"lr {LR}, float32, init_params(seed {SEED})",
        epoch="shuffle (a permutation), every mini-batch (the last one partial where B does not divide n), "
              "then one evaluation pass (mean cost and accuracy over the training set, read to the host)",
    )
    payload["targets"] = targets(payload)
    return payload


def write(payload, out, plot_it=True, log=print):
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "fit.json"), payload)
    text = tables(payload)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text)
    log("")
    log(text)
    if plot_it and payload.get("sweep"):
        try:
            plot(payload, os.path.join(out, "time_per_step.png"))
        except ImportError as exc:
            log(f"no figure: {exc}")
    log(f"wrote {out}/fit.json, table.md{', time_per_step.png' if plot_it and payload.get('sweep') else ''}")


def main(argv=None):
    args = parse_args(argv)
    if args.from_json:
        import json

        with open(args.from_json) as f:
            payload = json.load(f)
        payload["targets"] = targets(payload)
        write(payload, args.out, not args.no_plot)
        return 0
    cfg = config_from(args)
    command = "python benchmarks/fit_bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
    payload = run(cfg, command)
    write(payload, args.out, not args.no_plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
