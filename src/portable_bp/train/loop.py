"""The training loop: network.py's ``SGD``, with an optimizer, callbacks and a data adapter.

    state = optimizer.init(params)
    for epoch in range(epochs):
        for X_b, Y_b in data.batches(batch_size, rng):        # in memory, streamed or on a mesh
            params, state = step(params, state, X_b, Y_b)      # forward, BP1–BP4, optimizer update

The inner loop runs as ``run.steps`` over groups of stacked batches (``data.groups``): a Python
loop of steps on most backends, ONE compiled call per epoch on JAX (``_backend.scan_steps``).
        logs = data.evaluate(metrics, params)                  # one forward pass, one host sync
        for cb in callbacks: cb.on_epoch_end(epoch, logs)

It works on the parameter lists, never on a network object: ``MLP.fit`` hands them in and keeps
what comes back. The kind of data was decided when the adapter was made (``train.data``); the
compiled functions were built by ``train.steps``.
"""

from __future__ import annotations

import copy

import array_api_compat
import numpy as np

from .. import _backend, _checks
from .._validation import DataError
from . import divergence


class Training:
    """The state of one run, as callbacks see it: ``params`` ((weights, biases)), the optimizer
    ``state``, ``history``, ``epochs``, ``metric_names``, and with a running cost ``batches`` (the last
    epoch's batch records, see :func:`fit`); set ``stop = True`` to end after this epoch."""

    def __init__(self, params, state, optimizer, epochs, metric_names, place):
        self.current, self.optimizer = (params, state), optimizer
        self.epochs, self.metric_names, self._place = epochs, metric_names, place
        self.history = {name: [] for name in metric_names}
        self.stop, self.batches = False, None

    @property
    def params(self):
        return self.current[0]

    @params.setter
    def params(self, value):
        self.current = (value, self.current[1])

    @property
    def state(self):
        return self.current[1]

    @state.setter
    def state(self, value):
        self.current = (self.current[0], value)

    def lr(self):
        """The learning rate of the next step (the schedule at the current step, times the scale)."""
        step, scale = (float(_backend.to_numpy(a)) for a in (self.state.step, self.state.lr_scale))
        lr = self.optimizer.lr
        return (float(lr(int(step))) if callable(lr) else lr) * scale

    def scale_lr(self, factor):
        """Multiply the learning rate of every later step by ``factor`` (ReduceLROnPlateau)."""
        s = self.state.lr_scale
        self.state = self.state._replace(lr_scale=self._place(s * factor))


def fit(run, data, params, state, *, optimizer, epochs, batch_size, rng, shuffle, val=None, l2=0.0,
        callbacks=(), classifier=True, keep=None, running=False):
    """Train ``params`` for ``epochs`` on ``data``; returns the :class:`Training` (params, state, history).

    ``running=True`` (a ``run`` whose steps make records): the epoch's cost is the running one — the
    batches' costs as the steps computed them, weighted by batch size (with L2, each batch's
    (λ/2n)·Σ‖W‖² at its parameters) — with no pass over the training set and no training accuracy;
    the callbacks find the epoch's records as ``training.batches``, an (n_batches, 4) NumPy array of
    [batch size, mean cost, Σ‖W‖², total weight] rows (what scikit-learn's ``loss_`` is made of).

    ``run`` holds the compiled functions (``steps.Run``). ``keep(training)`` is called on every way
    out: normally, after a non-finite training cost (the epoch replayed to find the culprit,
    ``training.params`` left at the last finite ones, :class:`DivergenceError` raised) and after
    Ctrl-C (``training.params`` those of the last completed step, ``exc.history`` attached).
    """
    evaluated = ["cost"] + (["accuracy"] if classifier else [])  # what a pass over a data set measures
    names = ["cost"] if running else evaluated
    metric_names = names + ([f"val_{m}" for m in evaluated] if val is not None else [])
    training = Training(data.place(params), data.place(state), optimizer, epochs, metric_names, data.place)
    history, l2c = training.history, l2 / data.n
    n_batches = -(-data.n // batch_size)
    schedule = getattr(optimizer, "lr", None)
    if callable(schedule):  # a custom schedule's answer, checked once here rather than failing inside a step
        _checks.rate(f"lr (the schedule {schedule!r})", schedule(training.state.step))
    for cb in callbacks:
        cb.on_train_begin(training)
    completed = False
    try:
        for epoch in range(epochs):
            start = (training.params, training.state, copy.deepcopy(rng))  # what a replay of this epoch needs
            # NumPy's overflow warnings (a saturating sigmoid's exp) are not failures: a non-finite cost
            # or parameter is, and the check below raises DivergenceError for it
            with _backend.quiet_floating_point(run.backend):
                sizes, records = [], []
                try:
                    for Xs, Ys, ws in data.groups(batch_size, rng if shuffle else None):  # stacked batches
                        group = (Xs, Ys, ws, run.noise(rng, Xs.shape[:2]))  # dropout's draws, if any
                        sizes += [Xs.shape[1]] * Xs.shape[0]
                        for current in run.steps(*training.current, group, l2c):
                            training.current = current[:2]  # one store a step: never half-updated
                            if running:
                                records.append(current[2])
                except DataError as exc:  # bad data found mid-epoch (streamed data is checked as it is read)
                    training.current = start[:2]
                    raise ValueError(f"{exc}. The network keeps the parameters it had before this epoch.") from None
                if running:  # the batches' records and whether the parameters are finite: two host reads
                    rows, values = _running(records, sizes, l2c, data.n, run.finite(training.params), run.backend)
                else:
                    values = data.evaluate(run.metrics, training.params, l2)  # the epoch's one host synchronisation
            # a finite cost with a non-finite optimizer state (Adam's v overflowed) is a divergence too:
            # one more small check, read after the epoch's synchronisation above
            if not np.isfinite(values[0]) or not divergence.state_finite(run.finite, training.state, run.backend):
                replay = start[2]  # the epoch's generator as it was: same order, same dropout masks
                batches = ((*b, run.noise(replay, b[0].shape[:1]))
                           for b in data.batches(batch_size, replay if shuffle else None))
                k, training.current, reason = divergence.locate(
                    run.step, run.metrics, run.finite, start[:2], batches, l2c, run.backend)
                raise divergence.error(epoch, k, n_batches, reason, optimizer.lr, history)
            logs = dict(zip(names, map(float, values)))
            if running:
                training.batches = rows
            if val is not None:
                logs.update(zip(metric_names[len(names):], map(float, val.evaluate(run.metrics, training.params, l2))))
            for name in metric_names:
                history[name].append(logs[name])
            logs["lr"] = training.lr()
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if training.stop:
                break
        completed = True
    except KeyboardInterrupt as exc:
        exc.history = history
        raise
    finally:
        for cb in callbacks:
            cb.on_train_end(training, completed)
        training.current = (data.home(training.params), data.home(training.state))
        if keep is not None:
            keep(training)
    return training


def _running(records, sizes, l2c, n, finite, backend):
    """(the (n_batches, 4) array of [size, mean cost, Σ‖W‖², weight] rows, [running cost]) from the
    steps' records — one per step, or a compiled group's stacked — and the parameters' finiteness
    flag (a non-finite parameter makes the cost NaN, as the full pass's check does)."""
    xp = array_api_compat.array_namespace(records[0])
    rows = xp.stack(records) if records[0].ndim == 1 else xp.concat(records, axis=0)
    rows = np.column_stack([np.asarray(sizes, dtype=np.float64), _backend.to_numpy(rows).astype(np.float64)])
    cost = float(np.sum(rows[:, 0] * (rows[:, 1] + 0.5 * l2c * rows[:, 2])) / n)
    return rows, [cost if _backend.to_bool(finite, backend) else float("nan")]
