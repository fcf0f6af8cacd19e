"""The seed notebook's closing animation: how the last hidden layer sees the circles while training.

The [2, 3, 3, 1] sigmoid network of the notebook has 3 units in its last hidden layer, so every
sample is a point in the unit cube; one frame per epoch shows the two classes pulled apart until a
plane separates them (which is all the output unit can do). With ``--digits`` the [64, 30, 10]
network.py recipe on the digits is animated instead, its 30 units projected on two principal axes
fixed across frames. Writes hidden.gif, cost.png and grad_norms.png to OUT_DIR.

    python examples/hidden_animation.py [OUT_DIR] [--digits] [--epochs N]   # default: out/hidden_animation
"""

import argparse
import os
import sys

import portable_bp as pbp
from portable_bp import datasets, plots


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=os.path.join("out", "hidden_animation"))
    parser.add_argument("--digits", action="store_true", help="animate network.py's digits network instead")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args(argv)
    if not plots.have_matplotlib():  # this example is about the figure: stop early, with the install line
        print(f"hidden_animation.py draws an animation and needs matplotlib: {plots.INSTALL_HINT}", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)

    if args.digits:
        X_tr, X_te, y_tr, y_te = datasets.digits()
        net = pbp.MLP([64, 30, 10], activation="sigmoid", loss="mse", init="normal", seed=0)
        epochs, lr = args.epochs or 30, 3.0
    else:
        X, y = datasets.circles(n=1000, seed=0)
        X_tr, y_tr, X_te, y_te = X[:750], y[:750], X[750:], y[750:]
        net = pbp.MLP([2, 3, 3, 1], activation="sigmoid", loss="mse", seed=0)
        epochs, lr = args.epochs or 40, 3.0
    monitor = plots.TrainingMonitor(net, X_tr, y_tr, X_te, y_te, frames=True, total_epochs=epochs)
    net.fit(X_tr, y_tr, epochs=epochs, batch_size=10, lr=lr, seed=0, progress=False, callback=monitor)
    print(f"{net}: test accuracy {net.accuracy(X_te, y_te):.1%} after {epochs} epochs")
    # each function returns its Figure and, given a path, writes it there
    for name, draw in (("hidden.gif", plots.animate_hidden), ("cost.png", plots.plot_costs),
                       ("grad_norms.png", plots.plot_grad_norms)):
        draw(monitor, path=os.path.join(args.out, name))
        print(f"wrote {os.path.join(args.out, name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
