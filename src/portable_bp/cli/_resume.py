"""``train --resume``: a checkpoint's metadata, every field checked before anything runs."""

from __future__ import annotations

import numpy as np

from .. import _backend, _checks, checkpoint, datasets


class _Resumed:
    """What ``--resume`` takes from a checkpoint's metadata, every field checked (:func:`_resume_state`).
    A fresh run has none of it."""

    def __init__(self, path=None, backend=None, seed=None, epochs_done=0, history=None, rng_state=None,
                 dataset=None):
        self.path, self.backend, self.seed, self.epochs_done = path, backend, seed, epochs_done
        self.history, self.rng_state, self.dataset = history or {}, rng_state, dataset

    def bad(self, field, why):
        return checkpoint.CheckpointError(
            f"cannot resume from {self.path}: its metadata field {field} {why}. It was edited by hand or not "
            "written by portable-bp train; resume from a run's weights.npz, or load it with portable_bp.load")

    def check_against(self, net, dataset, X):
        """The network fits the data set, and the history holds what this network records every epoch."""
        if net.sizes[0] != X.shape[1]:
            raise ValueError(f"the network in {self.path} takes {net.sizes[0]} inputs but the {dataset} data set has "
                             f"{X.shape[1]} features: give --dataset the data set it was trained on")
        if self.epochs_done:
            missing = [k for k in ["cost"] + (["accuracy"] if net.is_classifier else []) if k not in self.history]
            if missing:
                raise self.bad("'history'", f"lacks {missing}, which this network records every epoch")

    def continued(self, history):
        """The checkpoint's history followed by this run's."""
        return {k: list(self.history.get(k, [])) + list(v) for k, v in history.items()}


def _resume_state(path, dataset):
    """The metadata of the checkpoint at ``path`` that ``--resume`` uses, checked BEFORE anything runs:
    a hand-edited or foreign file gives a CheckpointError naming the field, not a failure after training."""
    meta = checkpoint.read_metadata(path)
    r = _Resumed(path)
    user = meta.get("user", {})
    if not isinstance(user, dict):
        raise r.bad("'user'", f"is a {type(user).__name__}, not a dict")

    def integer(field, value, high):
        try:
            return _checks.integer(field, value, 0, high)
        except (TypeError, ValueError):
            raise r.bad(f"{field!r}", f"is {_short(value)}, not an integer in [0, {high:,}]") from None

    backend = meta.get("backend")
    if backend is not None and (not isinstance(backend, str) or backend not in _backend.BACKENDS):
        raise r.bad("'backend'", f"is {backend!r}, not one of {list(_backend.BACKENDS)}")
    r.backend = backend
    if "seed" in user:
        r.seed = integer("seed", user["seed"], 2**128)
    history = user.get("history", {})
    if not isinstance(history, dict):
        raise r.bad("'history'", f"is a {type(history).__name__}, not a dict of per-epoch lists")
    lengths = set()
    for key, values in history.items():
        if not isinstance(values, list) or not all(_finite(v) for v in values):
            raise r.bad(f"'history'[{key!r}]", f"is {_short(values)}, not a list of finite numbers")
        lengths.add(len(values))
    if len(lengths) > 1:
        raise r.bad("'history'", f"has lists of different lengths {sorted(lengths)}; one entry per epoch each")
    epochs_in_history = lengths.pop() if lengths else 0
    r.epochs_done = (integer("epochs_done", user["epochs_done"], 10**9) if "epochs_done" in user
                     else epochs_in_history)
    if r.epochs_done != epochs_in_history:
        raise r.bad("'epochs_done'", f"is {r.epochs_done} but 'history' holds {epochs_in_history} epochs")
    r.history = history
    if "rng_state" in user:
        state = user["rng_state"]
        try:
            np.random.default_rng(0).bit_generator.state = state  # the form default_rng's PCG64 takes
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise r.bad("'rng_state'", f"is not a state of NumPy's PCG64 generator "
                        f"({type(exc).__name__}: {exc}): {_short(state)}") from None
        r.rng_state = state
    if "dataset" in user:
        name = user["dataset"]
        if not isinstance(name, str) or name not in datasets.DATASETS:
            raise r.bad("'dataset'", f"is {_short(name)}, not one of the built-in data sets "
                        f"{sorted(datasets.DATASETS)}")
        if dataset is not None and dataset != name:
            raise r.bad("'dataset'", f"is {name!r} but --dataset is {dataset!r}: resume on the data set it was "
                        "trained on (drop --dataset), or start a new run without --resume")
        r.dataset = name
    if "interrupted" in user and not isinstance(user["interrupted"], bool):
        raise r.bad("'interrupted'", f"is {_short(user['interrupted'])}, not true or false")
    return r


def _finite(v):
    """A JSON number that is a finite float (an int beyond float range, 10**400 written out, is not)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        _checks.real("value", v)
    except ValueError:
        return False
    return True


def _short(value, limit=80):
    text = _checks._show(value) if isinstance(value, int) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
