"""The ``portable-bp`` command: ``train`` a network, ``check`` that every backend agrees, ``bench``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from . import _backend, datasets
from .gradcheck import gradcheck
from .mlp import MLP

DEFAULT_LAYERS = {"circles": "2,8,8,1", "moons": "2,8,8,1", "toy1d": "1,3,3,1", "digits": "64,30,10"}
DEFAULT_ACTIVATION = {"toy1d": "tanh"}


def load_dataset(name, seed):
    """(X_train, Y_train, X_test, Y_test) for a data set name; test may equal train for toy1d."""
    if name == "digits":
        X_tr, X_te, y_tr, y_te = datasets.digits(seed=seed)
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


def build_parser():
    parser = argparse.ArgumentParser(prog="portable-bp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an MLP on a built-in data set and save the results")
    t.add_argument("--backend", default=None, help="numpy, array_api_strict, jax, torch, cupy "
                   f"(default: ${_backend.ENV_VAR} or numpy)")
    t.add_argument("--dataset", default="circles", choices=sorted(datasets.DATASETS))
    t.add_argument("--layers", type=_layers, default=None,
                   help="layer widths, e.g. 2,8,8,1 (default depends on the data set)")
    t.add_argument("--activation", default=None, help="hidden activation: sigmoid, tanh, relu, identity")
    t.add_argument("--output-activation", default=None, help="output activation (default: sigmoid, "
                   "softmax for several classes with cross-entropy)")
    t.add_argument("--loss", default="cross_entropy", help="mse, l1 or cross_entropy")
    t.add_argument("--epochs", type=_positive(int), default=60)
    t.add_argument("--batch-size", type=_positive(int), default=10)
    t.add_argument("--lr", type=_positive(float), default=0.5)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dtype", default="float64", choices=_backend.DTYPES)
    t.add_argument("--kernel", default="matmul", choices=["matmul", "einsum", "stacked", "loop"])
    t.add_argument("--out", default="runs/latest", help="directory for metrics.json and weights.npz")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    c = sub.add_parser("check", help="run one small network on every backend and compare with numpy")
    c.add_argument("--backends", default=None, help="comma-separated (default: all available)")

    from . import bench  # the harness lives in portable_bp.bench; see benchmarks/README.md

    bench.add_arguments(sub.add_parser("bench", help="benchmark kernels, backends and peers (benchmarks/README.md)"))
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return train(args)
        if args.command == "bench":
            from .bench import run_bench

            run_bench(args)
            return 0
        return check(args)
    except (ValueError, TypeError, OSError, ImportError, FloatingPointError) as exc:
        print(f"portable-bp {args.command}: error: {exc}", file=sys.stderr)
        return 1


def train(args):
    X_tr, Y_tr, X_te, Y_te = load_dataset(args.dataset, args.seed)
    sizes = args.layers or _layers(DEFAULT_LAYERS[args.dataset])
    activation = args.activation or DEFAULT_ACTIVATION.get(args.dataset, "sigmoid")
    loss = args.loss
    if args.dataset == "toy1d" and args.loss == "cross_entropy" and args.activation is None:
        loss = "mse"  # ±1 targets: a tanh network with the quadratic cost, as in the notebook
    output = args.output_activation
    if output is None:
        if loss == "cross_entropy":
            output = "softmax" if sizes[-1] > 1 else "sigmoid"
        else:
            output = activation
    os.makedirs(args.out, exist_ok=True)
    net = MLP(sizes, activation=activation, output_activation=output, loss=loss,
              backend=args.backend, dtype=args.dtype, kernel=args.kernel, seed=args.seed)
    print(f"training {net!r} on {args.dataset} ({len(X_tr)} train / {len(X_te)} test samples)")
    t0 = time.perf_counter()
    history = net.fit(X_tr, Y_tr, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      seed=args.seed, progress=not args.quiet)
    seconds = time.perf_counter() - t0
    metrics = {
        "dataset": args.dataset, "backend": net.backend, "dtype": net.dtype_name, "kernel": net.kernel,
        "sizes": net.sizes, "activation": net.activation, "output_activation": net.output_activation,
        "loss": net.loss, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "seed": args.seed, "train_seconds": seconds,
        "train_cost": net.cost(X_tr, Y_tr), "test_cost": net.cost(X_te, Y_te), "history": history,
    }
    if net.is_classifier or args.dataset == "toy1d":
        metrics["train_accuracy"] = net.accuracy(X_tr, Y_tr)
        metrics["test_accuracy"] = net.accuracy(X_te, Y_te)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    ws, bs = net.params_numpy()
    arrays = {f"W{l + 1}": W for l, W in enumerate(ws)}
    arrays.update({f"b{l + 1}": b for l, b in enumerate(bs) if b is not None})
    np.savez(os.path.join(args.out, "weights.npz"), **arrays)
    print(f"final cost: train {metrics['train_cost']:.5f}, test {metrics['test_cost']:.5f}")
    if "test_accuracy" in metrics:
        print(f"accuracy:   train {metrics['train_accuracy']:.2%}, test {metrics['test_accuracy']:.2%}")
    print(f"wrote {args.out}/metrics.json and {args.out}/weights.npz ({seconds:.2f} s of training)")
    return 0


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
    names = args.backends.split(",") if args.backends else _backend.available_backends()
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
