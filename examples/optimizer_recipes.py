"""Optimizer recipes, measured: sgd, momentum, nesterov, adam, adam + L2 and adamw on two data sets.

Data the library ships, with fixed test sets:

* digits — scikit-learn's bundled 8x8 images, ``datasets.digits()``'s fixed split (1348 train /
  449 test); network [64, 64, 10], relu + He-normal init, softmax + cross-entropy, batch 32, 30 epochs.
* circles — ``datasets.circles(n=1000, seed=0)``, the last 250 samples held out as the test set;
  network [2, 8, 8, 1], sigmoid + network2.py's scaled-normal init, cross-entropy, batch 10, 30 epochs.

Every recipe is trained once per seed (the seed draws the initial network and the shuffling; the
data and the split never change). Per recipe the table gives the median and the min–max over the
seeds of: the test accuracy after the last epoch, the best test accuracy of any epoch, the first
epoch whose test accuracy reaches the target (95 % digits, 98 % circles; "k/n" when only k of
the n seeds got there), and the seconds ``fit`` took, wall clock and CPU time of this process
(both include the per-epoch evaluation of the test set, passed as ``validation_data`` so that the
history records test accuracy; on JAX also the compilation). The 1-minute load average before and
after goes into the header: other processes slow the wall-clock seconds, never the accuracies,
which are the same on every rerun.

    python examples/optimizer_recipes.py                       # full run, numpy (~1 minute on 2 cores)
    python examples/optimizer_recipes.py --quick               # smoke run: 2 seeds, 4 epochs (seconds)
    python examples/optimizer_recipes.py --backend jax --out out/recipes_jax.md
    python examples/optimizer_recipes.py OUT_DIR --quick       # as the other examples: OUT_DIR/optimizer_recipes.md

    python examples/optimizer_recipes.py --out examples/results/optimizer_recipes.md   # update the committed table

Writes the Markdown table to ``--out`` (default runs/optimizer_recipes/optimizer_recipes.md, never the
committed examples/results/ unless ``--out`` names it) and the raw per-run numbers beside it (same name,
.json), and prints the table.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

import portable_bp as pbp
from portable_bp import datasets, optim
from portable_bp.optim import schedules

# a run writes under runs/ (ignored by git); the committed table in examples/results/ is replaced only when asked:
# --out examples/results/optimizer_recipes.md
DEFAULT_OUT = os.path.join("runs", "optimizer_recipes", "optimizer_recipes.md")

# Per data set: the network, the budget, the target accuracy and the recipes (label, optimizer, l2).
SETUPS = {
    "digits": dict(
        net=dict(sizes=[64, 64, 10], activation="relu", output_activation="softmax", loss="cross_entropy",
                 init="he_normal"),
        epochs=30, batch_size=32, target=0.95,
        recipes=[
            ("sgd", optim.sgd(0.1), 0.0),
            ("momentum", optim.momentum(0.05, beta=0.9), 0.0),
            ("nesterov", optim.momentum(0.05, beta=0.9, nesterov=True), 0.0),
            ("adam", optim.adam(1e-3), 0.0),
            ("adam + L2", optim.adam(1e-3), 1.0),
            ("adamw", optim.adamw(1e-3, weight_decay=1e-2), 0.0),
            # gradient clipping (torch's clip_grad_norm_) and warmup; 43 steps an epoch, 1290 in 30 epochs
            ("sgd, clipped", optim.chain(optim.clip_by_global_norm(1.0), optim.sgd(0.1)), 0.0),
            ("adam, clipped", optim.chain(optim.clip_by_global_norm(1.0), optim.adam(1e-3)), 0.0),
            ("momentum, warmup", optim.momentum(schedules.warmup_cosine(0.05, 86, 87, end=0.05)), 0.0),
            ("adam, warmup + cosine", optim.adam(schedules.warmup_cosine(3e-3, 86, 1290)), 0.0),
        ],
    ),
    "circles": dict(
        net=dict(sizes=[2, 8, 8, 1], activation="sigmoid", output_activation="sigmoid", loss="cross_entropy",
                 init="scaled_normal"),
        epochs=30, batch_size=10, target=0.98,
        recipes=[
            ("sgd", optim.sgd(0.5), 0.0),
            ("momentum", optim.momentum(0.1, beta=0.9), 0.0),
            ("nesterov", optim.momentum(0.1, beta=0.9, nesterov=True), 0.0),
            ("adam", optim.adam(1e-2), 0.0),
            ("adam, torch's default lr", optim.adam(1e-3), 0.0),
            ("adam + L2", optim.adam(1e-2), 1.0),
            ("adam + weaker L2", optim.adam(1e-2), 0.1),
            ("adamw", optim.adamw(1e-2, weight_decay=1e-2), 0.0),
        ],
    ),
}


def load(name):
    """(X_train, y_train, X_test, y_test): digits' fixed split, or circles with the last 250 held out."""
    if name == "digits":
        X_tr, X_te, y_tr, y_te = datasets.digits()
        return X_tr, y_tr, X_te, y_te
    X, y = datasets.circles(n=1000, seed=0)
    return X[:750], y[:750], X[750:], y[750:]


def describe(opt, l2):
    """The settings of a recipe in a few words: the chain's links, optimizer name and its
    hyper-parameters, lr (or its schedule), λ."""
    cfg, links = opt.config(), ""
    while cfg["name"] == "chain":
        links += "".join(f"{t['name']} {t.get('max_norm', t.get('max_value')):g}, " for t in cfg["links"])
        cfg = cfg["optimizer"]
    name = "nesterov" if cfg.get("nesterov") else cfg["name"]
    extra = {"momentum": ["beta"], "adamw": ["weight_decay"]}.get(cfg["name"], [])
    lr = cfg["lr"]
    if isinstance(lr, dict) and lr["schedule"] == "warmup_cosine" and lr["end"] == lr["peak"]:
        lr = f"{lr['peak']:g} after {lr['warmup_steps']} warmup steps"
    elif isinstance(lr, dict) and lr["schedule"] == "warmup_cosine":
        lr = f"warmup_cosine to {lr['peak']:g} in {lr['warmup_steps']} steps, to {lr['end']:g} at {lr['decay_steps']}"
    else:
        lr = f"{lr:g}"
    text = f"{links}{name}, lr {lr}" + "".join(f", {k} {cfg[k]:g}" for k in extra)
    return text + (f", l2 λ {l2:g}" if l2 else "")


def run_one(data, setup, opt, l2, seed, backend, epochs):
    X_tr, y_tr, X_te, y_te = data
    net = pbp.MLP(**setup["net"], backend=backend, seed=seed)
    t0, c0 = time.perf_counter(), time.process_time()
    history = net.fit(X_tr, y_tr, epochs=epochs, batch_size=setup["batch_size"], optimizer=opt, l2=l2, seed=seed,
                      progress=False, validation_data=(X_te, y_te))
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    acc = history["val_accuracy"]
    first = next((epoch for epoch, a in enumerate(acc, start=1) if a >= setup["target"]), None)
    return {"seed": seed, "final_test_accuracy": acc[-1], "best_test_accuracy": max(acc),
            "first_epoch_at_target": first, "fit_seconds": seconds, "fit_cpu_seconds": cpu_seconds,
            "test_accuracy": acc,
            "train_cost": history["cost"]}


def spread(values, fmt):
    """'median [min–max]' of the values, formatted with ``fmt``."""
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} [{fmt(min(values))}–{fmt(max(values))}]"


def pct(x):
    return f"{100 * x:.1f}"


def summarise(name, setup, label, settings, runs):
    n = len(runs)
    reached = [r["first_epoch_at_target"] for r in runs if r["first_epoch_at_target"] is not None]
    if not reached:
        first = "never"
    else:
        first = spread(reached, lambda e: f"{e:g}")
        if len(reached) < n:
            first += f" ({len(reached)}/{n})"
    return (f"| {name} | {label} | {settings} | {spread([r['final_test_accuracy'] for r in runs], pct)} | "
            f"{spread([r['best_test_accuracy'] for r in runs], pct)} | {first} | "
            f"{spread([r['fit_seconds'] for r in runs], lambda s: f'{s:.2f}')} | "
            f"{spread([r['fit_cpu_seconds'] for r in runs], lambda s: f'{s:.2f}')} |")


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def load_average():
    """The 1-minute load average as text ('n/a' where the OS has none)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "n/a"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=None,
                        help="folder to write optimizer_recipes.md/.json to (instead of --out)")
    parser.add_argument("--backend", default="numpy", help="numpy (default), array_api_strict, jax, torch, cupy")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per recipe: 0 .. N-1 (default 5)")
    parser.add_argument("--epochs", type=int, default=None, help="override every data set's epoch budget")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, 4 epochs")
    parser.add_argument("--out", default=DEFAULT_OUT, help="Markdown file to write (JSON beside it)")
    parser.add_argument("--only", action="append", default=None, metavar="LABEL",
                        help="run only the recipe with this label (repeatable; default: all)")
    args = parser.parse_args(argv)
    if args.out_dir is not None:
        if args.out != DEFAULT_OUT:
            parser.error("give OUT_DIR or --out, not both")
        args.out = os.path.join(args.out_dir, "optimizer_recipes.md")
    if args.quick:
        args.seeds, args.epochs = 2, args.epochs or 4
    if args.seeds < 1 or (args.epochs is not None and args.epochs < 1):
        parser.error("--seeds and --epochs must be at least 1")

    seeds = list(range(args.seeds))
    rows, records = [], []
    load_before = load_average()
    t_start = time.perf_counter()
    for name, setup in SETUPS.items():
        data = load(name)
        epochs = args.epochs or setup["epochs"]
        for label, opt, l2 in setup["recipes"]:
            if args.only is not None and label not in args.only:
                continue
            runs = [run_one(data, setup, opt, l2, seed, args.backend, epochs) for seed in seeds]
            settings = describe(opt, l2)
            rows.append(summarise(name, setup, label, settings, runs))
            records.append({"dataset": name, "recipe": label, "settings": settings, "optimizer": opt.config(),
                            "l2": l2, "epochs": epochs, "batch_size": setup["batch_size"],
                            "target": setup["target"], "network": setup["net"], "runs": runs})
            print(f"  {name:8s} {label:26s} done", file=sys.stderr, flush=True)
    total = time.perf_counter() - t_start
    load_after = load_average()

    command = "python examples/optimizer_recipes.py " + " ".join(argv if argv is not None else sys.argv[1:])
    net_lines = []
    for name, setup in SETUPS.items():
        n = setup["net"]
        net_lines.append(
            f"- **{name}**: {n['sizes']}, {n['activation']} hidden, {n['output_activation']} output, "
            f"{n['loss']}, init {n['init']}; batch {setup['batch_size']}, {args.epochs or setup['epochs']} "
            f"epochs; target {100 * setup['target']:g} % test accuracy")
    header = [
        f"Measured {datetime.date.today().isoformat()} on {machine()}; backend {args.backend}, float64; "
        f"numpy {np.__version__}, Python {platform.python_version()}; seeds {seeds[0]}–{seeds[-1]} "
        f"({len(seeds)} per recipe); whole run {total:.0f} s. Load average (1 min) {load_before} before, "
        f"{load_after} after: other processes on the machine slow the seconds, never the accuracies.",
        f"Command: `{command.strip()}`",
        "",
        *net_lines,
        "",
        "Cells: median [min–max] over the seeds. Accuracies in % on the held-out test set. "
        "\"Epoch at target\": first epoch whose test accuracy reaches the target (k/n: only k seeds reached it). "
        "Fit seconds (wall clock) and CPU seconds (this process, all threads) include the per-epoch test-set "
        "evaluation.",
        "",
        "| data | recipe | settings | final test acc. % | best test acc. % | epoch at target | fit s | CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    table = "\n".join(header + rows) + "\n"
    print(table)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    with open(args.out, "w") as f:
        f.write(table)
    json_path = os.path.splitext(args.out)[0] + ".json"
    with open(json_path, "w") as f:
        json.dump({"date": datetime.date.today().isoformat(), "machine": machine(), "backend": args.backend,
                   "numpy": np.__version__, "python": platform.python_version(), "command": command.strip(),
                   "seeds": seeds, "total_seconds": total, "load_average_1min": [load_before, load_after],
                   "recipes": records}, f, indent=1)
    print(f"wrote {args.out} and {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
