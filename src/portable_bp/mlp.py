"""The MLP: parameters, a backend, and the user-facing methods around ``backprop.py``."""

from __future__ import annotations

import copy

import numpy as np

from . import _backend, _data, _sharding, _training
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

    #: samples read at a time from out-of-core data (memory maps, Dask arrays) and per evaluation piece
    stream_rows = 4096

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
        weights, biases = init_params(sizes, init, check.check_seed(seed), bias=check.check_bool("bias", bias))
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
        self.sizes = [weights[0].shape[1]] + [W.shape[0] for W in weights]
        self.activation, self.output_activation, self.loss = activation, output_activation, loss
        self.kernel = kernel
        self._spec = Spec(self.xp, activation, output_activation, loss, get_kernel(kernel, self.xp))
        try:
            self.device = _backend.default_device(self.backend, device)
            self.weights = [self._asarray(W) for W in weights]
            self.biases = [None if b is None else self._asarray(b) for b in biases]
        except Exception as exc:
            if device is None:
                raise
            first_line = (str(exc).splitlines() or [""])[0][:300]  # torch's messages run for pages
            raise ValueError(f"device={device!r} is not usable with backend {self.backend!r}: "
                             f"{type(exc).__name__}: {first_line}") from None
        self._device_key = _backend.device_key(self.weights[0])
        step = lambda ws, bs, X, Y, lr: sgd_step(self._spec, ws, bs, X, Y, lr)
        grads = lambda ws, bs, X, Y: backprop(self._spec, ws, bs, X, Y)
        jit = self._spec.kernel.jittable
        self._step = _backend.jit(step, self.backend) if jit else step
        self._grads = _backend.jit(grads, self.backend) if jit else grads
        xp, spec = self.xp, self._spec
        params = lambda ws, bs: [*ws, *[b for b in bs if b is not None]]
        finite = lambda ws, bs: all_finite(xp, *params(ws, bs))
        self._finite = _backend.jit(finite, self.backend) if jit else finite  # one dispatch on JAX
        # X and Y are valid: finite (checked together with any further arrays), in [0, 1] for cross-entropy
        valid = lambda X, Y, *more: xp.logical_and(all_finite(xp, X, Y, *more), self._targets_in_range(Y))

        def checked_step(ws, bs, X, Y, lr):
            """update()'s step and ONE flag: the inputs were valid and the new parameters are finite."""
            new = step(ws, bs, X, Y, lr)
            return new, valid(X, Y, *params(*new))

        self._checked_step = _backend.jit(checked_step, self.backend) if jit else checked_step
        # Where the backend compiles (JAX), the check that X and Y are valid (finite; in [0, 1] for
        # cross-entropy) is compiled into the same call as the maths and read afterwards (one
        # dispatch, not several eager ones and waits); the results are kept only if it passes.
        # Elsewhere it runs first, as a guard.
        self._fused_check = jit and _backend.has_jit(self.backend)
        self._lr_cache = (None, None)
        if self._fused_check:
            self._checked = {
                "forward": _backend.jit(lambda ws, bs, X: (forward(spec, ws, bs, X), all_finite(xp, X)),
                                        self.backend),
                "grads": _backend.jit(lambda ws, bs, X, Y: (grads(ws, bs, X, Y), valid(X, Y)), self.backend),
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
            and _backend.device_key(X) == self._device_key  # another device: converted via the host
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
            if finite:
                ok = self.xp.logical_and(self.xp.all(self.xp.isfinite(Y)), self._targets_in_range(Y))
                if not bool(ok):  # one host synchronisation; the slow path below names the problem
                    check.targets(_backend.to_numpy(Y), n_out, n_samples, self.output_activation, name, self.loss)
            return Y
        return self._asarray(check.targets(Y, n_out, n_samples, self.output_activation, name, self.loss))

    def _targets_in_range(self, Y):
        """A 0-d boolean array: cross-entropy targets lie in [0, 1] (always True for other costs)."""
        xp = self.xp
        if self.loss != "cross_entropy":
            return xp.asarray(True, device=self.device)
        return xp.all((Y >= 0) & (Y <= 1))

    def _XY(self, X, Y, finite=True):
        X = self._X(X, finite=finite)
        return X, self._Y(Y, X.shape[0], finite=finite)

    def _run_checked(self, name, X, Y=None, *rest):
        """Run the compiled ``name`` (forward or grads) and read its flag that X (and Y) are
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

    def _dataset(self, X, Y, plan=None):
        """(X, Y) as backend arrays; or ``(Stream, None)`` for out-of-core data or a device mesh."""
        if isinstance(X, _data.Stream):
            return X, None
        if plan is None and not (_data.is_out_of_core(X) or _data.is_out_of_core(Y)):
            return self._XY(X, Y)
        if plan is None:
            place_batch = place_eval = self._asarray
        else:
            np_dtype = np.dtype(self.dtype_name)
            place_batch = lambda a: plan.shard(a, np_dtype)
            place_eval = lambda a: plan.place(a, np_dtype)
        stream = _data.Stream(
            X, Y, n_in=self.sizes[0], n_out=self.sizes[-1], output_activation=self.output_activation,
            rows=self.stream_rows, place_batch=place_batch, place_eval=place_eval,
            multiple=1 if plan is None else plan.size, loss=self.loss,
        )
        return stream, None

    def _fit_on_mesh(self, devices, X, Y, **fit_args):
        """fit(devices=...): the same loop over batches sharded on a JAX mesh (see _sharding).

        The parameters are replicated over the mesh for the fit and brought back to the network's
        own device afterwards (also when fit raises), so every other method works as before.
        """
        plan = _sharding.data_parallel(self.backend, devices, self._spec.kernel.jittable)
        batch_size = check.check_positive("batch_size", fit_args["batch_size"], integer=True)
        stream, _ = self._dataset(X, Y, plan)
        if batch_size <= stream.n:  # (fit itself reports a batch larger than the data)
            plan.check_batches(stream.n, batch_size)
        val = fit_args.get("validation_data")
        if isinstance(val, (tuple, list)) and len(val) == 2:  # evaluated on the mesh, like the training data
            fit_args["validation_data"] = self._dataset(*val, plan)
        home = lambda p: None if p is None else self._asarray(_backend.to_numpy(p))
        self.weights = [plan.replicate(W) for W in self.weights]
        self.biases = [None if b is None else plan.replicate(b) for b in self.biases]
        try:
            return self.fit(stream, None, **fit_args)
        finally:
            self.weights = [home(W) for W in self.weights]
            self.biases = [home(b) for b in self.biases]

    # -- the maths ----------------------------------------------------------------------------
    def forward(self, X):
        """``zs, activations`` for a batch X (N, d): activations[0] is X, zs[l] is Z^{l+1}."""
        if self._fused_check:
            return self._run_checked("forward", X)
        return forward(self._spec, self.weights, self.biases, self._X(X))

    def predict(self, X):
        """The output activations a^L for X, shape (N, n_L), as a backend array.

        A NumPy memory map is read ``stream_rows`` samples at a time; a Dask array gives a lazy
        Dask array of NumPy blocks, computed block by block on this network's backend.
        """
        if _data.is_out_of_core(X):
            return self._predict_out_of_core(X)
        return self.forward(X)[1][-1]

    def _predict_out_of_core(self, X):
        _data.check_inputs_meta(X, self.sizes[0])
        if _data.is_dask_array(X):
            block = lambda b: _backend.to_numpy(self.predict(b))
            return _data.predict_dask(X, block, self.sizes[-1], np.dtype(self.dtype_name))
        return self.xp.concat(_data.predict_blocks(X, self.predict, self.stream_rows), axis=0)

    def backprop(self, X, Y):
        """BP1–BP4 for the batch: ``(grads_w, grads_b)``, each the SUM over samples of ∇C_x."""
        if self._fused_check:
            return self._run_checked("grads", X, Y)
        X, Y = self._XY(X, Y)
        return self._grads(self.weights, self.biases, X, Y)

    def cost(self, X, Y):
        """The MEAN over the batch of the per-sample cost C_x, as a Python float."""
        X, Y = self._dataset(X, Y)
        return self._cost(X, Y)

    def _cost(self, X, Y):
        if isinstance(X, _data.Stream):
            return self._stream_eval(X)[0]
        zs, activations = forward(self._spec, self.weights, self.biases, X)
        return float(self.xp.mean(cost_per_sample(self._spec, zs, activations, Y)))

    def accuracy(self, X, Y):
        """Fraction of samples classified correctly (argmax, or a 0.5 threshold for one output)."""
        X, Y = self._dataset(X, Y)
        return self._accuracy(X, Y)

    def _accuracy(self, X, Y):
        if isinstance(X, _data.Stream):
            return self._stream_eval(X)[1]
        xp = self.xp
        a = forward(self._spec, self.weights, self.biases, X)[1][-1]
        if self.sizes[-1] == 1:
            threshold = 0.0 if self.output_activation == "tanh" else 0.5
            hits = (a > threshold) == (Y > threshold)
        else:
            hits = xp.argmax(a, axis=1) == xp.argmax(Y, axis=1)
        return float(xp.mean(xp.astype(hits, self.dtype)))

    def _stream_eval(self, stream):
        """Mean cost and accuracy over a Stream in ONE read of the data (fit asks for both in turn)."""
        params = self.weights + self.biases
        if stream.last_eval is not None and all(a is b for a, b in zip(stream.last_eval[0], params)):
            return stream.last_eval[1]
        stats = stream.means(lambda Xc, Yc: (self._cost(Xc, Yc), self._accuracy(Xc, Yc)))
        stream.last_eval = (params, stats)
        return stats

    def update(self, X, Y, lr):
        """One SGD step on the batch (X, Y): p ← p − lr/len(X) · Σ_x ∇C_x.

        A step that would make any parameter NaN or infinite raises ``FloatingPointError`` and
        leaves the network unchanged.
        """
        lr = check.check_positive("lr", lr)
        X, Y = self._XY(X, Y, finite=False)  # shapes and types now; values in the step's one flag
        with _backend.quiet_floating_point(self.backend):  # bad values get the clear error below, not a warning
            new, ok = self._checked_step(self.weights, self.biases, X, Y,
                                         self._lr_array(lr) if self._fused_check else lr)
        if not _backend.to_bool(ok, self.backend):  # the one host synchronisation of a step
            self._XY(X, Y)  # raises the ValueError naming X or Y when the data is at fault
            raise FloatingPointError(
                f"this SGD step (lr={lr:g}) would make parameters NaN or infinite: the gradient is not finite "
                f"or too large. The network is unchanged; try a smaller learning rate or scale X and Y"
            )
        self.weights, self.biases = new
        return self

    def _lr_array(self, lr):
        """lr as a 0-d array of the backend (weakly typed on JAX, like the float it replaces),
        made once per value: a compiled call would otherwise convert the float on every call."""
        if self._lr_cache[0] != lr:
            self._lr_cache = (lr, self.xp.asarray(lr, device=self.device))
        return self._lr_cache[1]

    def fit(self, X, Y, *, epochs, batch_size, lr, shuffle=True, seed=None, progress=True,
            callback=None, validation_data=None, validation_split=None, patience=None, devices=None):
        """Mini-batch SGD as in network.py. Returns a history dict of per-epoch lists.

        ``history["cost"]`` is the mean training cost after each epoch (and
        ``history["accuracy"]`` for a softmax/sigmoid output). With ``shuffle=True`` each epoch
        visits the samples in an order drawn from ``numpy.random.default_rng(seed)`` (``seed`` may
        be a ``numpy.random.Generator``, which then advances: that is how training resumes exactly).
        ``callback(epoch, net, history)``, if given, runs after every epoch (plots, animations).

        Validation: ``validation_data=(X_val, Y_val)``, or ``validation_split=f`` to hold out the
        last fraction f of the samples (before shuffling, as Keras does), adds
        ``history["val_cost"]`` (and ``"val_accuracy"``). With ``patience=k`` training stops once
        the validation cost has not improved for k epochs, and the network ends with the
        parameters of the epoch with the lowest validation cost.

        Failure: a non-finite cost or parameter raises :class:`DivergenceError` (a
        ``FloatingPointError``) naming the epoch and batch; the network keeps its last finite
        parameters (those from just before that batch). The check costs one host
        synchronisation per epoch; the bad batch is found by replaying the failed epoch.
        A ``KeyboardInterrupt`` leaves the network at its last completed step and carries the
        history of the completed epochs as ``exc.history``.

        X and Y may be NumPy memory maps (``np.load(path, mmap_mode="r")``) or Dask arrays: they
        are then read ``stream_rows`` samples at a time, never whole. ``devices`` (JAX only: a list
        of jax devices, a count, or ``"all"``) trains data-parallel: each mini-batch is sharded
        over a device mesh, the parameters are replicated, and the batch size must split evenly
        over the devices (docs/scale.md).
        """
        if devices is not None:
            return self._fit_on_mesh(devices, X, Y, epochs=epochs, batch_size=batch_size, lr=lr, shuffle=shuffle,
                                     seed=seed, progress=progress, callback=callback, validation_data=validation_data,
                                     validation_split=validation_split, patience=patience)
        epochs = check.check_positive("epochs", epochs, integer=True)
        batch_size = check.check_positive("batch_size", batch_size, integer=True)
        lr = check.check_positive("lr", lr)
        shuffle = check.check_bool("shuffle", shuffle)
        rng = np.random.default_rng(check.check_seed(seed))
        callback = check.check_callable("callback", callback)
        if patience is not None:
            patience = check.check_positive("patience", patience, integer=True)
        X, Y = self._dataset(X, Y)
        X, Y, Xv, Yv = self._validation_set(X, Y, validation_data, validation_split)
        if patience is not None and Xv is None:
            raise ValueError("patience needs validation data: pass validation_data=(X_val, Y_val) or validation_split")
        n = X.shape[0]
        if batch_size > n:
            raise ValueError(f"batch_size={batch_size} is larger than the {n} training samples")
        history = {"cost": []}
        if self.is_classifier:
            history["accuracy"] = []
        if Xv is not None:
            history["val_cost"] = []
            if self.is_classifier:
                history["val_accuracy"] = []
        bar = _progress(range(epochs), progress, desc=f"fit [{self.backend}]")
        step_lr = self._lr_array(lr) if self._fused_check else lr  # converted once, not every step
        params = (self.weights, self.biases)  # arrays are never written in place: keeping is free
        best = None  # (val_cost, params, epoch) with early stopping
        try:
            for epoch in bar:
                start, start_rng = params, copy.deepcopy(rng)  # what a replay of this epoch needs
                for Xb, Yb in self._minibatches(X, Y, batch_size, rng if shuffle else None):
                    params = self._step(*params, Xb, Yb, step_lr)  # one tuple store: never half-updated
                self.weights, self.biases = params
                c = self._epoch_cost(X, Y)  # the epoch's one host synchronisation
                if not np.isfinite(c):
                    params = start
                    self.weights, self.biases = start
                    batches = self._minibatches(X, Y, batch_size, start_rng if shuffle else None)
                    k, params, reason = _training.locate_divergence(self, start, batches, lr)
                    self.weights, self.biases = params
                    raise _training.divergence_error(epoch, k, -(-n // batch_size), reason, lr, history)
                history["cost"].append(c)
                if self.is_classifier:
                    history["accuracy"].append(self._accuracy(X, Y))
                if Xv is not None:
                    vc = self._cost(Xv, Yv)
                    history["val_cost"].append(vc)
                    if self.is_classifier:
                        history["val_accuracy"].append(self._accuracy(Xv, Yv))
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(cost=f"{c:.4g}")
                if callback is not None:
                    callback(epoch, self, history)
                if patience is not None:
                    score = vc if np.isfinite(vc) else np.inf  # a NaN validation cost is never the best
                    if best is None or score < best[0]:
                        best = (score, params, epoch)
                    elif epoch - best[2] >= patience:
                        break
        except KeyboardInterrupt as exc:
            self.weights, self.biases = params
            exc.history = history
            raise
        finally:
            if hasattr(bar, "close"):
                bar.close()
        if best is not None:
            params = best[1]
            self.weights, self.biases = params
        return history

    def _epoch_cost(self, X, Y):
        """The training cost after an epoch, NaN if any parameter is not finite."""
        if isinstance(X, _data.Stream):  # streamed: an extra reduction is nothing next to reading the data
            return self._cost(X, Y) if bool(self._finite(self.weights, self.biases)) else float("nan")
        return _training.checked_cost(self._spec, self.weights, self.biases, X, Y)

    def _validation_set(self, X, Y, validation_data, validation_split):
        """(X_train, Y_train, X_val, Y_val); the validation pair is None without validation."""
        if validation_data is not None and validation_split is not None:
            raise ValueError("give validation_data or validation_split, not both")
        if validation_split is not None and isinstance(X, _data.Stream):
            raise ValueError("validation_split needs X and Y in memory; for streamed (memory-mapped, Dask or "
                             "multi-device) data pass validation_data=(X_val, Y_val)")
        if validation_split is not None:
            f = check.check_positive("validation_split", validation_split)
            n = X.shape[0]
            n_val = int(round(f * n))
            if not (f < 1 and 1 <= n_val < n):
                raise ValueError(
                    f"validation_split={validation_split} must be in (0, 1) and leave at least one sample on "
                    f"each side; with {n} samples it gives {n_val} for validation"
                )
            k = n - n_val
            return X[:k, ...], Y[:k, ...], X[k:, ...], Y[k:, ...]
        if validation_data is None:
            return X, Y, None, None
        if isinstance(validation_data, (str, bytes)) or not hasattr(validation_data, "__len__") or len(
            validation_data
        ) != 2:
            raise TypeError("validation_data must be a pair (X_val, Y_val)")
        if isinstance(X, _data.Stream) or any(_data.is_out_of_core(v) for v in validation_data):
            return (X, Y, *self._dataset(*validation_data))  # a Stream (Y None), evaluated a piece at a time
        Xv = self._X(validation_data[0], "validation_data X")
        return X, Y, Xv, self._Y(validation_data[1], Xv.shape[0], "validation_data Y")

    def _minibatches(self, X, Y, batch_size, rng=None):
        """Consecutive (X_b, Y_b) slices of one epoch, in an order drawn from ``rng`` if given."""
        if isinstance(X, _data.Stream):
            yield from self._stream_minibatches(X, batch_size, rng)
            return
        xp, n = self.xp, X.shape[0]
        if rng is not None:
            perm = xp.asarray(rng.permutation(n), device=self.device)
            X, Y = xp.take(X, perm, axis=0), xp.take(Y, perm, axis=0)
        for k in range(0, n, batch_size):
            stop = min(k + batch_size, n)  # the standard leaves out-of-bounds slice stops undefined
            yield X[k:stop, ...], Y[k:stop, ...]

    def _stream_minibatches(self, stream, batch_size, rng):
        """Mini-batches read from a Stream; bad data found mid-epoch restores the epoch's start."""
        start = (self.weights, self.biases)
        try:
            yield from stream.batches(batch_size, rng)
        except ValueError as exc:
            self.weights, self.biases = start
            raise ValueError(f"{exc}. The network keeps the parameters it had before this epoch.") from None

    # -- conversion ---------------------------------------------------------------------------
    def params_numpy(self):
        """(weights, biases) as NumPy arrays."""
        to = _backend.to_numpy
        return [to(W) for W in self.weights], [None if b is None else to(b) for b in self.biases]

    def save(self, path, *, metadata=None):
        """Write this network to ``path`` (.npz, no pickles, atomic); see :mod:`portable_bp.checkpoint`."""
        from .checkpoint import save

        return save(self, path, metadata=metadata)

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
