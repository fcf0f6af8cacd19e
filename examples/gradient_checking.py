"""Gradient checking, as in the seed notebook: backprop against central differences (ε = 1e-7).

For every parameter θ_i the numerical gradient is (C(θ_i + ε) − C(θ_i − ε)) / 2ε; the relative
error ‖num − ana‖ / (‖num‖ + ‖ana‖) against backprop's gradient should be far below 1e-7 in
float64. The script checks several networks, then shows that the check CATCHES a wrong backprop
(σ' replaced by 1 in BP1/BP2), and sweeps ε from 1e-1 to 1e-11: larger ε has truncation error
~ε², smaller ε drowns in rounding ~1e-16/ε, so the error is smallest in between, near ε ≈ 1e-5
(about the cube root of float64's 1e-16; the sweep prints an error of ~5e-11 there on the
notebook's network). The notebook's ε = 1e-7 is not that minimum: it lies on the rounding side,
at ~4e-9, still far below the 1e-7 pass threshold, which is why the checks above keep it. Writes gradcheck.txt
and gradcheck_eps.png to OUT_DIR.

    python examples/gradient_checking.py [OUT_DIR]     # default: out/gradient_checking
"""

import argparse
import os

import numpy as np

import portable_bp as pbp
from portable_bp import activations, datasets, plots

CASES = [  # sizes, hidden, output, loss
    ([2, 3, 3, 1], "sigmoid", "sigmoid", "mse"),  # the notebook's circles network
    ([2, 8, 8, 1], "sigmoid", "sigmoid", "cross_entropy"),
    ([2, 5, 4, 3], "tanh", "softmax", "cross_entropy"),  # seed 002's softmax + cross-entropy
    ([2, 6, 1], "relu", "identity", "mse"),
    ([1, 1, 1, 1], "tanh", "tanh", "mse"),  # the notebook's 1-D toy network
]


def problem(sizes, output, seed=0):
    X, y = datasets.circles(n=20, seed=seed)
    if sizes[0] == 1:
        X = X[:, :1]
    if output == "softmax":
        return X, np.random.default_rng(seed).integers(0, sizes[-1], len(X))
    return X, y.reshape(-1, 1).astype(float)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=os.path.join("out", "gradient_checking"))
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    lines = [f"{'network':16s} {'hidden':8s} {'output':9s} {'loss':14s} {'relative error':>15s}  verdict"]
    ok = True
    for sizes, hidden, output, loss in CASES:
        net = pbp.MLP(sizes, activation=hidden, output_activation=output, loss=loss, seed=1)
        X, Y = problem(sizes, output)
        err = pbp.gradcheck(net, X, Y, eps=1e-7)
        ok &= err < 1e-7
        lines.append(f"{str(sizes):16s} {hidden:8s} {output:9s} {loss:14s} {err:15.2e}  "
                     f"{'ok' if err < 1e-7 else 'WRONG'}")

    # A broken backprop: σ'(z) replaced by 1 (a classic bug). The check must flag it.
    net = pbp.MLP([2, 3, 3, 1], activation="sigmoid", loss="mse", seed=1)
    X, Y = problem([2, 3, 3, 1], "sigmoid")
    right = activations.DERIVATIVES["sigmoid"]
    activations.DERIVATIVES["sigmoid"] = activations.identity_prime
    try:
        broken = pbp.gradcheck(net, X, Y)
    finally:
        activations.DERIVATIVES["sigmoid"] = right
    caught = broken > 1e-3
    label = "mse, σ' := 1"
    lines.append(f"{'[2, 3, 3, 1]':16s} {'sigmoid':8s} {'sigmoid':9s} {label:14s} {broken:15.2e}  "
                 f"{'caught' if caught else 'MISSED'} (deliberately wrong backprop)")

    epsilons = np.logspace(-1, -11, 21)
    errors = [pbp.gradcheck(net, X, Y, eps=float(e)) for e in epsilons]
    best = epsilons[int(np.argmin(errors))]
    lines.append("")
    lines.append(f"ε sweep on [2, 3, 3, 1]: smallest error {min(errors):.1e} at ε = {best:.0e}; "
                 f"at ε = 1e-7 (the notebook's, used above): {pbp.gradcheck(net, X, Y, eps=1e-7):.1e}")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, "gradcheck.txt"), "w") as f:
        f.write(text + "\n")

    if plots.have_matplotlib():
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.5, 4.2), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        ax.loglog(epsilons, errors, "-o", ms=4, label="[2, 3, 3, 1] sigmoid, quadratic cost")
        ax.axvline(1e-7, color="k", ls=":", label="ε = 1e-7 (the notebook's, used for the checks)")
        ax.plot([best], [min(errors)], "*", ms=12, color="tab:green", label=f"smallest error, ε = {best:.0e}")
        ax.axhline(1e-7, color="tab:red", ls="--", label="pass threshold 1e-7")
        ax.set_xlabel("ε in (C(θ+ε) − C(θ−ε)) / 2ε")
        ax.set_ylabel("relative error vs backprop")
        ax.set_title("Gradient check: truncation error (large ε) vs rounding (small ε)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
        path = os.path.join(args.out, "gradcheck_eps.png")
        fig.savefig(path, dpi=100)
        print(f"wrote {path}")
    else:
        print(f"no figure: matplotlib is missing ({plots.INSTALL_HINT})")
    if not (ok and caught):
        raise SystemExit("gradient check failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
