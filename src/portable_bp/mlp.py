"""The model: an MLP's parameters and spec, and the methods around ``backprop.py`` —
forward, backprop, cost, predict, update, fit (a thin hand-off to :mod:`portable_bp.train`),
save / load / to."""

from __future__ import annotations

import threading

import numpy as np

from . import _backend, _checks, _data, _landing, _sharding, _shared, checkpoint, optim, train
from . import _validation as check
from ._inputs import Inputs
from .activations import ACTIVATIONS, DERIVATIVES
from .activations import ALIASES as ACTIVATION_ALIASES
from .backprop import Spec, forward
from .initializers import INITS, init_params
from .kernels import KERNELS, get_kernel
from .losses import ALIASES as LOSS_ALIASES
from .losses import LOSSES
from .losses import OUTPUTS as LOSS_OUTPUTS

__all__ = ["INITS", "MLP", "init_params", "load"]

_NO_Y = object()  # _run_checked's "no targets" (forward): None is a bad Y, to be refused as one


class MLP:
    """A multilayer perceptron trained by backpropagation, on any array-API backend.

    ``sizes`` lists the layer widths, e.g. ``[2, 8, 8, 1]``. ``weights[l]`` is W^{l+1} with shape
    (n_{l+1}, n_l) and ``biases[l]`` is b^{l+1} with shape (n_{l+1}, 1), or None without bias.
    """

    #: samples read at a time from out-of-core data (memory maps, Dask arrays) and per evaluation piece
    stream_rows = 4096

    def __init__(self, sizes, *, activation="sigmoid", output_activation=None, loss="mse", bias=True,
                 init="scaled_normal", backend=None, device=None, dtype="float64", kernel="matmul", seed=None,
                 dropout=None):
        sizes = _checks.widths("sizes", sizes)
        weights, biases = init_params(sizes, init, _checks.seed("seed", seed), bias=_checks.boolean("bias", bias))
        self._setup(weights, biases, activation, output_activation, loss, backend, device, dtype, kernel, dropout)

    @classmethod
    def from_params(cls, weights, biases=None, *, activation="sigmoid", output_activation=None, loss="mse",
                    backend=None, device=None, dtype="float64", kernel="matmul", dropout=None):
        """Build a network from given parameters (array-likes or backend arrays).

        ``biases`` may hold (n_l, 1) or (n_l,) arrays, None entries for layers without bias,
        or be None altogether for a network without biases.
        """
        ws, bs = check.params(weights, biases)
        net = cls.__new__(cls)
        net._setup(ws, bs, activation, output_activation, loss, backend, device, dtype, kernel, dropout)
        return net

    # -- construction -------------------------------------------------------------------------
    def _setup(self, weights, biases, activation, output_activation, loss, backend, device, dtype, kernel, dropout):
        activation = _checks.choice("activation", activation, DERIVATIVES, ACTIVATION_ALIASES, fold_case=True)
        if output_activation is None:
            output_activation = activation
        output_activation = _checks.choice(
            "output_activation", output_activation, ACTIVATIONS, ACTIVATION_ALIASES, fold_case=True
        )
        loss = _checks.choice("loss", loss, LOSSES, LOSS_ALIASES, fold_case=True)
        if output_activation not in LOSS_OUTPUTS.get(loss, (output_activation,)):
            needs = " or ".join(repr(o) for o in LOSS_OUTPUTS[loss])
            raise ValueError(f"loss={loss!r} needs output_activation {needs}; got {output_activation!r}")
        kernel = _checks.choice("kernel", kernel, KERNELS, fold_case=True)
        self.backend = _backend.resolve_backend(backend)
        self.xp = _backend.namespace(self.backend)
        self.dtype = _backend.resolve_dtype(self.xp, dtype, self.backend)
        self.sizes = [weights[0].shape[1]] + [W.shape[0] for W in weights]
        self.activation, self.output_activation, self.loss = activation, output_activation, loss
        self.kernel = kernel
        xp = _backend.compute_namespace(self.xp)  # NumPy's with leaner reductions; the others' own
        self._spec = Spec(xp, activation, output_activation, loss, get_kernel(kernel, xp))
        for l, (W, b) in enumerate(zip(weights, biases)):  # a cast to float32 must not make ±inf
            check.check_in_range(W, f"weights[{l}]", self.dtype_name)
            if b is not None:
                check.check_in_range(b, f"biases[{l}]", self.dtype_name)
        try:
            self.device = _backend.default_device(self.backend, device)
            inputs = Inputs(self.xp, self.backend, self.dtype, self.device, self.sizes, output_activation, loss)
            self._asarray, self._X, self._Y, self._XY = inputs.asarray, inputs.X, inputs.Y, inputs.XY
            self.weights = [self._asarray(W) for W in weights]
            self.biases = [None if b is None else self._asarray(b) for b in biases]
        except Exception as exc:
            if device is None:
                raise
            first_line = (str(exc).splitlines() or [""])[0][:300]  # torch's messages run for pages
            raise ValueError(f"device={device!r} is not usable with backend {self.backend!r}: "
                             f"{type(exc).__name__}: {first_line}") from None
        self.dropout = check.dropout(dropout, len(self.sizes) - 2)  # a rate per hidden layer, or None
        compiled = _shared.functions(self._spec, self.backend, self.device)  # shared by every network of this kind
        self._grads, self._metrics, self._finite = compiled.grads, compiled.metrics, compiled.finite
        self._checked_step, self._checked = compiled.checked_step, compiled.checked
        # Where the backend compiles (JAX), the check that X and Y are valid (finite; in [0, 1] for
        # cross-entropy) is compiled into the same call as the maths and read afterwards (one
        # dispatch, not several eager ones and waits); the results are kept only if it passes.
        # Elsewhere it runs first, as a guard.
        self._fused_check = compiled.checked is not None
        self._lr_cache = (None, None)
        # Threads: parameters and optimizer state are published together under _lock (fit's end, an epoch's
        # end for fit(callback=...), update) and read together under it (copies, pickles, save, predict);
        # _fitting refuses a second fit or an update while a fit runs.
        self._lock, self._fitting = threading.Lock(), False
        self.optimizer, self.optimizer_state = None, None  # what a later fit() continues

    @property
    def spec(self):
        """What the network computes with (namespace, activations, cost, kernel): the first argument
        of ``backprop.forward`` / ``backprop.backprop``."""
        return self._spec

    @property
    def params(self):
        """``(weights, biases)``: the parameter lists the optimizers and ``backprop`` work on (one
        consistent pair, also while another thread's fit publishes new ones)."""
        with self._lock:
            return self.weights, self.biases

    def _snapshot(self):
        """``(weights, biases, optimizer, optimizer_state)`` as one consistent set (see ``_lock``)."""
        with self._lock:
            return list(self.weights), list(self.biases), self.optimizer, self.optimizer_state

    def _busy(self, what):
        return RuntimeError(f"{what}: this network is being trained by a fit that is still running (in another "
                            "thread, or the caller of this callback); wait for it to return, or train a copy "
                            "(copy.deepcopy(net))")

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

    # -- input handling (checks and conversion: _inputs.Inputs) -------------------------------
    def _run_checked(self, name, X, Y=_NO_Y, *rest):
        """Run the compiled ``name`` (forward or grads) and read its flag that X (and Y) are
        finite; if not, the guards of ``_X``/``_Y`` raise their ValueError and nothing is kept."""
        X = self._X(X, finite=False)
        data = (X,) if Y is _NO_Y else (X, self._Y(Y, X.shape[0], finite=False))  # Y=None is checked (refused)
        out, finite = self._checked[name](*self.params, *data, *rest)
        if not _backend.to_bool(finite, self.backend):
            self._X(X)  # raises, naming X ...
            if Y is not _NO_Y:
                self._Y(data[1], X.shape[0])  # ... or Y
            raise ValueError("X or Y contains NaN or infinity")  # pragma: no cover - a guard raised
        return out

    def _data(self, X, Y, plan=None, names=("X", "Y"), w=None):
        """The data adapter for (X, Y), chosen once: backend arrays in memory, or a Stream read a
        block at a time (memory maps, Dask arrays; every kind on a device mesh ``plan``)."""
        if isinstance(X, train.Arrays):
            return X
        if plan is None and not (_data.is_out_of_core(X) or _data.is_out_of_core(Y)):
            X, Y = self._XY(X, Y, names=names)
            w = None if w is None else self._asarray(check.weights(w, X.shape[0], dtype=self.dtype_name))
            return train.Arrays(X, Y, self.device, w, self.backend)
        if w is not None:
            raise ValueError("sample_weight needs X and Y in memory (not memory-mapped, Dask or multi-device data)")
        if plan is None:
            place_batch = place_eval = self._asarray
            place = home = lambda tree: tree
        else:
            np_dtype = np.dtype(self.dtype_name)
            place_batch = lambda a: plan.shard(a, np_dtype)
            place_eval = lambda a: plan.place(a, np_dtype)
            place = lambda tree: optim.tree_map(plan.replicate, tree)
            home = lambda tree: optim.tree_map(lambda p: self._asarray(_backend.to_numpy(p)), tree)
        stream = _data.Stream(
            X, Y, n_in=self.sizes[0], n_out=self.sizes[-1], output_activation=self.output_activation,
            rows=self.stream_rows, place_batch=place_batch, place_eval=place_eval,
            multiple=1 if plan is None else plan.size, loss=self.loss, dtype=self.dtype_name,
            local=None if plan is None else plan.local_rows,
        )
        return train.Streamed(stream, place, home)

    # -- the maths ----------------------------------------------------------------------------
    def forward(self, X):
        """``zs, activations`` for a batch X (N, d): activations[0] is X, zs[l] is Z^{l+1}."""
        if self._fused_check:
            return self._run_checked("forward", X)
        return forward(self._spec, *self.params, self._X(X))

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

    def backprop(self, X, Y, check_finite=True):
        """BP1–BP4 for the batch: ``(grads_w, grads_b)``, each the SUM over samples of ∇C_x.

        With ``check_finite`` (the default) a gradient with NaN or ±inf (the forward pass overflowed,
        e.g. ReLU or identity layers on inputs near 1e200) raises ``FloatingPointError`` naming the
        first such layer; ``check_finite=False`` returns it as computed, without that host round-trip.
        """
        if self._fused_check:
            grads = self._run_checked("grads", X, Y)
        else:
            X, Y = self._XY(X, Y)
            with _backend.quiet_floating_point(self.backend):
                grads = self._grads(*self.params, X, Y)
        if check_finite and not _backend.to_bool(self._finite(grads), self.backend):
            bad = next(l for l, g in enumerate(zip(*grads)) if not _backend.to_bool(self._finite(([g[0]], [g[1]])),
                                                                                     self.backend))
            raise FloatingPointError(
                f"backprop: the gradient of layer {bad + 1} (W^{bad + 1}, b^{bad + 1}) is not finite: the forward "
                f"pass overflowed for these inputs. Scale X and Y (or pass check_finite=False to get it as is)")
        return grads

    def cost(self, X, Y):
        """The MEAN over the batch of the per-sample cost C_x, as a Python float."""
        return self.evaluate(X, Y)["cost"]

    def accuracy(self, X, Y):
        """Fraction of samples classified correctly (argmax, or a 0.5 threshold for one output)."""
        return self.evaluate(X, Y)["accuracy"]

    def evaluate(self, X, Y):
        """``{"cost": mean C_x, "accuracy": fraction correct}`` from ONE forward pass over (X, Y)
        (a memory map or Dask array is read once, a block at a time)."""
        cost, acc = self._data(X, Y).evaluate(self._metrics, self.params)
        return {"cost": float(cost), "accuracy": float(acc)}

    def to_backend(self, X, Y=None):
        """X (and Y) checked and converted to this network's arrays (backend, dtype, device), to pass
        to its methods many times without converting again: ``X`` or ``(X, Y)``."""
        return self._X(X) if Y is None else self._XY(X, Y)

    def update(self, X, Y, lr):
        """One SGD step on the batch (X, Y): p ← p − lr/len(X) · Σ_x ∇C_x.

        A step that would make any parameter NaN or infinite raises ``FloatingPointError`` and
        leaves the network unchanged.
        """
        lr = _checks.positive("lr", lr)
        X, Y = self._XY(X, Y, finite=False)  # shapes and types now; values in the step's one flag
        if self._fitting:
            raise self._busy("update")
        with _backend.quiet_floating_point(self.backend):  # bad values get the clear error below, not a warning
            new, ok = self._checked_step(*self.params, X, Y,
                                         self._lr_array(lr) if self._fused_check else lr)
        if not _backend.to_bool(ok, self.backend):  # the one host synchronisation of a step
            self._XY(X, Y)  # raises the ValueError naming X or Y when the data is at fault
            raise FloatingPointError(
                f"this SGD step (lr={lr:g}) would make parameters NaN or infinite: the gradient is not finite "
                f"or too large. The network is unchanged; try a smaller learning rate or scale X and Y"
            )
        with self._lock:
            if self._fitting:
                raise self._busy("update")
            self.weights, self.biases = new
        return self

    def _lr_array(self, lr):
        """lr as a 0-d array of the backend (weakly typed on JAX, like the float it replaces),
        made once per value: a compiled call would otherwise convert the float on every call."""
        if self._lr_cache[0] != lr:
            self._lr_cache = (lr, self.xp.asarray(lr, device=self.device))
        return self._lr_cache[1]

    def fit(self, X, Y, *, epochs, batch_size, lr=None, optimizer=None, l2=0.0, callbacks=None, shuffle=True,
            seed=None, progress=True, callback=None, validation_data=None, validation_split=None, patience=None,
            devices=None, sample_weight=None, running_cost=False):
        """Train by mini-batch gradient descent, network.py's ``SGD`` loop. Returns the history:
        per-epoch lists ``cost`` (and ``accuracy`` for a softmax/sigmoid output, ``val_cost`` and
        ``val_accuracy`` with validation data).

        The optimizer: ``lr=η`` alone is network.py's SGD, ``optim.sgd(η)``; ``optimizer=`` takes an
        optimizer (``optim.adam(1e-3)``) or a name ("sgd", "momentum", "nesterov", "adam", "adamw")
        used with ``lr=`` (a float or a schedule ``step -> lr``). Without either, the network's
        previous optimizer continues with its state (moments, step count); a new optimizer starts
        fresh. ``l2=λ`` is network2.py's L2 regularisation: the cost gains (λ/2n)·Σ‖W‖² (n training
        samples) and every weight gradient (λ/n)·W; the reported costs include the term.

        ``callbacks``: objects of :mod:`portable_bp.train.callbacks` (EarlyStopping,
        ReduceLROnPlateau, loggers), called after every epoch. Shorthands: ``patience=k`` is
        ``EarlyStopping("val_cost", patience=k)``; ``callback(epoch, net, history)`` a function;
        ``progress`` the progress bar (one updating output in a notebook, a line per epoch in a log:
        ``train.ProgressBar``). With ``shuffle=True`` each epoch visits the samples in an
        order drawn from ``numpy.random.default_rng(seed)`` (``seed`` may be a Generator, which then
        advances: that is how training resumes exactly).

        Validation: ``validation_data=(X_val, Y_val)``, or ``validation_split=f`` to hold out the
        last fraction f of the samples (before shuffling, as Keras does).

        ``sample_weight`` (N,): each batch's gradient is the weighted mean Σ w_x ∇C_x / Σ w_x, so integer
        weights equal repeating the samples (exactly, for a full batch); the reported training cost and
        accuracy are weighted means too. With ``MLP(..., dropout=p)`` the hidden activations are
        dropped during training (inverted dropout), the masks drawn from the same generator as the
        shuffling: one seed, one training run on every backend.

        The epoch's ``cost`` (and ``accuracy``) come from one pass over the training set after the
        epoch, network.py's evaluation. ``running_cost=True`` instead reports the running cost, as
        Keras and scikit-learn do: the mean of the costs each batch had when its step computed them
        (at no extra pass: about a third of an epoch's work saved), and no training accuracy.

        Failure: a non-finite cost or parameter raises :class:`DivergenceError` (a
        ``FloatingPointError``) naming the epoch and batch; the network keeps its last finite
        parameters (those from just before that batch). The check costs no extra host
        synchronisation; the bad batch is found by replaying the failed epoch. A
        ``KeyboardInterrupt`` leaves the network at its last completed step and carries the
        history of the completed epochs as ``exc.history``.

        X and Y may be NumPy memory maps or Dask arrays: they are then read ``stream_rows`` samples
        at a time, never whole. ``devices`` (JAX only: a list of jax devices, a count, or "all")
        trains data-parallel: each mini-batch is sharded over a device mesh (docs/scale.md).
        """
        epochs = _checks.integer("epochs", epochs, 1, 10**9)
        batch_size = _checks.integer("batch_size", batch_size, 1)
        opt = optim.choose(lr, optimizer, self.optimizer)
        l2 = _checks.nonnegative("l2", l2)
        shuffle = _checks.boolean("shuffle", shuffle)
        rng = np.random.default_rng(_checks.seed("seed", seed))
        callbacks = train.callbacks.with_shorthands(
            callbacks, patience=None if patience is None else _checks.integer("patience", patience, 1),
            progress=progress, desc=f"fit [{self.backend}]",
            extra=None if _checks.function("callback", callback, optional=True,
                                           arguments=("epoch", "net", "history")) is None
            else _NetCallback(callback, self))
        plan = None if devices is None else _sharding.data_parallel(self.backend, devices, self._spec.kernel.jittable)
        data = self._data(X, Y, plan, w=sample_weight)
        if validation_data is not None and validation_split is not None:
            raise ValueError("give validation_data or validation_split, not both")
        val = None
        if validation_split is not None:
            fraction = _checks.real("validation_split", validation_split, 0.0, 1.0, low_open=True, high_open=True)
            data, val = data.split(fraction)
        elif validation_data is not None:
            val = self._data(*_checks.pair("validation_data", validation_data), plan,
                             names=("validation_data X", "validation_data Y"))
        if patience is not None and val is None:
            raise ValueError("patience needs validation data: pass validation_data=(X_val, Y_val) or validation_split")
        if batch_size > data.n:
            left = "" if validation_split is None else f" that validation_split={validation_split} leaves"
            raise ValueError(f"batch_size={batch_size} is larger than the {data.n} training samples{left}")
        if plan is not None:
            plan.check_batches(data.n, batch_size)
        running = _checks.boolean("running_cost", running_cost)
        run = self._run_for(opt, l2 > 0, record=running)
        with self._lock:  # one fit at a time; the optimizer and its state change together
            if self._fitting:
                raise self._busy("fit")
            state = self.optimizer_state if opt is self.optimizer else opt.init((self.weights, self.biases))
            self.optimizer, self.optimizer_state, self._fitting = opt, state, True
            params = self.weights, self.biases
        try:
            training = train.fit(run, data, params, state, optimizer=opt, epochs=epochs, batch_size=batch_size,
                                 rng=rng, shuffle=shuffle, val=val, l2=l2, callbacks=callbacks,
                                 classifier=self.is_classifier, keep=self._keep, running=running)
        finally:
            self._fitting = False
        return training.history

    def _keep(self, training):
        """What the loop hands back on every way out (done, diverged, interrupted): parameters and
        state published together (a copy in another thread sees both or neither)."""
        (weights, biases), state = training.current
        with self._lock:
            self.weights, self.biases, self.optimizer_state = weights, biases, state

    def _run_for(self, opt, l2, record=False):
        """The compiled step, metrics and finiteness check of a run with ``opt`` (and L2 or not)."""
        return _shared.run_for(self._spec, self.backend, self.device, self.dtype_name, opt, l2,
                               None if self.dropout is None else tuple(zip(self.sizes[1:-1], self.dropout)),
                               self._metrics, self._finite, self._asarray, record)

    # -- conversion ---------------------------------------------------------------------------
    def params_numpy(self):
        """(weights, biases) as NumPy arrays."""
        to = _backend.to_numpy
        weights, biases = self.params
        return [to(W) for W in weights], [None if b is None else to(b) for b in biases]

    def _config(self):
        return dict(activation=self.activation, output_activation=self.output_activation, loss=self.loss,
                    dropout=None if self.dropout is None else list(self.dropout))

    def save(self, path, *, metadata=None):
        """Write this network and its optimizer (name, hyper-parameters, step count, state) to ``path``:
        a plain .npz, no pickles, written atomically; see :mod:`portable_bp.checkpoint`."""
        meta = dict(sizes=list(self.sizes), **self._config(), kernel=self.kernel, dtype=self.dtype_name,
                    backend=self.backend)
        params, optimizer, state = self._host_snapshot()
        record = None if optimizer is None else (optimizer, state[0], state[1], state[2])
        return checkpoint.write(path, meta, *params, optimizer=record, metadata=metadata)

    def _host_snapshot(self):
        """``((weights, biases), optimizer, [step, lr_scale, slots])``: one consistent set, as NumPy arrays."""
        weights, biases, optimizer, state = self._snapshot()
        to = _backend.to_numpy
        params = [to(W) for W in weights], [None if b is None else to(b) for b in biases]
        return params, optimizer, None if optimizer is None else optim.tree_map(to, list(state))

    def to_onnx(self, path=None, *, opset=None):
        """This network as an ``onnx.ModelProto``, written atomically to ``path`` if given (:mod:`.export`)."""
        from .export import to_onnx

        return to_onnx(self, path, opset=opset)

    def to(self, backend=None, device=None, dtype=None, kernel=None):
        """A copy of this network (and its optimizer and state) on another backend / device / dtype / kernel."""
        params, optimizer, state = self._host_snapshot()
        net = MLP.from_params(*params, **self._config(), backend=backend or self.backend,
                              device=device, dtype=dtype or self.dtype_name, kernel=kernel or self.kernel)
        if optimizer is not None:
            net._set_optimizer(optimizer, *state)
        return net

    def _set_optimizer(self, optimizer, step, lr_scale, slots):
        """Take over ``optimizer`` with a state given as host arrays (from a checkpoint or another network)."""
        fresh = optimizer.init(self.params)
        moved = optim.tree_map(self._asarray, [step, lr_scale, list(slots)])
        with self._lock:
            self.optimizer = optimizer
            self.optimizer_state = fresh._replace(step=moved[0], lr_scale=moved[1], slots=tuple(moved[2]))

    def __getstate__(self):
        """Pickling (joblib, multiprocessing, deepcopy): parameters and optimizer state as NumPy arrays, one
        consistent set even while another thread fits this network (the lock is not pickled)."""
        params, optimizer, state = self._host_snapshot()
        return dict(params=params, config=self._config(), backend=self.backend, dtype=self.dtype_name,
                    kernel=self.kernel, device=None if self.device is None else str(self.device),
                    stream_rows=self.stream_rows, optimizer=optimizer, optimizer_state=state)

    def __setstate__(self, state):
        backend, device = _landing.landing(state["backend"], state["device"])  # a backend / device missing here
        net = MLP.from_params(*state["params"], **state["config"], backend=backend, dtype=state["dtype"],
                              kernel=state["kernel"], device=device)
        self.__dict__.update(net.__dict__)
        self.stream_rows = state["stream_rows"]
        if state["optimizer"] is not None:
            self._set_optimizer(state["optimizer"], *state["optimizer_state"])


#: (network kind, optimizer, l2, dropout) -> (train.Run, optimizer): compiled functions shared across networks
def load(path, backend=None, device=None, dtype=None, kernel=None):
    """Rebuild the network (and its optimizer, for format versions 2 and 3) saved at ``path``.

    ``backend`` and ``device`` choose where it lives, as for ``MLP`` (default:
    ``$PORTABLE_BP_BACKEND`` or numpy, not the backend it was saved from, which may not exist
    here). ``dtype`` defaults to the saved one (then the parameters are bit-for-bit those saved);
    another dtype converts them. ``kernel`` defaults to the saved one.

    A corrupt, truncated, foreign or newer-format file raises :class:`CheckpointError` (a
    ``ValueError``) naming the file; a missing file ``FileNotFoundError``.
    """
    meta, weights, biases, record = checkpoint.read(path)
    net = MLP.from_params(weights, biases, activation=meta["activation"], output_activation=meta["output_activation"],
                          loss=meta["loss"], dropout=meta.get("dropout"), backend=backend, device=device,
                          dtype=meta["dtype"] if dtype is None else dtype,
                          kernel=meta["kernel"] if kernel is None else kernel)
    if record is not None:
        net._set_optimizer(*record)
    return net


class _NetCallback(train.Callback):
    """``fit(callback=f)``: ``f(epoch, net, history)`` with the network holding the epoch's parameters."""

    def __init__(self, fn, net):
        self.fn, self.net = fn, net

    def on_train_begin(self, training):
        self.training = training

    def on_epoch_end(self, epoch, logs):
        self.net._keep(self.training)
        self.fn(epoch, self.net, self.training.history)
