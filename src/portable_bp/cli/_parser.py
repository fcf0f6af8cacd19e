"""``portable-bp``'s arguments: the parser, its value types, the recipes and the per-data-set defaults."""

from __future__ import annotations

import argparse
import os

from .. import _backend, _checks, _fetch, datasets, optim
from ..mlp import INITS
from ..optim import schedules
from . import _launch
from ._interrupts import INTERRUPTED

DEFAULT_LAYERS = {"circles": "2,8,8,1", "moons": "2,8,8,1", "toy1d": "1,3,3,1", "digits": "64,30,10",
                  "mnist": "784,30,10", "mnist_nielsen": "784,30,10"}
DEFAULT_ACTIVATION = {"toy1d": "tanh"}
DEFAULT_LR = {"sgd": 0.5, "momentum": 0.5, "nesterov": 0.5, "adam": 1e-3, "adamw": 1e-3}

#: ``train --recipe NAME`` sets these defaults; flags given on the command line still win.
RECIPES = {
    # network.py's MNIST recipe (Nielsen, ch. 1) at digits' size: quadratic cost, sigmoid, N(0, 1) init
    "network_py": dict(dataset="digits", layers=[64, 30, 10], activation="sigmoid", output_activation="sigmoid",
                       loss="mse", init="normal", lr=3.0, batch_size=10, epochs=30),
    # network.py's own headline experiment (Nielsen, ch. 1) on his mnist.pkl.gz: "about 95%" in the book
    "network_py_mnist": dict(dataset="mnist_nielsen", layers=[784, 30, 10], activation="sigmoid",
                             output_activation="sigmoid", loss="mse", init="normal", lr=3.0, batch_size=10, epochs=30),
    # seed 002's 784-100-10 softmax + cross-entropy sketch at digits' size
    "softmax_ce": dict(dataset="digits", layers=[64, 100, 10], activation="sigmoid", output_activation="softmax",
                       loss="cross_entropy", init="scaled_normal", lr=0.5, batch_size=10, epochs=30),
    # the seed notebook's circles network: 3 units in the last hidden layer, drawn as a 3-D scatter
    "notebook_circles": dict(dataset="circles", layers=[2, 3, 3, 1], activation="sigmoid",
                             output_activation="sigmoid", loss="mse", init="scaled_normal", lr=3.0, batch_size=10,
                             epochs=40),
}



def _layers(text):
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--layers takes comma-separated integers like 2,8,8,1; got {_checks._show(text)}"
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--layers needs at least two positive widths; got {_checks._show(text)}")
    try:
        _checks.parameter_memory("--layers", sizes)  # 2,100000000000,1: refused now, not a MemoryError later
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return sizes


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
            return _checks.integer("value", value, 1, 10**9) if kind is int else _checks.positive("value", value)
        except (ValueError, OverflowError):
            what = "int, at most 10^9" if kind is int else "float (finite)"
            raise argparse.ArgumentTypeError(f"expected a positive {what}; got {_checks._show(text)}") from None

    return parse


def _nonnegative(text):
    try:
        return _checks.nonnegative("value", float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0; got {_checks._show(text)}") from None


def _seed(text):
    try:
        return _checks.seed("--seed", int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed takes a non-negative integer; got {_checks._show(text)}") from None


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
                   help="built-in data set; the last 250 samples (toy1d: every 4th point, digits: a fixed 25 %%, "
                   "mnist and mnist_nielsen: MNIST's 10000 test images) are held out as the test set; the MNIST "
                   f"files are read from ${_fetch.ENV_VAR} (else ~/.cache/portable_bp), downloaded when missing "
                   "(default: circles, or the checkpoint's with --resume)")
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
    # gradient clipping and warmup (portable_bp.optim.chain / schedules.warmup_cosine)
    t.add_argument("--clip-norm", type=_positive(float), default=None, metavar="C",
                   help="clip each step's gradient to global norm C over all parameters (torch's clip_grad_norm_), "
                   "chained before the optimizer: optim.chain(optim.clip_by_global_norm(C), ...) (default: off)")
    t.add_argument("--warmup", type=_positive(int), default=None, metavar="N",
                   help="raise the lr linearly from 0 over the first N optimizer steps (mini-batches), then run "
                   "--schedule from its start; with --schedule cosine it is optax's warmup_cosine_decay_schedule "
                   "over the whole run, warmup included (default: off)")
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
    # -- several processes, one data-parallel run (cli/_launch.py, docs/scale.md) --------------------------
    m = t.add_argument_group(
        "several processes (JAX, data-parallel over every device of every process; docs/scale.md)",
        "--processes N runs N processes here, the coordinator on 127.0.0.1. On a cluster start one process per "
        "host (or per device group) with --coordinator, --num-processes and --process-id; those left out are read "
        "by jax.distributed.initialize() itself from the scheduler's environment (SLURM, Open MPI, Kubernetes, "
        "Cloud TPU; JAX_COORDINATOR_ADDRESS), --distributed alone reads them all. Every process runs the same "
        "command on the same data; process 0 writes metrics.json, weights.npz and the figures.")
    m.add_argument("--processes", type=_positive(int), default=None, metavar="N",
                   help="run N local processes of one run (coordinator on 127.0.0.1; --backend jax) (default: one "
                   "process, no jax.distributed)")
    m.add_argument("--coordinator", type=_launch.address, default=None, metavar="HOST:PORT",
                   help="this process joins the run whose process 0 listens on HOST:PORT (default: from the "
                   "environment when --num-processes/--process-id/--distributed is given)")
    m.add_argument("--num-processes", type=_positive(int), default=None, metavar="N",
                   help="processes in the run (default: from the environment, in a distributed run)")
    m.add_argument("--process-id", type=_launch.process_id, default=None, metavar="I",
                   help="this process's index, 0 to N-1 (default: from the environment, in a distributed run)")
    m.add_argument("--distributed", action="store_true",
                   help="join a distributed run described by the environment (jax.distributed.initialize())")
    m.add_argument("--heartbeat-timeout", type=_positive(int), default=_launch.HEARTBEAT_SECONDS, metavar="S",
                   help="seconds without a heartbeat after which a process counts as dead and the others stop "
                   "with an error")
    if recipe is not None:
        t.set_defaults(**RECIPES[recipe])

    c = sub.add_parser("check", help="run one small network on every backend and compare with numpy",
                       description="Run one small network (outputs and BP1-BP4 gradients) on every backend, in "
                       "float64 and float32, and compare with numpy; exit code 1 on disagreement.",
                       formatter_class=_HelpFormatter)
    c.add_argument("--backends", default=None, type=_backend_list,
                   help="comma-separated backend names; unavailable ones are listed as skipped, with the reason "
                   f"(default: all of {', '.join(_backend.BACKENDS)})")

    # The harness is not in the installed package but in the checkout's benchmarks/ (see _bench.py): every
    # argument after "bench" goes to it unparsed. No argument can start with NUL, so none is an option here.
    b = sub.add_parser("bench", help="benchmark kernels, backends and peers (from a checkout; benchmarks/README.md)",
                       add_help=False, prefix_chars="\0")
    b.add_argument("bench_args", nargs=argparse.REMAINDER)
    return parser
