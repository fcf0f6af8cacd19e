"""Callbacks: objects the training loop calls at the end of every epoch with the epoch's logs.

``logs`` holds the epoch's metrics: ``cost`` (and ``accuracy`` for a classifier), ``val_cost`` and
``val_accuracy`` with validation data — the values appended to ``fit``'s history — and ``lr``,
the learning rate the next step would use before this epoch's callbacks change it. A callback
sees the run through ``training`` (:class:`portable_bp.train.loop.Training`): its ``params``
(``(weights, biases)``), optimizer ``state`` and ``history``; it may set ``training.stop = True``
or change the learning rate with ``training.scale_lr(factor)``. Write one by subclassing
:class:`Callback`; every hook is optional.
"""

from __future__ import annotations

import json
import math
import sys

from .. import _checks
from . import _progress


class Callback:
    def on_train_begin(self, training):
        """Before the first epoch."""

    def on_epoch_end(self, epoch, logs):
        """After every epoch (``epoch`` counts from 0)."""

    def on_train_end(self, training, completed):
        """After the last epoch; ``completed`` is False when an exception (divergence, Ctrl-C) ended the run."""


def _check_monitor(monitor, training, who):
    if monitor not in training.metric_names:
        need = " (pass validation_data=(X_val, Y_val) or validation_split)" if monitor.startswith("val_") else ""
        raise ValueError(f"{who}(monitor={monitor!r}): this run records {sorted(training.metric_names)}{need}")


class _Monitor(Callback):
    """What EarlyStopping and ReduceLROnPlateau share: is the monitored value better than the best so far?"""

    def __init__(self, monitor, patience, min_delta):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a metric name such as 'val_cost'; got {monitor!r}")
        patience = _checks.integer("patience", patience, 0, 10**9)  # epochs
        self.monitor, self.patience, self.min_delta = monitor, patience, _checks.nonnegative("min_delta", min_delta)
        self.sign = -1.0 if "accuracy" in monitor else 1.0  # costs go down, accuracies up

    def on_train_begin(self, training):
        _check_monitor(self.monitor, training, type(self).__name__)
        self.training, self.best, self.wait = training, math.inf, 0

    def _improved(self, logs):
        value = logs[self.monitor]
        score = self.sign * value if math.isfinite(value) else math.inf  # NaN is never the best
        if score < self.best - self.min_delta:
            self.best, self.wait = score, 0
            return True
        self.wait += 1
        return False


class EarlyStopping(_Monitor):
    """Stop once ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs,
    and (``restore_best``) end with the parameters of the best epoch (as Keras's EarlyStopping)."""

    def __init__(self, monitor="val_cost", patience=5, min_delta=0.0, restore_best=True):
        super().__init__(monitor, patience, min_delta)
        self.restore_best = _checks.boolean("restore_best", restore_best)
        self.best_epoch = None

    def on_train_begin(self, training):
        super().on_train_begin(training)
        self.best_params, self.best_epoch = None, None

    def on_epoch_end(self, epoch, logs):
        if self._improved(logs):
            self.best_params, self.best_epoch = self.training.params, epoch  # arrays are never written in place
        elif self.wait >= max(self.patience, 1):
            self.training.stop = True

    def on_train_end(self, training, completed):
        if completed and self.restore_best and self.best_params is not None:
            training.params = self.best_params


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` once ``monitor`` has not improved by more than
    ``min_delta`` for ``patience`` epochs, never below ``min_lr``. scikit-learn's
    ``learning_rate="adaptive"`` (its code: divide by 5 once the training loss has not improved by
    ``tol`` for more than ``n_iter_no_change`` epochs) is close to
    ``ReduceLROnPlateau("cost", factor=0.2, patience=n_iter_no_change + 1, min_delta=tol)``."""

    def __init__(self, monitor="val_cost", factor=0.1, patience=10, min_lr=0.0, min_delta=0.0):
        super().__init__(monitor, patience, min_delta)
        self.factor = _checks.probability("factor", factor, low_open=True)
        self.min_lr = _checks.nonnegative("min_lr", min_lr)

    def on_epoch_end(self, epoch, logs):
        if not self._improved(logs) and self.wait >= max(self.patience, 1):
            lr = logs["lr"]
            if lr > self.min_lr:
                self.training.scale_lr(max(self.factor, self.min_lr / lr))
            self.wait = 0


class JSONLogger(Callback):
    """Append one JSON object per epoch (``{"epoch": ..., **logs}``) to ``path`` (JSON lines)."""

    def __init__(self, path):
        self.path = _checks.path("path", path)

    def on_epoch_end(self, epoch, logs):
        with open(self.path, "a") as f:
            f.write(json.dumps({"epoch": epoch, **logs}) + "\n")


class CSVLogger(Callback):
    """Write ``epoch,<metrics...>`` with a header line to ``path`` (overwritten at the start of the run)."""

    def __init__(self, path):
        self.path = _checks.path("path", path)

    def on_train_begin(self, training):
        self.columns = None

    def on_epoch_end(self, epoch, logs):
        if self.columns is None:
            self.columns = list(logs)
            with open(self.path, "w") as f:
                f.write(",".join(["epoch", *self.columns]) + "\n")
        with open(self.path, "a") as f:
            f.write(",".join([str(epoch), *(repr(float(logs[c])) for c in self.columns)]) + "\n")


class LambdaCallback(Callback):
    """``on_epoch_end(epoch, logs)`` given as a function."""

    def __init__(self, on_epoch_end):
        self._fn = _checks.function("on_epoch_end", on_epoch_end, arguments=("epoch", "logs"))

    def on_epoch_end(self, epoch, logs):
        self._fn(epoch, logs)


class ProgressBar(Callback):
    """tqdm's bar over the epochs, with the epoch's metrics as its postfix. In a Jupyter notebook: ONE
    output that updates (tqdm's widget with ipywidgets, else one text line rewritten in place); in a
    terminal, tqdm's text bar; where the output is neither (a log file, CI, a pipe), one line per epoch
    (:mod:`portable_bp.train._progress` chooses). ``file`` is a text stream (default ``sys.stderr``),
    not a path: pass ``open("log.txt", "a")`` for a file (a path is refused here, at construction,
    rather than failing at the first epoch). ``initial``: epochs trained before this ``fit`` (a resumed
    run), so the bar says "epoch 4/5" and not "1/2"."""

    def __init__(self, desc="fit", file=None, initial=0):
        if not isinstance(desc, str):
            raise TypeError(f"desc must be a string; got {type(desc).__name__}")
        self.desc, self.file = desc, _checks.text_file("file", file)
        self.initial = _checks.integer("initial", initial, low=0)  # epochs trained before this fit

    def on_train_begin(self, training):
        self.total = self.initial + training.epochs
        out = self.file or sys.stderr
        self.kind = _progress.choose(out, self.file)
        self.bar = _progress.make_bar(self.kind, out, self.total, self.initial, self.desc)

    def on_epoch_end(self, epoch, logs):
        text = ", ".join(f"{k}={v:.4g}" for k, v in logs.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        else:
            print(f"{self.desc}: epoch {self.initial + epoch + 1}/{self.total}: {text}", file=self.file or sys.stderr,
                  flush=True)

    def on_train_end(self, training, completed):
        if self.bar is not None:
            self.bar.close()


def with_shorthands(callbacks, *, patience=None, progress=False, desc="fit", extra=None):
    """fit's ``callbacks`` list, checked, with its shorthands added: ``extra`` (``callback=``),
    ``EarlyStopping("val_cost", patience)`` for ``patience=``, and a :class:`ProgressBar` for ``progress``."""
    if callbacks is None:
        callbacks = []
    elif isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
        raise TypeError("callbacks must be a list of portable_bp.train callbacks (e.g. [EarlyStopping(...)]); "
                        f"got {type(callbacks).__name__}")
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must hold portable_bp.train.Callback objects; got {type(cb).__name__}")
    shorthands = [extra, None if patience is None else EarlyStopping("val_cost", patience),
                  ProgressBar(desc) if _checks.boolean("progress", progress) else None]
    return [*callbacks, *(cb for cb in shorthands if cb is not None)]
