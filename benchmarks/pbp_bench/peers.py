"""The tools people would otherwise use, each doing one SGD step on the same network and data.

The network of every benchmark: sigmoid hidden layers; a softmax output with cross-entropy for
several outputs, a sigmoid output with binary cross-entropy for one (so scikit-learn's
MLPClassifier with ``activation="logistic"`` is exactly the same model). The step is
network.py's rule p ← p − (η/m) Σ_x ∇C_x, i.e. plain SGD on the batch-mean cost.

Each ``make_*`` function returns ``step()``, a callable doing one step and returning something
to synchronise on, or raises ``Unavailable`` with the reason the peer cannot run here.
Every peer starts from the same parameters as portable_bp (``init_params`` with the same seed).
"""

from __future__ import annotations

import numpy as np


class Unavailable(Exception):
    """This peer cannot run here (library missing, no GPU, CPU-only tool in GPU mode...)."""


# -- the hand-written NumPy step of the seed notebook ---------------------------------------------
def _array_module(gpu):
    if not gpu:
        return np
    try:
        import cupy
    except ImportError as exc:
        raise Unavailable(f"cupy not importable: {exc}") from None
    return cupy


def _forward_columns(mod, weights, biases, XT, softmax):
    """The notebook's vectorised forward pass on columns (n, N): the activations a^0 … a^L."""
    a, activations, L = XT, [XT], len(weights)
    for l, (W, b) in enumerate(zip(weights, biases)):
        z = W.dot(a) + b
        if softmax and l == L - 1:
            e = mod.exp(z - z.max(axis=0, keepdims=True))
            a = e / e.sum(axis=0, keepdims=True)
        else:
            a = 1.0 / (1.0 + mod.exp(-z))
        activations.append(a)
    return activations


def make_handwritten(p, gpu=False):
    """The seed notebook's vectorised code: ``feedforward_batch`` (columns are samples, z = W·a + b)
    and BP1–BP4 with one matrix product per layer for the whole batch; new lists, as network.py."""
    mod = _array_module(gpu)
    dt = getattr(mod, p.dtype)
    weights = [mod.asarray(W, dtype=dt) for W in p.weights]
    biases = [mod.asarray(b, dtype=dt) for b in p.biases]
    XT, YT = mod.asarray(p.X, dtype=dt).T, mod.asarray(p.Y, dtype=dt).T
    m, eta, softmax, L = XT.shape[1], p.lr, p.softmax, len(weights)
    state = [weights, biases]

    def step():
        weights, biases = state
        activations = _forward_columns(mod, weights, biases, XT, softmax)
        a = activations[-1]
        delta = a - YT  # BP1 for cross-entropy on a softmax/sigmoid output
        new_w, new_b = [None] * L, [None] * L
        for l in range(L - 1, -1, -1):
            new_w[l] = weights[l] - (eta / m) * delta.dot(activations[l].T)  # BP4
            new_b[l] = biases[l] - (eta / m) * delta.sum(axis=1, keepdims=True)  # BP3
            if l:
                a = activations[l]
                delta = weights[l].T.dot(delta) * (a * (1.0 - a))  # BP2
        state[:] = new_w, new_b
        return new_w[0]

    return step


def make_notebook_stacked(p, gpu=False):
    """The notebook's ``backprop_batch``: per-sample (n, 1) columns stacked into (N, n, 1) arrays,
    δ aᵀ outer products as an (N, n_l, n_{l-1}) stack summed over the batch."""
    mod = _array_module(gpu)
    dt = getattr(mod, p.dtype)
    weights = [mod.asarray(W, dtype=dt) for W in p.weights]
    biases = [mod.asarray(b, dtype=dt) for b in p.biases]
    XT, Ystack = mod.asarray(p.X, dtype=dt).T, mod.asarray(p.Y, dtype=dt)[:, :, None]
    m, eta, softmax, L = XT.shape[1], p.lr, p.softmax, len(weights)
    state = [weights, biases]

    def step():
        weights, biases = state
        activations = _forward_columns(mod, weights, biases, XT, softmax)
        stacks = [A.T[:, :, None] for A in activations]  # (N, n, 1)
        delta = stacks[-1] - Ystack
        new_w, new_b = [None] * L, [None] * L
        for l in range(L - 1, -1, -1):
            a_prev = stacks[l]
            new_w[l] = weights[l] - (eta / m) * (delta @ a_prev.transpose(0, 2, 1)).sum(axis=0)
            new_b[l] = biases[l] - (eta / m) * delta.sum(axis=0)
            if l:
                delta = (weights[l].T @ delta) * (a_prev * (1.0 - a_prev))
        state[:] = new_w, new_b
        return new_w[0]

    return step


# -- network.py, sample by sample -----------------------------------------------------------------
def make_network_py(p, gpu=False):
    """network.py's ``update_mini_batch``: backprop one (x, y) column pair at a time, sum the
    nablas, update. δ^L = a − y (network2.py's cross-entropy delta)."""
    if gpu:
        raise Unavailable("network.py is NumPy-only (CPU)")
    dt = np.dtype(p.dtype)
    weights = [W.astype(dt) for W in p.weights]
    biases = [b.astype(dt) for b in p.biases]
    mini_batch = [(x.reshape(-1, 1).astype(dt), y.reshape(-1, 1).astype(dt)) for x, y in zip(p.X, p.Y)]
    eta, softmax, num_layers = p.lr, p.softmax, len(p.sizes)
    state = [weights, biases]

    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    def sigmoid_prime(z):
        return sigmoid(z) * (1 - sigmoid(z))

    def backprop(x, y, weights, biases):
        nabla_b = [None] * len(biases)
        nabla_w = [None] * len(weights)
        activation, activations, zs = x, [x], []
        for i, (b, w) in enumerate(zip(biases, weights)):
            z = np.dot(w, activation) + b
            zs.append(z)
            if softmax and i == len(weights) - 1:
                e = np.exp(z - z.max())
                activation = e / e.sum()
            else:
                activation = sigmoid(z)
            activations.append(activation)
        delta = activations[-1] - y
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, num_layers):
            z = zs[-l]
            sp = sigmoid_prime(z)
            delta = np.dot(weights[-l + 1].transpose(), delta) * sp
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return nabla_b, nabla_w

    def step():
        weights, biases = state
        nabla_b = [np.zeros(b.shape, dtype=dt) for b in biases]
        nabla_w = [np.zeros(w.shape, dtype=dt) for w in weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = backprop(x, y, weights, biases)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        state[:] = (
            [w - (eta / len(mini_batch)) * nw for w, nw in zip(weights, nabla_w)],
            [b - (eta / len(mini_batch)) * nb for b, nb in zip(biases, nabla_b)],
        )
        return state[0][0]

    return step


# -- PyTorch eager autograd -----------------------------------------------------------------------
def make_torch(p, gpu=False):
    """``loss.backward()`` and ``torch.optim.SGD`` (momentum 0) on the batch-mean cross-entropy."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as exc:
        raise Unavailable(f"torch not importable: {exc}") from None
    if gpu and not torch.cuda.is_available():
        raise Unavailable("torch sees no CUDA device")
    device = torch.device("cuda" if gpu else "cpu")
    dt = getattr(torch, p.dtype)
    t = lambda a: torch.tensor(np.ascontiguousarray(a), dtype=dt, device=device)
    params = []
    for W, b in zip(p.weights, p.biases):
        params += [t(W).requires_grad_(), t(b.ravel()).requires_grad_()]
    X = t(p.X)
    target = torch.tensor(p.labels, dtype=torch.long, device=device) if p.softmax else t(p.Y)
    opt = torch.optim.SGD(params, lr=p.lr, momentum=0.0)
    L = len(p.weights)

    def step():
        a = X
        for l in range(L):
            z = F.linear(a, params[2 * l], params[2 * l + 1])
            a = torch.sigmoid(z) if l < L - 1 else z
        if p.softmax:
            loss = F.cross_entropy(a, target)
        else:
            loss = F.binary_cross_entropy_with_logits(a, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return params[0]

    return step


# -- jax.grad + jax.jit ---------------------------------------------------------------------------
def make_jax(p, gpu=False):
    """One ``jax.jit``-compiled function: ``jax.grad`` of the batch-mean cost and p − η g."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise Unavailable(f"jax not importable: {exc}") from None
    if p.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    try:
        device = jax.devices("gpu" if gpu else "cpu")[0]
    except RuntimeError as exc:
        raise Unavailable(f"jax has no {'GPU' if gpu else 'CPU'} device: {exc}") from None
    dt = getattr(jnp, p.dtype)
    put = lambda a: jax.device_put(jnp.asarray(a, dtype=dt), device)
    params = [(put(W), put(b.ravel())) for W, b in zip(p.weights, p.biases)]
    X, Y = put(p.X), put(p.Y)
    eta, softmax = p.lr, p.softmax

    def loss(params, X, Y):
        a = X
        for W, b in params[:-1]:
            a = jax.nn.sigmoid(a @ W.T + b)
        W, b = params[-1]
        z = a @ W.T + b
        if softmax:
            return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(z, axis=-1), axis=-1))
        return jnp.mean(jnp.sum(Y * jax.nn.softplus(-z) + (1 - Y) * jax.nn.softplus(z), axis=-1))

    @jax.jit
    def sgd(params, X, Y):
        grads = jax.grad(loss)(params, X, Y)
        return jax.tree_util.tree_map(lambda q, g: q - eta * g, params, grads)

    state = [params]

    def step():
        state[0] = sgd(state[0], X, Y)
        return state[0]

    return step


# -- scikit-learn ---------------------------------------------------------------------------------
def make_sklearn(p, gpu=False):
    """``MLPClassifier.partial_fit``: one pass of SGD over the batch (batch_size=N: one step),
    momentum 0, constant learning rate, no L2 penalty, no shuffling."""
    if gpu:
        raise Unavailable("scikit-learn's MLP is NumPy-only (CPU)")
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError as exc:
        raise Unavailable(f"scikit-learn not importable: {exc}") from None
    import warnings

    dt = np.dtype(p.dtype)
    clf = MLPClassifier(
        hidden_layer_sizes=tuple(p.sizes[1:-1]), activation="logistic", solver="sgd", alpha=0.0,
        batch_size=p.X.shape[0], learning_rate="constant", learning_rate_init=p.lr, momentum=0.0,
        nesterovs_momentum=False, shuffle=False, max_iter=1, random_state=0,
    )
    X = p.X.astype(dt)
    labels = p.labels
    classes = np.arange(p.sizes[-1]) if p.softmax else np.array([0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.partial_fit(X, labels, classes=classes)  # builds the network; then start from ours
    if [c.shape for c in clf.coefs_] != [W.T.shape for W in p.weights]:
        raise Unavailable(f"MLPClassifier built layers {[c.shape for c in clf.coefs_]}, not {p.sizes}")
    clf.coefs_ = [np.ascontiguousarray(W.T, dtype=dt) for W in p.weights]
    clf.intercepts_ = [b.ravel().astype(dt) for b in p.biases]

    def step():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(X, labels)
        return clf.coefs_[0]

    return step


PEERS = {
    # name: (factory, the portable_bp backend it is compared with (CPU, GPU), description)
    "handwritten": (make_handwritten, ("numpy", "cupy"),
                    "the seed notebook's vectorised NumPy step (one matrix product per layer; CuPy on a GPU)"),
    "notebook-stacked": (make_notebook_stacked, ("numpy", "cupy"),
                         "the notebook's backprop_batch: (N, n, 1) stacks, outer products summed"),
    "torch-autograd": (make_torch, ("torch", "torch"), "PyTorch eager: loss.backward() + torch.optim.SGD"),
    "jax-grad-jit": (make_jax, ("jax", "jax"), "jax.jit of jax.grad and p - lr*g"),
    "sklearn": (make_sklearn, ("numpy", None), "scikit-learn MLPClassifier.partial_fit, solver='sgd'"),
    "network.py": (make_network_py, ("numpy", None), "network.py's per-sample backprop loop"),
}
