"""What the figures of a training run show, recorded during ``fit`` — NumPy only, so
``metrics.json`` gets these curves even where matplotlib is missing.

:class:`TrainingMonitor` is a ``callback`` for :meth:`MLP.fit`. After every epoch it records the
test cost and accuracy, the norm of the mean gradient ∂C/∂W^l, ∂C/∂b^l of every layer
(``net.backprop`` on a fixed probe batch) and, when asked, the activations of the last hidden layer
for every sample (the animation's frames). :mod:`portable_bp.plots` draws them.
"""

from __future__ import annotations

import numpy as np

from . import _backend


# -- labels ---------------------------------------------------------------------------------------
def class_labels(Y):
    """Integer class labels and their names for targets Y.

    Y may be integer labels (N,), one-hot / probability rows (N, k), or one column (N, 1) of
    0/1 or ±1 targets (the 1-D toy set). Returns ``(labels (N,) int, names list)``.
    """
    Y = np.asarray(_backend.to_numpy(Y))
    if Y.ndim == 2 and Y.shape[1] > 1:
        labels = np.argmax(Y, axis=1)
        return labels, [f"class {k}" for k in range(Y.shape[1])]
    y = Y.reshape(-1)
    values = np.unique(y)
    if len(values) == 2 and values[0] < 0 < values[1]:  # ±1 targets
        labels = (y > 0).astype(np.int64)
        return labels, [f"y = {values[0]:g}", f"y = {values[1]:+g}"]
    if np.all(y == np.round(y)) and y.min() >= 0:
        labels = y.astype(np.int64)
        return labels, [f"class {k}" for k in range(int(labels.max()) + 1)]
    labels = (y > np.median(y)).astype(np.int64)  # a regression target: split at the median
    return labels, ["y ≤ median", "y > median"]


# -- recording ------------------------------------------------------------------------------------
class TrainingMonitor:
    """A ``callback(epoch, net, history)`` for :meth:`MLP.fit` that records what the figures show.

    It records "epoch 0" (the untrained network) when it is made, then one entry per epoch:
    ``epochs``, ``train_cost``, ``test_cost``, ``train_accuracy``, ``test_accuracy`` (classifiers),
    ``grad_norm_w[l]`` / ``grad_norm_b[l]`` — the Frobenius norm of the MEAN gradient
    (1/m) Σ_x ∂C_x/∂W^l over a fixed probe batch of ``grad_samples`` training samples, from
    ``net.backprop`` (BP1–BP4) — and, with ``frames=True``, the activations of the last hidden layer
    for up to ``frame_samples`` training samples every ``frame_every`` epochs (and at
    ``total_epochs``, when given) for :func:`animate_hidden`.

    A resumed run: ``start_epoch`` is the number of epochs the network was trained before (its first
    entry is that epoch, and the epochs continue from there; ``total_epochs`` counts from 0), and
    ``earlier`` the history of those epochs (``{"cost": [...], "accuracy": [...]}``, as ``fit``
    returns it), drawn before them by :func:`plot_costs`.

    >>> mon = TrainingMonitor(net, X_train, y_train, X_test, y_test, frames=True)
    >>> net.fit(X_train, y_train, epochs=30, batch_size=10, lr=0.5, callback=mon)
    """

    def __init__(self, net, X_train, Y_train, X_test=None, Y_test=None, *, frames=False, frame_every=1,
                 frame_samples=1000, grad_samples=256, total_epochs=None, start_epoch=0, earlier=None):
        if isinstance(frame_every, bool) or not isinstance(frame_every, (int, np.integer)) or frame_every < 1:
            raise ValueError(f"frame_every must be a positive integer (epochs between frames); got {frame_every!r}")
        if isinstance(start_epoch, bool) or not isinstance(start_epoch, (int, np.integer)) or start_epoch < 0:
            raise ValueError(f"start_epoch must be a non-negative integer (epochs trained before); got {start_epoch!r}")
        self.start_epoch = int(start_epoch)
        earlier = {k: [float(v) for v in vs] for k, vs in (earlier or {}).items()}
        if earlier and any(len(vs) != self.start_epoch for vs in earlier.values()):
            raise ValueError(f"earlier must hold start_epoch={self.start_epoch} values per key, one per epoch; got "
                             f"{ {k: len(vs) for k, vs in earlier.items()} }")
        self.earlier = earlier
        if frames and net.n_layers < 2:
            raise ValueError(f"the animation shows the last hidden layer, and {net.sizes} has no hidden layer")
        self.frame_every, self.total_epochs, self.want_frames = int(frame_every), total_epochs, bool(frames)
        self.sizes = list(net.sizes)
        self.loss, self.classifier = net.loss, net.is_classifier
        self._X, self._Y = net.to_backend(X_train, Y_train)
        self._test = None if X_test is None else net.to_backend(X_test, Y_test)
        n = self._X.shape[0]
        self._Xg, self._Yg = self._X[: min(grad_samples, n), ...], self._Y[: min(grad_samples, n), ...]
        self._Xf = self._X[: min(frame_samples, n), ...]
        self.frame_labels, self.class_names = class_labels(_backend.to_numpy(self._Y[: min(frame_samples, n), ...]))
        self.epochs, self.train_cost, self.test_cost = [], [], []
        self.train_accuracy, self.test_accuracy = [], []
        self.grad_norm_w = [[] for _ in range(net.n_layers)]
        self.grad_norm_b = [[] for _ in range(net.n_layers)]
        self.frames = []  # (epoch, train cost, train accuracy or None, activations (N, n_hidden))
        self._record(net, None)

    def __call__(self, epoch, net, history):
        self._record(net, history)

    def _record(self, net, history):
        epoch = self.start_epoch + len(self.epochs)
        self.epochs.append(epoch)
        if history is None:
            train = net.evaluate(self._X, self._Y)
            cost, acc = train["cost"], (train["accuracy"] if self.classifier else None)
        else:  # fit has just measured them on the whole training set
            cost = history["cost"][-1]
            acc = history["accuracy"][-1] if self.classifier else None
        self.train_cost.append(cost)
        if self.classifier:
            self.train_accuracy.append(acc)
        if self._test is not None:
            test = net.evaluate(*self._test)
            self.test_cost.append(test["cost"])
            if self.classifier:
                self.test_accuracy.append(test["accuracy"])
        m = self._Xg.shape[0]
        grads_w, grads_b = net.backprop(self._Xg, self._Yg)
        for l, (gw, gb) in enumerate(zip(grads_w, grads_b)):
            self.grad_norm_w[l].append(float(np.linalg.norm(_backend.to_numpy(gw))) / m)
            self.grad_norm_b[l].append(float("nan") if gb is None else float(np.linalg.norm(_backend.to_numpy(gb))) / m)
        last = self.total_epochs is not None and epoch == self.total_epochs
        if self.want_frames and ((epoch - self.start_epoch) % self.frame_every == 0 or last):
            hidden = net.forward(self._Xf)[1][-2]  # activations[-2] = a^{L-1}, the last hidden layer
            self.frames.append((epoch, cost, acc, _backend.to_numpy(hidden).astype(np.float32)))

    def as_dict(self):
        """The recorded curves as plain lists (for metrics.json)."""
        out = {"epochs": self.epochs, "train_cost": self.train_cost, "grad_norm_w": self.grad_norm_w,
               "grad_norm_b": self.grad_norm_b, "grad_probe_samples": int(self._Xg.shape[0])}
        if self.start_epoch:
            out["start_epoch"] = self.start_epoch
        if self._test is not None:
            out["test_cost"] = self.test_cost
        if self.classifier:
            out["train_accuracy"] = self.train_accuracy
            if self._test is not None:
                out["test_accuracy"] = self.test_accuracy
        return out
