"""The ``portable-bp`` command: ``train`` a network, ``check`` that every backend agrees, ``bench``."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import stat
import sys
import tempfile
import time

import numpy as np

from . import _backend, checkpoint, datasets, optim, plots
from .gradcheck import gradcheck
from .mlp import INITS, MLP, load
from .optim import schedules

DEFAULT_LAYERS = {"circles": "2,8,8,1", "moons": "2,8,8,1", "toy1d": "1,3,3,1", "digits": "64,30,10"}
DEFAULT_ACTIVATION = {"toy1d": "tanh"}
DEFAULT_LR = {"sgd": 0.5, "momentum": 0.5, "nesterov": 0.5, "adam": 1e-3, "adamw": 1e-3}

#: ``train --recipe NAME`` sets these defaults; flags given on the command line still win.
RECIPES = {
    # network.py's MNIST recipe (Nielsen, ch. 1) at digits' size: quadratic cost, sigmoid, N(0, 1) init
    "network_py": dict(dataset="digits", layers=[64, 30, 10], activation="sigmoid", output_activation="sigmoid",
                       loss="mse", init="normal", lr=3.0, batch_size=10, epochs=30),
    # seed 002's 784-100-10 softmax + cross-entropy sketch at digits' size
    "softmax_ce": dict(dataset="digits", layers=[64, 100, 10], activation="sigmoid", output_activation="softmax",
                       loss="cross_entropy", init="scaled_normal", lr=0.5, batch_size=10, epochs=30),
    # the seed notebook's circles network: 3 units in the last hidden layer, drawn as a 3-D scatter
    "notebook_circles": dict(dataset="circles", layers=[2, 3, 3, 1], activation="sigmoid",
                             output_activation="sigmoid", loss="mse", init="scaled_normal", lr=3.0, batch_size=10,
                             epochs=40),
}


def load_dataset(name, seed):
    """(X_train, Y_train, X_test, Y_test) for a data set name; the test samples are always held out."""
    if name == "digits":  # one fixed split for every training seed, so test accuracies compare
        X_tr, X_te, y_tr, y_te = datasets.digits()
        return X_tr, y_tr, X_te, y_te
    if name == "toy1d":  # the notebook's grid of 1000 points on [-5, 5]: every 4th point is held out
        X, Y = datasets.toy1d()
        test = np.arange(len(X)) % 4 == 3
        return X[~test], Y[~test], X[test], Y[test]
    X, y = datasets.DATASETS[name](n=1000, seed=seed)
    n_train = 750
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _layers(text):
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--layers takes comma-separated integers like 2,8,8,1; got {text!r}"
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--layers needs at least two positive widths; got {text!r}")
    return sizes


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}; got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}; got {text!r}")
        return value

    return parse


def _nonnegative(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0; got {text!r}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed takes a non-negative integer; got {text!r}")
    return value


def _backend_name(text):
    """A known backend name (availability is checked later, with install hints)."""
    name = text.strip().lower().replace("-", "_")
    name = "array_api_strict" if name == "strict" else name
    if name not in _backend.BACKENDS:
        raise argparse.ArgumentTypeError(f"unknown backend {text!r}: expected one of {list(_backend.BACKENDS)}")
    return name


def _backend_list(text):
    return [_backend_name(name) for name in text.split(",")]


def _checkpoint_path(text):
    """A checkpoint file, or a --out directory holding weights.npz."""
    path = os.path.join(text, "weights.npz") if os.path.isdir(text) else text
    if not os.path.isfile(path):
        interrupted = os.path.join(text, INTERRUPTED)
        hint = (f"; {interrupted!r} holds an interrupted run: --resume {interrupted}" if os.path.isdir(text)
                and os.path.isfile(interrupted) else "")
        raise argparse.ArgumentTypeError(
            f"no checkpoint at {path!r} (give a weights.npz or the --out directory of a run){hint}")
    return path


def _prepare_out(out):
    """Create --out and make sure a file can be written there: fail before training, not after."""
    try:
        os.makedirs(out, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as exc:
        raise OSError(f"--out {out!r} is not a writable directory ({exc.strerror or exc}); "
                      "choose another with --out") from None
    return os.path.join(out, "weights.npz")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default: argparse's "(default: X)", unless the help already says
    the default in words (defaults that depend on other options); flags say "off"."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        if isinstance(action, argparse._StoreTrueAction):
            return f"{text} (default: off)"
        return super()._get_help_string(action)


def build_parser(recipe=None):
    parser = argparse.ArgumentParser(
        prog="portable-bp", description="Multilayer perceptrons trained by backpropagation on NumPy, JAX, PyTorch, "
        "CuPy or array-api-strict: train one, check that the backends agree, benchmark them.",
        epilog="portable-bp COMMAND --help describes each command. The main job: portable-bp train (circles data; "
        "metrics, weights and figures in runs/latest/).")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an MLP on a built-in data set and save the results",
                       description="Train an MLP on a built-in data set; write metrics.json, weights.npz (a "
                       "checkpoint) and the figures to --out.", formatter_class=_HelpFormatter)
    t.add_argument("--backend", default=None, type=_backend_name, help="numpy, array_api_strict, jax, torch, cupy "
                   f"(default: ${_backend.ENV_VAR}, else the checkpoint's with --resume when it is available here, "
                   "else numpy)")
    t.add_argument("--dataset", default=None, choices=sorted(datasets.DATASETS),
                   help="built-in data set; the last 250 samples (toy1d: every 4th point, digits: a fixed 25 %%) are "
                   "held out as the test set (default: circles, or the checkpoint's with --resume)")
    t.add_argument("--layers", type=_layers, default=None,
                   help="layer widths from input to output (default: "
                   + ", ".join(f"{v} for {k}" for k, v in DEFAULT_LAYERS.items()) + ")")
    t.add_argument("--activation", default=None, help="hidden activation: sigmoid, tanh, relu, identity "
                   "(default: sigmoid; tanh for toy1d)")
    t.add_argument("--output-activation", default=None, help="output activation: sigmoid, softmax, tanh, relu, "
                   "identity (default: with cross_entropy, sigmoid for one output and softmax for several; else the "
                   "hidden activation)")
    t.add_argument("--loss", default=None, help="mse, l1 or cross_entropy (default: cross_entropy; mse for toy1d)")
    t.add_argument("--epochs", type=_positive(int), default=60,
                   help="passes over the training data (with --resume: how many more)")
    t.add_argument("--batch-size", type=_positive(int), default=10, help="samples per mini-batch (gradient step)")
    t.add_argument("--optimizer", default=None, choices=optim.NAMES,
                   help="sgd (network.py's), momentum, nesterov, adam or adamw (as torch.optim's); default sgd, "
                   "or the checkpoint's (with its state) with --resume")
    t.add_argument("--lr", type=_positive(float), default=None,
                   help=f"learning rate (default: {DEFAULT_LR['sgd']} for sgd/momentum/nesterov, "
                   f"{DEFAULT_LR['adam']} for adam/adamw; the checkpoint's with --resume)")
    t.add_argument("--schedule", default=None, choices=schedules.NAMES,
                   help="learning-rate schedule: constant (default), step_decay (halve every 10 epochs), "
                   "invscaling (lr/(t+1)^0.5, t counting steps), cosine (to 0 over the run)")
    t.add_argument("--l2", type=_nonnegative, default=0.0,
                   help="network2.py's L2 regularisation λ: the cost gains (λ/2n)·Σ‖W‖²")
    t.add_argument("--seed", type=_seed, default=None, help="data, initial network and shuffling "
                   "(default 0, or the checkpoint's with --resume)")
    t.add_argument("--dtype", default=None, choices=_backend.DTYPES, help="float64 (default; the checkpoint's "
                   "with --resume)")
    t.add_argument("--kernel", default=None, choices=["matmul", "einsum", "stacked", "loop"],
                   help="how products are computed: one GEMM per batch (matmul), the backend's einsum, the "
                   "notebook's stacked columns, or sample by sample (loop); all give the same gradients "
                   "(default: matmul; the checkpoint's with --resume)")
    t.add_argument("--out", default=None, help="directory for metrics.json, weights.npz (a checkpoint: "
                   "portable_bp.load(path)) and the figures (default: runs/latest, or the checkpoint's directory "
                   "with --resume)")
    t.add_argument("--resume", default=None, type=_checkpoint_path, metavar="PATH",
                   help="continue training the network saved in PATH (a weights.npz, or a run's --out directory); "
                   "the architecture, the optimizer with its state and the shuffling continue from it (default: none, "
                   "a new network)")
    t.add_argument("--quiet", action="store_true", help="no progress bar (or per-epoch lines)")
    t.add_argument("--init", default="scaled_normal", choices=INITS,
                   help="initial weights: scaled_normal N(0, 1/n_in), network.py's normal N(0, 1), glorot_uniform "
                   "(tanh/sigmoid), he_normal/he_uniform (relu), torch (nn.Linear's); see portable_bp.initializers")
    t.add_argument("--recipe", default=None, choices=sorted(RECIPES),
                   help="preset data set, layers and hyper-parameters (see docs/visual.md); other flags override it "
                   "(default: none)")
    t.add_argument("--animate", action="store_true",
                   help="also write hidden.gif: the last hidden layer's activations, one frame per epoch")
    t.add_argument("--frame-every", type=_positive(int), default=1, help="epochs between --animate's frames")
    if recipe is not None:
        t.set_defaults(**RECIPES[recipe])

    c = sub.add_parser("check", help="run one small network on every backend and compare with numpy",
                       description="Run one small network (outputs and BP1-BP4 gradients) on every backend, in "
                       "float64 and float32, and compare with numpy; exit code 1 on disagreement.",
                       formatter_class=_HelpFormatter)
    c.add_argument("--backends", default=None, type=_backend_list,
                   help="comma-separated backend names; unavailable ones are listed as skipped, with the reason "
                   f"(default: all of {', '.join(_backend.BACKENDS)})")

    # The harness is not in the installed package but in the checkout's benchmarks/ (see _bench): every
    # argument after "bench" goes to it unparsed. No argument can start with NUL, so none is an option here.
    b = sub.add_parser("bench", help="benchmark kernels, backends and peers (from a checkout; benchmarks/README.md)",
                       add_help=False, prefix_chars="\0")
    b.add_argument("bench_args", nargs=argparse.REMAINDER)
    return parser


BENCH_MISSING = ("the benchmark harness is not part of the installed package; it lives in the repository's "
                 "benchmarks/ folder: git clone <portable_bp repository> && cd portable_bp && "
                 "pip install -e '.[bench]' && python benchmarks/run.py --help")


def _bench_folder():
    """The benchmarks/ folder of the source checkout this package runs from (an editable install, or
    PYTHONPATH=src): two levels above src/portable_bp. None when there is none (a wheel install)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    folder = os.path.join(root, "benchmarks")
    return folder if os.path.isfile(os.path.join(folder, "pbp_bench", "__init__.py")) else None


def _bench(argv):
    """``portable-bp bench ARGS``: the checkout's ``python benchmarks/run.py ARGS``; exit code 2 without one."""
    folder = _bench_folder()
    if folder is None:
        print(f"portable-bp bench: error: {BENCH_MISSING}", file=sys.stderr)
        return 2
    if folder not in sys.path:
        sys.path.insert(0, folder)
    from pbp_bench import main as bench_main

    return bench_main(argv)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "recipe", None):  # parse again with the recipe's values as the defaults
        parser = build_parser(args.recipe)
        args = parser.parse_args(argv)
    if args.command == "train" and args.resume and (args.recipe or args.layers or args.activation
                                                    or args.output_activation or args.loss):
        parser.error("--resume takes the architecture from the checkpoint: drop --recipe, --layers, --activation, "
                     "--output-activation and --loss")
    try:
        if args.command == "train":
            return _train_command(args)
        if args.command == "bench":
            return _bench(args.bench_args)
        return check(args)
    except (ValueError, TypeError, OSError, ImportError, FloatingPointError) as exc:
        print(f"portable-bp {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # check, bench (train handles its own, see _train_command)
        print(f"portable-bp {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130


# -- train ----------------------------------------------------------------------------------------
#: the figures ``train`` may write into --out (and the only files it removes: those this run did not draw)
FIGURES = ("cost.png", "grad_norms.png", "decision_regions.png", "hidden.gif")
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
    resumed = _resume_state(args.resume, args.dataset) if args.resume else _Resumed()
    run.resumed = resumed
    out = args.out or ((os.path.dirname(args.resume) or ".") if args.resume else "runs/latest")
    run.out, run.weights_file = out, _prepare_out(out)
    seed = args.seed if args.seed is not None else (resumed.seed if resumed.seed is not None else 0)
    dataset = args.dataset or resumed.dataset or "circles"
    run.seed, run.dataset, run.before = seed, dataset, resumed.epochs_done
    backend, backend_note = _choose_backend(args.backend, resumed)
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
    history = net.fit(X_tr, Y_tr, epochs=args.epochs, batch_size=args.batch_size, optimizer=opt, l2=args.l2,
                      seed=rng, progress=not args.quiet, callback=after_epoch)
    run.stage = "finishing"
    interrupts.check()
    seconds = time.perf_counter() - t0
    history = resumed.continued(history)
    metrics = {
        "dataset": dataset, "test_set": TEST_SETS.get(dataset, "held out"), "backend": net.backend,
        "dtype": net.dtype_name, "kernel": net.kernel,
        "sizes": net.sizes, "activation": net.activation, "output_activation": net.output_activation,
        "loss": net.loss, "epochs": args.epochs, "batch_size": args.batch_size, "optimizer": net.optimizer.config(),
        "lr": net.optimizer.config()["lr"], "l2": args.l2,
        "seed": seed, "init": args.init, "recipe": args.recipe, "train_seconds": seconds,
        "epochs_done": len(history["cost"]), "resumed_from": args.resume,
        "train_cost": net.cost(X_tr, Y_tr), "test_cost": net.cost(X_te, Y_te), "history": history,
        "monitor": monitor.as_dict(),
    }
    if net.is_classifier or dataset == "toy1d":
        metrics["train_accuracy"] = net.accuracy(X_tr, Y_tr)
        metrics["test_accuracy"] = net.accuracy(X_te, Y_te)
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


#: how each data set is split (printed after the sample counts)
SPLITS = {"toy1d": "; test = every 4th point of the notebook's grid, held out",
          "digits": "; test = a fixed 25 % split, the same for every seed"}
#: metrics.json's ``test_set``
TEST_SETS = {"toy1d": "held out: every 4th point of datasets.toy1d()'s grid of 1000 (250), the other 750 train",
             "digits": "held out: datasets.digits()'s fixed 25 % split",
             "circles": "held out: the last 250 of 1000 samples", "moons": "held out: the last 250 of 1000 samples"}


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

    def integer(field, value):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise r.bad(f"{field!r}", f"is {value!r}, not a non-negative integer")
        return value

    backend = meta.get("backend")
    if backend is not None and (not isinstance(backend, str) or backend not in _backend.BACKENDS):
        raise r.bad("'backend'", f"is {backend!r}, not one of {list(_backend.BACKENDS)}")
    r.backend = backend
    if "seed" in user:
        r.seed = integer("seed", user["seed"])
    history = user.get("history", {})
    if not isinstance(history, dict):
        raise r.bad("'history'", f"is a {type(history).__name__}, not a dict of per-epoch lists")
    lengths = set()
    for key, values in history.items():
        if not isinstance(values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise r.bad(f"'history'[{key!r}]", f"is {_short(values)}, not a list of finite numbers")
        lengths.add(len(values))
    if len(lengths) > 1:
        raise r.bad("'history'", f"has lists of different lengths {sorted(lengths)}; one entry per epoch each")
    epochs_in_history = lengths.pop() if lengths else 0
    r.epochs_done = integer("epochs_done", user["epochs_done"]) if "epochs_done" in user else epochs_in_history
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


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def _optimizer(args, net, n_train):
    """The optimizer --optimizer, --lr and --schedule ask for; None (continue the checkpoint's, with its
    state) when --resume is given without them."""
    if args.optimizer is None and args.lr is None and args.schedule is None and net.optimizer is not None:
        return None
    name = args.optimizer or "sgd"
    lr = args.lr if args.lr is not None else DEFAULT_LR[name]
    steps_per_epoch = -(-n_train // args.batch_size)
    options = {"step_decay": dict(drop=0.5, every=10 * steps_per_epoch),
               "cosine": dict(decay_steps=args.epochs * steps_per_epoch)}
    if args.schedule not in (None, "constant"):
        lr = schedules.get(args.schedule, lr, **options.get(args.schedule, {}))
    return optim.get(name, lr)


def _interrupted(run):
    """Ctrl-C anywhere in ``train``: one line on stderr, exit code 130, and weights.npz is never written
    by an interrupted run. During training the network after its last completed epoch goes to
    interrupted.npz beside it, with the shuffling state, and the line gives the ``--resume`` command
    that finishes the run exactly as if it had never stopped."""
    args, out = run.args, run.out
    head = "portable-bp train: interrupted (Ctrl-C)"
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


def _write_figures(args, net, monitor, X_tr, Y_tr, X_te, Y_te, dataset, out, run, interrupts):
    """The figures beside metrics.json; without matplotlib, say how to get them and carry on."""
    if not plots.have_matplotlib():
        print(f"figures skipped: matplotlib is not installed. For cost.png, grad_norms.png, "
              f"decision_regions.png{' and hidden.gif' if args.animate else ''}: {plots.INSTALL_HINT}")
        return []

    def written(path):
        run.figures.append(path)
        interrupts.check()  # a Ctrl-C swallowed while drawing stops before the next figure

    paths = plots.write_run_figures(out, net, monitor, X_tr, Y_tr, X_te, Y_te, animate=args.animate,
                                    dataset=dataset, on_written=written)
    print("wrote " + ", ".join(paths))
    return paths


def _remove_stale_figures(out, written):
    """Remove the figures (only :data:`FIGURES`, only regular files) an earlier run left in ``out`` that
    this run did not draw: every figure in --out belongs to the weights.npz beside it."""
    drawn = {os.path.basename(p) for p in written}
    removed = []
    for name in FIGURES:
        path = os.path.join(out, name)
        try:
            regular = stat.S_ISREG(os.lstat(path).st_mode)
        except OSError:
            continue
        if name not in drawn and regular:
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed.append(name)
    if removed:
        print(f"removed {', '.join(removed)} from {out}: left by an earlier run, not drawn by this one")
    return removed


TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def _max_rel_dev(a, b):
    """max |a - b| / max(|b|, tiny), over a list of arrays."""
    worst = 0.0
    for x, y in zip(a, b):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        scale = max(np.max(np.abs(y)), np.finfo(np.float64).tiny)
        worst = max(worst, float(np.max(np.abs(x - y)) / scale))
    return worst


def check_network(backend, dtype, kernel="matmul", seed=0):
    """Outputs and gradients of a fixed small network (softmax + cross-entropy) as NumPy arrays."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((16, 3))
    y = rng.integers(0, 3, size=16)
    net = MLP([3, 5, 4, 3], activation="tanh", output_activation="softmax", loss="cross_entropy",
              backend=backend, dtype=dtype, kernel=kernel, seed=seed)
    gw, gb = net.backprop(X, y)
    arrays = [net.predict(X)] + list(gw) + list(gb)
    return net, X, y, [_backend.to_numpy(a) for a in arrays]


def check(args):
    """The table of every backend (``--backends``: those named) against numpy; a backend that is not
    available here is a "skipped" row with the reason and its install command. Exit code 1 when one
    disagrees, or when one named in --backends could not be checked."""
    names = list(dict.fromkeys(args.backends or _backend.BACKENDS))
    skipped = {name: _backend.unavailable_reason(name) for name in names}
    skipped = {name: reason for name, reason in skipped.items() if reason is not None}
    rows, ok = [], True
    for dtype in _backend.DTYPES:
        _, _, _, reference = check_network("numpy", dtype)
        for name in names:
            if name in skipped:
                continue
            net, X, y, arrays = check_network(name, dtype)
            dev = _max_rel_dev(arrays, reference)
            grad_err = gradcheck(net, X, y) if dtype == "float64" else None
            good = dev <= TOLERANCE[dtype] and (grad_err is None or grad_err < 1e-7)
            ok &= good
            device = _backend.device_of(net.weights[0])
            rows.append((name, device, dtype, f"{dev:.2e}", "-" if grad_err is None else f"{grad_err:.2e}",
                         "ok" if good else "DISAGREES"))
    for name, reason in skipped.items():
        rows.append((name, "-", "-", "-", "-", f"skipped: {reason} ({_backend.BACKENDS[name][0]})"))
    header = ("backend", "device", "dtype", "max rel. dev. vs numpy", "gradcheck", "verdict")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header) - 1)] + [0]
    for r in [header] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    print(f"tolerances: float64 {TOLERANCE['float64']:g}, float32 {TOLERANCE['float32']:g}; gradcheck < 1e-7")
    if args.backends and skipped:
        print(f"not checked, although named in --backends: {', '.join(skipped)}", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
