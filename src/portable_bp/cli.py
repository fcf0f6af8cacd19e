"""The ``portable-bp`` command: ``train`` a network, ``check`` that every backend agrees, ``bench``."""

from __future__ import annotations

import argparse
import json
import os
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
    """(X_train, Y_train, X_test, Y_test) for a data set name; test may equal train for toy1d."""
    if name == "digits":  # one fixed split for every training seed, so test accuracies compare
        X_tr, X_te, y_tr, y_te = datasets.digits()
        return X_tr, y_tr, X_te, y_te
    if name == "toy1d":
        X, Y = datasets.toy1d()
        return X, Y, X, Y
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
        raise argparse.ArgumentTypeError(
            f"no checkpoint at {path!r} (give a weights.npz or the --out directory of a run)")
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


def build_parser(recipe=None):
    parser = argparse.ArgumentParser(prog="portable-bp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an MLP on a built-in data set and save the results",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--backend", default=None, type=_backend_name, help="numpy, array_api_strict, jax, torch, cupy "
                   f"(default: ${_backend.ENV_VAR} or numpy)")
    t.add_argument("--dataset", default="circles", choices=sorted(datasets.DATASETS), help="built-in data set")
    t.add_argument("--layers", type=_layers, default=None,
                   help="layer widths, e.g. 2,8,8,1 (default depends on the data set)")
    t.add_argument("--activation", default=None, help="hidden activation: sigmoid, tanh, relu, identity")
    t.add_argument("--output-activation", default=None, help="output activation (default: sigmoid, "
                   "softmax for several classes with cross-entropy)")
    t.add_argument("--loss", default=None, help="mse, l1 or cross_entropy (default)")
    t.add_argument("--epochs", type=_positive(int), default=60, help="passes over the training data")
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
    t.add_argument("--kernel", default=None, choices=["matmul", "einsum", "stacked", "loop"])
    t.add_argument("--out", default="runs/latest", help="directory for metrics.json and weights.npz (a "
                   "checkpoint: portable_bp.load(path))")
    t.add_argument("--resume", default=None, type=_checkpoint_path, metavar="PATH",
                   help="continue training the network saved in PATH (a weights.npz, or a run's --out directory); "
                   "the architecture comes from it")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--init", default="scaled_normal", choices=INITS,
                   help="initial weights: scaled_normal N(0, 1/n_in), network.py's normal N(0, 1), glorot_uniform "
                   "(tanh/sigmoid), he_normal/he_uniform (relu), torch (nn.Linear's); see portable_bp.initializers")
    t.add_argument("--recipe", default=None, choices=sorted(RECIPES),
                   help="preset data set, layers and hyper-parameters (see docs/visual.md); other flags override it")
    t.add_argument("--animate", action="store_true",
                   help="also write hidden.gif: the last hidden layer's activations, one frame per epoch")
    t.add_argument("--frame-every", type=_positive(int), default=1, help="epochs between animation frames")
    if recipe is not None:
        t.set_defaults(**RECIPES[recipe])

    c = sub.add_parser("check", help="run one small network on every backend and compare with numpy")
    c.add_argument("--backends", default=None, type=_backend_list, help="comma-separated (default: all available)")

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
            return train(args)
        if args.command == "bench":
            return _bench(args.bench_args)
        return check(args)
    except (ValueError, TypeError, OSError, ImportError, FloatingPointError) as exc:
        print(f"portable-bp {args.command}: error: {exc}", file=sys.stderr)
        return 1


def train(args):
    weights_file = _prepare_out(args.out)
    resumed = checkpoint.read_metadata(args.resume)["user"] if args.resume else {}
    seed = args.seed if args.seed is not None else resumed.get("seed", 0)
    X_tr, Y_tr, X_te, Y_te = load_dataset(args.dataset, seed)
    if args.resume:
        net = load(args.resume, backend=args.backend, dtype=args.dtype, kernel=args.kernel)
    else:
        sizes = args.layers or _layers(DEFAULT_LAYERS[args.dataset])
        activation = args.activation or DEFAULT_ACTIVATION.get(args.dataset, "sigmoid")
        loss = args.loss or "cross_entropy"
        if args.dataset == "toy1d" and args.loss is None and args.activation is None:
            loss = "mse"  # ±1 targets: a tanh network with the quadratic cost, as in the notebook
        output = args.output_activation
        if output is None:
            if loss == "cross_entropy":
                output = "softmax" if sizes[-1] > 1 else "sigmoid"
            else:
                output = activation
        net = MLP(sizes, activation=activation, output_activation=output, loss=loss, backend=args.backend,
                  dtype=args.dtype or "float64", kernel=args.kernel or "matmul", seed=seed, init=args.init)
    rng = np.random.default_rng(seed)
    if "rng_state" in resumed:  # continue the shuffling sequence: resumed == uninterrupted training
        rng.bit_generator.state = resumed["rng_state"]
    print(f"training {net!r} on {args.dataset} ({len(X_tr)} train / {len(X_te)} test samples)"
          + (f", resuming {args.resume} after {resumed.get('epochs_done', '?')} epochs" if args.resume else ""))
    # test cost, gradient norms and animation frames after every epoch, for the figures
    monitor = plots.TrainingMonitor(net, X_tr, Y_tr, X_te, Y_te, frames=args.animate,
                                    frame_every=args.frame_every, total_epochs=args.epochs)
    last_epoch = {}  # the state after the last completed epoch: what Ctrl-C saves

    def after_epoch(epoch, net, history):
        last_epoch.update(params=(net.weights, net.biases), state=net.optimizer_state,  # never written in place
                          rng_state=rng.bit_generator.state, history={k: list(v) for k, v in history.items()})
        monitor(epoch, net, history)

    opt = _optimizer(args, net, len(X_tr))
    t0 = time.perf_counter()
    try:
        history = net.fit(X_tr, Y_tr, epochs=args.epochs, batch_size=args.batch_size, optimizer=opt, l2=args.l2,
                          seed=rng, progress=not args.quiet, callback=after_epoch)
    except KeyboardInterrupt:
        return _save_interrupted(args, net, weights_file, resumed, seed, last_epoch)
    seconds = time.perf_counter() - t0
    history = {k: resumed.get("history", {}).get(k, []) + v for k, v in history.items()}
    metrics = {
        "dataset": args.dataset, "backend": net.backend, "dtype": net.dtype_name, "kernel": net.kernel,
        "sizes": net.sizes, "activation": net.activation, "output_activation": net.output_activation,
        "loss": net.loss, "epochs": args.epochs, "batch_size": args.batch_size, "optimizer": net.optimizer.config(),
        "lr": net.optimizer.config()["lr"], "l2": args.l2,
        "seed": seed, "init": args.init, "recipe": args.recipe, "train_seconds": seconds,
        "epochs_done": len(history["cost"]), "resumed_from": args.resume,
        "train_cost": net.cost(X_tr, Y_tr), "test_cost": net.cost(X_te, Y_te), "history": history,
        "monitor": monitor.as_dict(),
    }
    if net.is_classifier or args.dataset == "toy1d":
        metrics["train_accuracy"] = net.accuracy(X_tr, Y_tr)
        metrics["test_accuracy"] = net.accuracy(X_te, Y_te)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    net.save(weights_file, metadata={"dataset": args.dataset, "seed": seed, "epochs_done": len(history["cost"]),
                                     "rng_state": rng.bit_generator.state, "history": history})
    print(f"final cost: train {metrics['train_cost']:.5f}, test {metrics['test_cost']:.5f}")
    if "test_accuracy" in metrics:
        print(f"accuracy:   train {metrics['train_accuracy']:.2%}, test {metrics['test_accuracy']:.2%}")
    print(f"wrote {args.out}/metrics.json and {args.out}/weights.npz ({seconds:.2f} s of training, "
          "with the per-epoch monitoring)")
    _write_figures(args, net, monitor, X_tr, Y_tr, X_te, Y_te)
    return 0


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


def _save_interrupted(args, net, weights_file, resumed, seed, last_epoch):
    """Ctrl-C during training: save the network as it was after its last completed epoch, with the
    shuffling state, so that ``--resume`` continues exactly as if never interrupted. Exit code 130."""
    if not last_epoch:
        print("\ninterrupted before the first epoch ended: nothing saved"
              + (f" ({weights_file} is as it was)" if os.path.exists(weights_file) else ""), file=sys.stderr)
        return 130
    net.weights, net.biases = last_epoch["params"]
    net.optimizer_state = last_epoch["state"]
    history = {k: resumed.get("history", {}).get(k, []) + v for k, v in last_epoch["history"].items()}
    done, total = len(last_epoch["history"]["cost"]), args.epochs
    net.save(weights_file, metadata={"dataset": args.dataset, "seed": seed, "epochs_done": len(history["cost"]),
                                     "rng_state": last_epoch["rng_state"], "history": history, "interrupted": True})
    print(f"\ninterrupted: saved the network after epoch {done} of {total} to {weights_file}. To finish the run:\n"
          f"  portable-bp train --resume {args.out} --out {args.out} --dataset {args.dataset} "
          f"--epochs {total - done} --batch-size {args.batch_size}{f' --l2 {args.l2!r}' if args.l2 else ''} "
          f"--backend {net.backend}",
          file=sys.stderr)
    return 130


def _write_figures(args, net, monitor, X_tr, Y_tr, X_te, Y_te):
    """The figures beside metrics.json; without matplotlib, say how to get them and carry on."""
    if not plots.have_matplotlib():
        print(f"figures skipped: matplotlib is not installed. For cost.png, grad_norms.png, "
              f"decision_regions.png{' and hidden.gif' if args.animate else ''}: {plots.INSTALL_HINT}")
        return []
    written = plots.write_run_figures(args.out, net, monitor, X_tr, Y_tr, X_te, Y_te, animate=args.animate,
                                      dataset=args.dataset)
    print("wrote " + ", ".join(written))
    return written


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
    names = args.backends or _backend.available_backends()
    rows, ok = [], True
    for dtype in _backend.DTYPES:
        _, _, _, reference = check_network("numpy", dtype)
        for name in names:
            net, X, y, arrays = check_network(name, dtype)
            dev = _max_rel_dev(arrays, reference)
            grad_err = gradcheck(net, X, y) if dtype == "float64" else None
            good = dev <= TOLERANCE[dtype] and (grad_err is None or grad_err < 1e-7)
            ok &= good
            device = _backend.device_of(net.weights[0])
            rows.append((name, device, dtype, f"{dev:.2e}", "-" if grad_err is None else f"{grad_err:.2e}",
                         "ok" if good else "DISAGREES"))
    header = ("backend", "device", "dtype", "max rel. dev. vs numpy", "gradcheck", "verdict")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))
    print(f"tolerances: float64 {TOLERANCE['float64']:g}, float32 {TOLERANCE['float32']:g}; gradcheck < 1e-7")
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
