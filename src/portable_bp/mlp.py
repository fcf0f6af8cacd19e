"""The MLP: parameters, a backend, and the user-facing methods around ``backprop.py``."""

from __future__ import annotations

import numpy as np

from . import _backend
from . import _validation as check
from .activations import ACTIVATIONS, DERIVATIVES
from .activations import ALIASES as ACTIVATION_ALIASES
from .backprop import Spec, all_finite, backprop, cost_per_sample, forward, sgd_step
from .kernels import KERNELS, get_kernel
from .losses import ALIASES as LOSS_ALIASES
from .losses import CROSS_ENTROPY_OUTPUTS, LOSSES

INITS = ("scaled_normal", "normal")


def init_params(sizes, init, seed, bias=True):
    """Weights and biases as NumPy float64 arrays drawn from ``numpy.random.default_rng(seed)``.

    Biases are drawn first, then weights, as in network.py. ``"normal"`` is network.py's N(0, 1);
    ``"scaled_normal"`` (network2.py's default) divides each weight by √n_{l-1}.
    """
    init = check.check_choice("init", init, INITS)
    rng = np.random.default_rng(seed)
    biases = [rng.standard_normal((n, 1)) if bias else None for n in sizes[1:]]
    weights = [rng.standard_normal((n, m)) for m, n in zip(sizes[:-1], sizes[1:])]
    if init == "scaled_normal":
        weights = [W / np.sqrt(W.shape[1]) for W in weights]
    return weights, biases


class MLP:
    """A multilayer perceptron trained by backpropagation, on any array-API backend.

    ``sizes`` lists the layer widths, e.g. ``[2, 8, 8, 1]``. ``weights[l]`` is W^{l+1} with shape
    (n_{l+1}, n_l) and ``biases[l]`` is b^{l+1} with shape (n_{l+1}, 1), or None without bias.
    """

    def __init__(
        self,
        sizes,
        *,
        activation="sigmoid",
        output_activation=None,
        loss="mse",
        bias=True,
        init="scaled_normal",
        backend=None,
        device=None,
        dtype="float64",
        kernel="matmul",
        seed=None,
    ):
        sizes = check.check_sizes(sizes)
        weights, biases = init_params(sizes, init, seed, bias=bool(bias))
        self._setup(weights, biases, activation, output_activation, loss, backend, device, dtype, kernel)

    @classmethod
    def from_params(
        cls,
        weights,
        biases=None,
        *,
        activation="sigmoid",
        output_activation=None,
        loss="mse",
        backend=None,
        device=None,
        dtype="float64",
        kernel="matmul",
    ):
        """Build a network from given parameters (array-likes or backend arrays).

        ``biases`` may hold (n_l, 1) or (n_l,) arrays, None entries for layers without bias,
        or be None altogether for a network without biases.
        """
        if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__") or len(weights) == 0:
            raise TypeError("weights must be a non-empty list of 2-D arrays W^l of shape (n_l, n_{l-1})")
        ws = []
        for l, W in enumerate(weights):
            W = check.to_host(W, f"weights[{l}]").astype(np.float64)
            if W.ndim != 2:
                raise ValueError(f"weights[{l}] must be 2-D (n_l, n_{{l-1}}); got shape {W.shape}")
            check.check_finite_host(W, f"weights[{l}]")
            if l > 0 and W.shape[1] != ws[-1].shape[0]:
                raise ValueError(
                    f"weights[{l}] has shape {W.shape} but weights[{l - 1}] has {ws[-1].shape}: "
                    f"expected {W.shape[0]} x {ws[-1].shape[0]} (n_l, n_{{l-1}})"
                )
            ws.append(W)
        if biases is None:
            biases = [None] * len(ws)
        if len(biases) != len(ws):
            raise ValueError(f"got {len(ws)} weight matrices but {len(biases)} biases")
        bs = []
        for l, (b, W) in enumerate(zip(biases, ws)):
            if b is None:
                bs.append(None)
                continue
            b = check.to_host(b, f"biases[{l}]").astype(np.float64)
            if b.shape not in ((W.shape[0], 1), (W.shape[0],)):
                raise ValueError(f"biases[{l}] must have shape ({W.shape[0]}, 1) or ({W.shape[0]},); got {b.shape}")
            check.check_finite_host(b, f"biases[{l}]")
            bs.append(b.reshape(-1, 1))
        net = cls.__new__(cls)
        net._setup(ws, bs, activation, output_activation, loss, backend, device, dtype, kernel)
        return net

    # -- construction -------------------------------------------------------------------------
    def _setup(self, weights, biases, activation, output_activation, loss, backend, device, dtype, kernel):
        activation = check.check_choice("activation", activation, DERIVATIVES, ACTIVATION_ALIASES)
        if output_activation is None:
            output_activation = activation
        output_activation = check.check_choice(
            "output_activation", output_activation, ACTIVATIONS, ACTIVATION_ALIASES
        )
        loss = check.check_choice("loss", loss, LOSSES, LOSS_ALIASES)
        if loss == "cross_entropy" and output_activation not in CROSS_ENTROPY_OUTPUTS:
            raise ValueError(
                f"loss='cross_entropy' needs output_activation 'softmax' or 'sigmoid'; got {output_activation!r}"
            )
        kernel = check.check_choice("kernel", kernel, KERNELS)
        self.backend = _backend.resolve_backend(backend)
        self.xp = _backend.namespace(self.backend)
        self.dtype = _backend.resolve_dtype(self.xp, dtype, self.backend)
        self.device = _backend.default_device(self.backend, device)
        self.sizes = [weights[0].shape[1]] + [W.shape[0] for W in weights]
        self.activation, self.output_activation, self.loss = activation, output_activation, loss
        self.kernel = kernel
        self._spec = Spec(self.xp, activation, output_activation, loss, get_kernel(kernel, self.xp))
        self.weights = [self._asarray(W) for W in weights]
        self.biases = [None if b is None else self._asarray(b) for b in biases]
        step = lambda ws, bs, X, Y, lr: sgd_step(self._spec, ws, bs, X, Y, lr)
        grads = lambda ws, bs, X, Y: backprop(self._spec, ws, bs, X, Y)
        jit = self._spec.kernel.jittable
        self._step = _backend.jit(step, self.backend) if jit else step
        self._grads = _backend.jit(grads, self.backend) if jit else grads
        # Where the backend compiles (JAX), the check that X and Y are finite is compiled into the
        # same call as the maths and read afterwards (one dispatch, not four eager ones and two
        # waits); the new parameters are kept only if it passes. Elsewhere it runs first, as a guard.
        self._fused_check = jit and _backend.has_jit(self.backend)
        self._lr_cache = (None, None)
        if self._fused_check:
            xp, spec = self.xp, self._spec
            self._checked = {
                "forward": _backend.jit(lambda ws, bs, X: (forward(spec, ws, bs, X), all_finite(xp, X)),
                                        self.backend),
                "grads": _backend.jit(lambda ws, bs, X, Y: (grads(ws, bs, X, Y), all_finite(xp, X, Y)),
                                      self.backend),
                "step": _backend.jit(lambda ws, bs, X, Y, lr: (step(ws, bs, X, Y, lr), all_finite(xp, X, Y)),
                                     self.backend),
            }

    def _asarray(self, arr):
        return self.xp.asarray(arr, dtype=self.dtype, device=self.device)

    @property
    def dtype_name(self):
        return _backend.dtype_name(self.dtype)

    @property
    def n_layers(self):
        return len(self.weights)

    @property
    def is_classifier(self):
        return self.output_activation in ("softmax", "sigmoid")

    def __repr__(self):
        return (
            f"MLP(sizes={self.sizes}, activation={self.activation!r}, output_activation="
            f"{self.output_activation!r}, loss={self.loss!r}, backend={self.backend!r}, "
            f"dtype={self.dtype_name!r}, kernel={self.kernel!r})"
        )

    # -- input handling -----------------------------------------------------------------------
    def _fast_path(self, X, ndim, width):
        """A backend array of our namespace and dtype with the right shape: check it in place."""
        xp = self.xp
        return (
            _backend.same_namespace(X, xp)
            and X.dtype == self.dtype
            and X.ndim == ndim
            and X.shape[-1] == width
            and X.shape[0] > 0
        )

    def _X(self, X, name="X", finite=True):
        n_in = self.sizes[0]
        if self._fast_path(X, 2, n_in):
            if finite and not bool(self.xp.all(self.xp.isfinite(X))):
                raise ValueError(f"{name} contains NaN or infinity; clean or impute it first")
            return X
        return self._asarray(check.inputs(X, n_in, name))

    def _Y(self, Y, n_samples, name="Y", finite=True):
        n_out = self.sizes[-1]
        if self._fast_path(Y, 2, n_out):
            if Y.shape[0] != n_samples:
                raise ValueError(f"X has {n_samples} samples but {name} has {Y.shape[0]}: they must match")
            if finite and not bool(self.xp.all(self.xp.isfinite(Y))):
                raise ValueError(f"{name} contains NaN or infinity")
            return Y
        return self._asarray(check.targets(Y, n_out, n_samples, self.output_activation, name))

    def _XY(self, X, Y, finite=True):
        X = self._X(X, finite=finite)
        return X, self._Y(Y, X.shape[0], finite=finite)

    def _run_checked(self, name, X, Y=None, *rest):
        """Run the compiled ``name`` (forward/grads/step) and read its flag that X (and Y) are
        finite; if not, the guards of ``_X``/``_Y`` raise their ValueError and nothing is kept."""
        X = self._X(X, finite=False)
        data = (X,) if Y is None else (X, self._Y(Y, X.shape[0], finite=False))
        out, finite = self._checked[name](self.weights, self.biases, *data, *rest)
        if not _backend.to_bool(finite, self.backend):
            self._X(X)  # raises, naming X ...
            if Y is not None:
                self._Y(data[1], X.shape[0])  # ... or Y
            raise ValueError("X or Y contains NaN or infinity")  # pragma: no cover - a guard raised
        return out

    # -- the maths ----------------------------------------------------------------------------
    def forward(self, X):
        """``zs, activations`` for a batch X (N, d): activations[0] is X, zs[l] is Z^{l+1}."""
        if self._fused_check:
            return self._run_checked("forward", X)
        return forward(self._spec, self.weights, self.biases, self._X(X))

    def predict(self, X):
        """The output activations a^L for X, shape (N, n_L), as a backend array."""
        return self.forward(X)[1][-1]

    def backprop(self, X, Y):
        """BP1–BP4 for the batch: ``(grads_w, grads_b)``, each the SUM over samples of ∇C_x."""
        if self._fused_check:
            return self._run_checked("grads", X, Y)
        X, Y = self._XY(X, Y)
        return self._grads(self.weights, self.biases, X, Y)

    def cost(self, X, Y):
        """The MEAN over the batch of the per-sample cost C_x, as a Python float."""
        X, Y = self._XY(X, Y)
        return self._cost(X, Y)

    def _cost(self, X, Y):
        zs, activations = forward(self._spec, self.weights, self.biases, X)
        return float(self.xp.mean(cost_per_sample(self._spec, zs, activations, Y)))

    def accuracy(self, X, Y):
        """Fraction of samples classified correctly (argmax, or a 0.5 threshold for one output)."""
        X, Y = self._XY(X, Y)
        return self._accuracy(X, Y)

    def _accuracy(self, X, Y):
        xp = self.xp
        a = forward(self._spec, self.weights, self.biases, X)[1][-1]
        if self.sizes[-1] == 1:
            threshold = 0.0 if self.output_activation == "tanh" else 0.5
            hits = (a > threshold) == (Y > threshold)
        else:
            hits = xp.argmax(a, axis=1) == xp.argmax(Y, axis=1)
        return float(xp.mean(xp.astype(hits, self.dtype)))

    def update(self, X, Y, lr):
        """One SGD step on the batch (X, Y): p ← p − lr/len(X) · Σ_x ∇C_x."""
        lr = check.check_positive("lr", lr)
        if self._fused_check:
            self.weights, self.biases = self._run_checked("step", X, Y, self._lr_array(lr))
            return self
        X, Y = self._XY(X, Y)
        self._apply_step(X, Y, lr)
        return self

    def _lr_array(self, lr):
        """lr as a 0-d array of the backend (weakly typed on JAX, like the float it replaces),
        made once per value: a compiled call would otherwise convert the float on every call."""
        if self._lr_cache[0] != lr:
            self._lr_cache = (lr, self.xp.asarray(lr, device=self.device))
        return self._lr_cache[1]

    def _apply_step(self, X, Y, lr):
        if self._fused_check:
            lr = self._lr_array(lr)
        self.weights, self.biases = self._step(self.weights, self.biases, X, Y, lr)

    def fit(self, X, Y, *, epochs, batch_size, lr, shuffle=True, seed=None, progress=True,
            callback=None):
        """Mini-batch SGD as in network.py. Returns a history dict of per-epoch lists.

        ``history["cost"]`` is the mean training cost after each epoch (and
        ``history["accuracy"]`` for a softmax/sigmoid output). With ``shuffle=True`` each epoch
        visits the samples in an order drawn from ``numpy.random.default_rng(seed)``.
        ``callback(epoch, net, history)``, if given, runs after every epoch (plots, animations).
        """
        epochs = check.check_positive("epochs", epochs, integer=True)
        batch_size = check.check_positive("batch_size", batch_size, integer=True)
        lr = check.check_positive("lr", lr)
        X, Y = self._XY(X, Y)
        n = X.shape[0]
        if batch_size > n:
            raise ValueError(f"batch_size={batch_size} is larger than the {n} training samples")
        rng = np.random.default_rng(seed)
        history = {"cost": []}
        if self.is_classifier:
            history["accuracy"] = []
        bar = _progress(range(epochs), progress, desc=f"fit [{self.backend}]")
        for epoch in bar:
            start = (self.weights, self.biases)  # arrays are never written in place: keeping is free
            for Xb, Yb in self._minibatches(X, Y, batch_size, rng if shuffle else None):
                self._apply_step(Xb, Yb, lr)
            c = self._cost(X, Y)
            if not np.isfinite(c):
                self.weights, self.biases = start
                raise FloatingPointError(
                    f"the training cost became {c} in epoch {epoch + 1}: the steps diverged; the "
                    f"network keeps the parameters from before that epoch. Try a smaller lr than {lr}"
                )
            history["cost"].append(c)
            if self.is_classifier:
                history["accuracy"].append(self._accuracy(X, Y))
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(cost=f"{c:.4g}")
            if callback is not None:
                callback(epoch, self, history)
        return history

    def _minibatches(self, X, Y, batch_size, rng=None):
        """Consecutive (X_b, Y_b) slices of one epoch, in an order drawn from ``rng`` if given."""
        xp, n = self.xp, X.shape[0]
        if rng is not None:
            perm = xp.asarray(rng.permutation(n), device=self.device)
            X, Y = xp.take(X, perm, axis=0), xp.take(Y, perm, axis=0)
        for k in range(0, n, batch_size):
            yield X[k : k + batch_size, ...], Y[k : k + batch_size, ...]

    # -- conversion ---------------------------------------------------------------------------
    def params_numpy(self):
        """(weights, biases) as NumPy arrays."""
        to = _backend.to_numpy
        return [to(W) for W in self.weights], [None if b is None else to(b) for b in self.biases]

    def to(self, backend=None, device=None, dtype=None, kernel=None):
        """A copy of this network on another backend / device / dtype / kernel."""
        ws, bs = self.params_numpy()
        return MLP.from_params(
            ws,
            bs,
            activation=self.activation,
            output_activation=self.output_activation,
            loss=self.loss,
            backend=backend or self.backend,
            device=device,
            dtype=dtype or self.dtype_name,
            kernel=kernel or self.kernel,
        )


def _progress(iterable, progress, desc):
    if not progress:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, unit="epoch", leave=True)
