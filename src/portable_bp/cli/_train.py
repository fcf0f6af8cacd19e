"""``portable-bp train``: build or resume a network, train it, write metrics.json, weights.npz and the figures."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import time

import numpy as np

from .. import _backend, optim, plots
from ..mlp import MLP, load
from ..optim import schedules
from ..train import ProgressBar
from . import _launch
from ._datasets import SPLITS, TEST_SETS, load_dataset
from ._figures import _remove_stale_figures, _write_figures
from ._interrupts import _interrupted, _Interrupts, _Run
from ._parser import DEFAULT_ACTIVATION, DEFAULT_LAYERS, DEFAULT_LR, _layers
from ._resume import _resume_state, _Resumed


def _prepare_out(out):
    """Create --out and make sure a file can be written there: fail before training, not after.
    Returns the path of weights.npz and the directories it created (outermost first)."""
    created, path = [], os.path.abspath(out)
    while not os.path.exists(path):
        created.insert(0, path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    try:
        os.makedirs(out, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as exc:
        _remove_if_empty(created)
        raise OSError(f"--out {out!r} is not a writable directory ({exc.strerror or exc}); "
                      "choose another with --out") from None
    return os.path.join(out, "weights.npz"), created


def _remove_if_empty(directories):
    """A run that failed (missing scikit-learn, a bad checkpoint, divergence) leaves no empty --out behind:
    remove the directories it created, innermost first, as long as nothing was written into them."""
    for path in reversed(directories):
        try:
            os.rmdir(path)  # only ever an empty directory
        except OSError:
            return


def _train_command(args):
    """``portable-bp train``: every KeyboardInterrupt of the command, wherever it comes from (loading,
    compiling, an epoch, the evaluation, the figures), ends here: exit code 130 and one line."""
    run = _Run(args)
    with _Interrupts() as interrupts:
        try:
            return train(args, run, interrupts)
        except KeyboardInterrupt:
            with interrupts.deferred():  # a second Ctrl-C must not break the clean-up
                return _interrupted(run)


def train(args, run=None, interrupts=None):
    run = run or _Run(args)
    interrupts = interrupts or _Interrupts()
    multi = _launch.join(args)  # one process of several (--coordinator ...): before anything uses JAX
    run.primary = primary = _launch.is_primary()  # only process 0 writes files
    resumed = _resume_state(args.resume, args.dataset) if args.resume else _Resumed()
    run.resumed = resumed
    out = args.out or ((os.path.dirname(args.resume) or ".") if args.resume else "runs/latest")
    if primary:
        run.weights_file, created = _prepare_out(out)
    else:  # only process 0 writes files
        run.weights_file, created = os.path.join(out, "weights.npz"), []
    run.out = out
    try:
        return _train(args, run, interrupts, resumed, out, multi, primary)
    except Exception:  # not KeyboardInterrupt: an interrupted run writes interrupted.npz into --out next
        _remove_if_empty(created)
        raise


def _train(args, run, interrupts, resumed, out, multi, primary):
    seed = args.seed if args.seed is not None else (resumed.seed if resumed.seed is not None else 0)
    dataset = args.dataset or resumed.dataset or "circles"
    run.seed, run.dataset, run.before = seed, dataset, resumed.epochs_done
    backend, backend_note = ("jax", "several processes") if multi else _choose_backend(args.backend, resumed)
    X_tr, Y_tr, X_te, Y_te = load_dataset(dataset, seed)
    if args.resume:
        net = load(args.resume, backend=backend, dtype=args.dtype, kernel=args.kernel)
        resumed.check_against(net, dataset, X_tr)
    else:
        sizes = args.layers or _layers(DEFAULT_LAYERS[dataset])
        activation = args.activation or DEFAULT_ACTIVATION.get(dataset, "sigmoid")
        loss = args.loss or "cross_entropy"
        if dataset == "toy1d" and args.loss is None and args.activation is None:
            loss = "mse"  # ±1 targets: a tanh network with the quadratic cost, as in the notebook
        output = args.output_activation
        if output is None:
            if loss == "cross_entropy":
                output = "softmax" if sizes[-1] > 1 else "sigmoid"
            else:
                output = activation
        net = MLP(sizes, activation=activation, output_activation=output, loss=loss, backend=backend,
                  dtype=args.dtype or "float64", kernel=args.kernel or "matmul", seed=seed, init=args.init)
    run.net = net
    rng = np.random.default_rng(seed)
    if resumed.rng_state is not None:  # continue the shuffling sequence: resumed == uninterrupted training
        rng.bit_generator.state = resumed.rng_state
    before, total = resumed.epochs_done, resumed.epochs_done + args.epochs
    samples = f"{len(X_tr)} train / {len(X_te)} test samples{SPLITS.get(dataset, '')}"
    if args.resume:
        print(f"resuming {args.resume} after epoch {before} for {args.epochs} more on {dataset} ({samples})")
        print(f"  {net!r}")
        print(f"  backend {net.backend} ({backend_note}); writing to {out}/")
    else:
        print(f"training {net!r} on {dataset} ({samples}) for {args.epochs} epochs; writing to {out}/")
    # test cost, gradient norms and animation frames after every epoch, for the figures
    monitor = plots.TrainingMonitor(net, X_tr, Y_tr, X_te, Y_te, frames=args.animate,
                                    frame_every=args.frame_every, total_epochs=total, start_epoch=before,
                                    earlier=resumed.history if before else None)

    def after_epoch(epoch, net, history):
        run.last_epoch = dict(params=(net.weights, net.biases), state=net.optimizer_state,  # never written in place
                              rng_state=rng.bit_generator.state, history={k: list(v) for k, v in history.items()})
        interrupts.check()  # a Ctrl-C swallowed during the epoch ends the run here, with the epoch kept
        monitor(epoch, net, history)

    opt = _optimizer(args, net, len(X_tr))
    run.stage = "training"
    t0 = time.perf_counter()
    # the bar counts the checkpoint's epochs too: "epoch 4/5" after --resume of 3 epochs with --epochs 2
    bar = [] if args.quiet or not primary else [ProgressBar(f"fit [{net.backend}]", initial=before)]
    history = net.fit(X_tr, Y_tr, epochs=args.epochs, batch_size=args.batch_size, optimizer=opt, l2=args.l2,
                      seed=rng, progress=False, callbacks=bar, callback=after_epoch,
                      devices="all" if multi else None)
    run.stage = "finishing"
    interrupts.check()
    seconds = time.perf_counter() - t0
    history = resumed.continued(history)
    metrics = {
        "dataset": dataset, "test_set": TEST_SETS.get(dataset, "held out"), "backend": net.backend,
        "dtype": net.dtype_name, "kernel": net.kernel,
        "sizes": net.sizes, "activation": net.activation, "output_activation": net.output_activation,
        "loss": net.loss, "epochs": len(history["cost"]), "epochs_this_run": len(history["cost"]) - before,
        "batch_size": args.batch_size, "optimizer": net.optimizer.config(),
        "lr": _lr_config(net.optimizer.lr), "l2": args.l2,
        "seed": seed, "init": args.init, "recipe": args.recipe, "train_seconds": seconds,
        "epochs_done": len(history["cost"]), "resumed_from": args.resume,
        "train_cost": net.cost(X_tr, Y_tr), "test_cost": net.cost(X_te, Y_te), "history": history,
        "monitor": monitor.as_dict(),
    }
    if net.is_classifier or dataset == "toy1d":
        metrics["train_accuracy"] = net.accuracy(X_tr, Y_tr)
        metrics["test_accuracy"] = net.accuracy(X_te, Y_te)
    if not primary:
        print(f"process {_launch.process_index()}: done; process 0 writes {out}/")
        return 0
    with interrupts.deferred():  # metrics.json and weights.npz are written together, or neither
        interrupts.check()
        _write_json(os.path.join(out, "metrics.json"), metrics)
        net.save(run.weights_file, metadata={"dataset": dataset, "seed": seed, "epochs_done": len(history["cost"]),
                                             "rng_state": rng.bit_generator.state, "history": history})
        run.stage = "saved"
    interrupts.check()  # Ctrl-C while saving: the results are written; stop before the figures
    print(f"final cost: train {metrics['train_cost']:.5f}, test {metrics['test_cost']:.5f}")
    if "test_accuracy" in metrics:
        print(f"accuracy:   train {metrics['train_accuracy']:.2%}, test {metrics['test_accuracy']:.2%}")
    print(f"wrote {out}/metrics.json and {out}/weights.npz ({seconds:.2f} s of training, "
          "with the per-epoch monitoring)")
    run.stage = "figures"
    written = _write_figures(args, net, monitor, X_tr, Y_tr, X_te, Y_te, dataset, out, run, interrupts)
    interrupts.check()
    _remove_stale_figures(out, written)
    print(f"continue training with: portable-bp train --resume {out} --epochs N")
    return 0


def _write_json(path, obj):
    """Write JSON atomically (temporary file, then rename): never a truncated metrics.json. An existing
    file's permission bits are kept; a new one gets the umask's, as open() would give it."""
    directory, base = os.path.split(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _choose_backend(flag, resumed):
    """``(backend or None, why)``: --backend, else $PORTABLE_BP_BACKEND, else the checkpoint's when it is
    available here (else numpy, saying so), else numpy."""
    if flag is not None:
        return flag, "--backend"
    if os.environ.get(_backend.ENV_VAR):
        return None, f"${_backend.ENV_VAR}"
    if resumed.backend is None:
        return None, "the default"
    reason = _backend.unavailable_reason(resumed.backend)
    if reason is None:
        return resumed.backend, "the checkpoint's"
    return "numpy", (f"the checkpoint was trained on {resumed.backend}, which is not available here: {reason}; "
                     "--backend chooses another")


def _lr_config(lr):
    """The lr as metrics.json records it: a float, or the schedule's config."""
    return lr.config() if isinstance(lr, schedules.Schedule) else lr


def _optimizer(args, net, n_train):
    """The optimizer --optimizer, --lr, --schedule, --warmup and --clip-norm ask for; None (continue the
    checkpoint's, with its state) when --resume is given without them.

    --warmup N: η rises linearly from 0 to the lr over steps 0 … N−1 and the schedule starts at step N
    (``schedules.join``); cosine becomes ``warmup_cosine(lr, N, steps of the run)``, which ends at 0 on
    the last step like cosine alone. --clip-norm C chains ``clip_by_global_norm(C)`` before the optimizer.
    """
    clip_norm, warmup = getattr(args, "clip_norm", None), getattr(args, "warmup", None)
    if (args.optimizer is None and args.lr is None and args.schedule is None and clip_norm is None and warmup is None
            and net.optimizer is not None):
        return None
    name = args.optimizer or "sgd"
    lr = args.lr if args.lr is not None else DEFAULT_LR[name]
    steps_per_epoch = -(-n_train // args.batch_size)
    total = args.epochs * steps_per_epoch
    options = {"step_decay": dict(drop=0.5, every=10 * steps_per_epoch), "cosine": dict(decay_steps=total)}
    peak = lr
    if args.schedule not in (None, "constant"):
        lr = schedules.get(args.schedule, lr, **options.get(args.schedule, {}))
    if warmup is not None:
        if args.schedule == "cosine":
            if warmup >= total:
                raise ValueError(f"--warmup {warmup} must be fewer steps than the run's {total} "
                                 f"({args.epochs} epochs of {steps_per_epoch} batches) with --schedule cosine")
            lr = schedules.warmup_cosine(peak, warmup_steps=warmup, decay_steps=total)
        else:  # a linear ramp to the peak, then the schedule (or the constant lr) from its step 0
            lr = schedules.with_warmup(lr, warmup)
    opt = optim.get(name, lr)
    return opt if clip_norm is None else optim.chain(optim.clip_by_global_norm(clip_norm), opt)
