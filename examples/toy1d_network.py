"""The seed notebook's first network: the 1-D toy data through a chain of 1-unit layers.

x on [-5, 5], label +1 for x > 0 and -1 otherwise; a [1, 1, 1, 1] network (input, h1, h2, output,
one unit each) with tanh units and the quadratic cost learns the step. Writes toy1d.png (the data
and the network's output before and after training) to the folder given on the command line.

    python examples/toy1d_network.py [OUT_DIR]        # default: out/toy1d_network
"""

import argparse
import os

import portable_bp as pbp
from portable_bp import datasets, plots


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=os.path.join("out", "toy1d_network"))
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    X, Y = datasets.toy1d()  # X (1000, 1), Y (1000, 1) in {-1, +1}
    net = pbp.MLP([1, 1, 1, 1], activation="tanh", loss="mse", seed=2)
    print(net)
    # one weight and one bias per layer: the notebook's w_1, b_1, w_2, b_2, w_3, b_3
    for l, (W, b) in enumerate(zip(*net.params_numpy()), start=1):
        print(f"  w_{l} = {W[0, 0]:+.4f}   b_{l} = {b[0, 0]:+.4f}")
    before = pbp.to_numpy(net.predict(X))
    acc0, cost0 = net.accuracy(X, Y), net.cost(X, Y)
    history = net.fit(X, Y, epochs=args.epochs, batch_size=10, lr=0.1, seed=0, progress=False)
    after = pbp.to_numpy(net.predict(X))
    print(f"mean cost {cost0:.4f} before training, {history['cost'][0]:.4f} after epoch 1, "
          f"{history['cost'][-1]:.4f} after epoch {args.epochs}")
    print(f"accuracy (sign of the output): {acc0:.1%} before training, {net.accuracy(X, Y):.1%} after")

    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print(f"no figure: matplotlib is missing ({plots.INSTALL_HINT})")
        return 0
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    for ax, out, when in ((ax1, before, "before training"), (ax2, after, f"after {args.epochs} epochs")):
        ax.scatter(X[:, 0], Y[:, 0], s=4, color="tab:blue", label="label y")
        ax.plot(X[:, 0], out[:, 0], color="tab:orange", lw=2, label="network output $a^3$")
        ax.set_xlabel("input x")
        ax.set_title(f"[1, 1, 1, 1] tanh network, {when}")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left")
    ax1.set_ylabel("y and $a^3$")
    path = os.path.join(args.out, "toy1d.png")
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
