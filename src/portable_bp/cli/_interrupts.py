"""Ctrl-C during ``train``: the SIGINT handler, how far the run got, and saving an interrupted run."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

#: where Ctrl-C saves the last completed epoch: never over weights.npz, which stays the last finished run's
INTERRUPTED = "interrupted.npz"


class _Interrupts:
    """Ctrl-C (SIGINT) during ``train``, as a handler installed for the command's duration.

    It raises KeyboardInterrupt, as Python's own handler does, and also counts: library code can
    swallow the exception (an exception in JAX's garbage-collection callback is only printed), and
    :meth:`check` raises it again at the next safe point, so a swallowed Ctrl-C still ends the run
    before it writes anything; the "Exception ignored" report of such a swallowed KeyboardInterrupt is
    not printed (the run's own message says what happened). Inside :meth:`deferred` (writing results)
    an interrupt is only counted, never raised half-way. Where the handler cannot be installed (not the
    main thread, or SIGINT ignored), Python's behaviour is left as it is.
    """

    def __init__(self):
        self.count, self._deferred, self._previous, self._hook = 0, 0, None, None

    def __call__(self, signum, frame):
        self.count += 1
        if not self._deferred:
            raise KeyboardInterrupt

    def __enter__(self):
        try:
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self._previous = signal.signal(signal.SIGINT, self)
        except ValueError:  # not the main thread: leave SIGINT to Python
            pass
        if self._previous is not None:
            self._hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            sys.unraisablehook = self._hook

    def _unraisable(self, info):
        if not isinstance(info.exc_value, KeyboardInterrupt):
            self._hook(info)

    def check(self):
        """Raise KeyboardInterrupt if Ctrl-C was pressed and its exception was swallowed or deferred."""
        if self.count:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self):
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1


class _Run:
    """How far ``train`` got, for the one place that handles Ctrl-C (:func:`_interrupted`)."""

    def __init__(self, args):
        self.args = args
        self.stage = "starting"  # starting -> training -> finishing -> saved -> figures
        self.out = self.weights_file = self.net = None
        self.before = 0  # epochs of the resumed checkpoint
        self.last_epoch = {}  # the state after the last completed epoch: what Ctrl-C saves
        self.resumed = None
        self.seed = None
        self.dataset = None
        self.figures = []  # figures written so far
        self.primary = True  # False in processes 1.. of a multi-process run: they write nothing


def _interrupted(run):
    """Ctrl-C anywhere in ``train``: one line on stderr, exit code 130, and weights.npz is never written
    by an interrupted run. During training the network after its last completed epoch goes to
    interrupted.npz beside it, with the shuffling state, and the line gives the ``--resume`` command
    that finishes the run exactly as if it had never stopped."""
    args, out = run.args, run.out
    head = "portable-bp train: interrupted (Ctrl-C)"
    if not run.primary:
        print(f"{head}; process 0 of the run saves what there is to save", file=sys.stderr)
        return 130
    if run.stage in ("saved", "figures"):
        epochs = run.before + args.epochs
        drawn = [os.path.basename(p) for p in run.figures]
        if run.stage == "saved":
            figures = "the figures were not drawn"
        else:
            figures = f"drew {', '.join(drawn) if drawn else 'none'} of the figures, then stopped"
        print(f"{head} after training finished: {out}/weights.npz and {out}/metrics.json hold this run's network "
              f"({epochs} epochs); {figures}", file=sys.stderr)
        return 130
    if not run.last_epoch:
        where = "before training started" if run.stage == "starting" else "before the first epoch ended"
        kept = (f"{run.weights_file} is as it was" if run.weights_file and os.path.exists(run.weights_file)
                else "nothing was written")
        print(f"{head} {where}: {kept}", file=sys.stderr)
        return 130
    net, last = run.net, run.last_epoch
    net.weights, net.biases = last["params"]
    net.optimizer_state = last["state"]
    history = run.resumed.continued(last["history"])
    done = len(last["history"]["cost"])
    epoch, total = run.before + done, run.before + args.epochs
    path = os.path.join(out, INTERRUPTED)
    try:
        net.save(path, metadata={"dataset": run.dataset, "seed": run.seed, "epochs_done": epoch,
                                 "rng_state": last["rng_state"], "history": history, "interrupted": True})
    except (OSError, TypeError, ValueError) as exc:
        print(f"{head} after epoch {epoch} of {total}, and saving it failed: {exc}", file=sys.stderr)
        return 130
    options = f" --batch-size {args.batch_size}" + (f" --l2 {args.l2!r}" if args.l2 else "")
    finish = (f"to finish the run: portable-bp train --resume {path} --epochs {args.epochs - done}{options}"
              if done < args.epochs else f"to go on: portable-bp train --resume {path} --epochs N{options}")
    kept = " (the earlier weights.npz beside it is untouched)" if os.path.exists(run.weights_file) else ""
    print(f"{head} after epoch {epoch} of {total}: saved that network to {path}{kept}; {finish}", file=sys.stderr)
    return 130
