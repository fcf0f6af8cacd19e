"""The seed notebook's circles network, trained by portable_bp and by network.py's algorithm.

network.py (Nielsen, ch. 1) trains sample by sample: for every mini-batch it runs backprop on one
(x, y) column pair at a time and adds up nabla_b, nabla_w. A copy of that algorithm is written out
below (``NetworkPy``, only NumPy). Both start from the same weights (network.py's N(0, 1)
draws) and see the same mini-batches in the same order (no shuffling), so
they must end with the same weights up to rounding; the notebook checks exactly this. portable_bp
does each mini-batch as a few matrix products (kernel "matmul"), or sample by sample too ("loop").

Writes comparison.txt and decision_regions.png (the trained network on the data) to OUT_DIR.

    python examples/circles_vs_network_py.py [OUT_DIR]     # default: out/circles_vs_network_py
"""

import argparse
import os
import time

import numpy as np

import portable_bp as pbp
from portable_bp import datasets, plots


# -- network.py's algorithm, per sample, as in the book (Python 3, NumPy only) ----------------------
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class NetworkPy:
    def __init__(self, weights, biases):
        self.num_layers = len(weights) + 1
        self.weights = [w.copy() for w in weights]
        self.biases = [b.copy() for b in biases]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def SGD(self, training_data, epochs, mini_batch_size, eta):
        n = len(training_data)
        for _ in range(epochs):  # network.py shuffles here; the comparison needs the same order
            mini_batches = [training_data[k : k + mini_batch_size] for k in range(0, n, mini_batch_size)]
            for mini_batch in mini_batches:
                self.update_mini_batch(mini_batch, eta)

    def update_mini_batch(self, mini_batch, eta):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])  # BP1
        nabla_b[-1] = delta  # BP3
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())  # BP4
        for l in range(2, self.num_layers):
            z = zs[-l]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sp  # BP2
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return nabla_b, nabla_w

    def cost_derivative(self, output_activations, y):
        return output_activations - y


# ---------------------------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=os.path.join("out", "circles_vs_network_py"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    X_all, y_all = datasets.circles(n=1000, seed=0)
    X, y, X_test, y_test = X_all[:750], y_all[:750], X_all[750:], y_all[750:]  # train on 750, test on 250
    Y = y.reshape(-1, 1).astype(float)
    # the notebook's [2, 3, 3, 1] network with network.py's initial draws: N(0, 1) biases, then weights
    rng = np.random.default_rng(args.seed)
    sizes = [2, 3, 3, 1]
    biases = [rng.standard_normal((n, 1)) for n in sizes[1:]]
    weights = [rng.standard_normal((n, m)) for m, n in zip(sizes[:-1], sizes[1:])]
    epochs, batch_size, eta = args.epochs, 10, 3.0

    ref = NetworkPy(weights, biases)
    t0 = time.perf_counter()
    ref.SGD([(x.reshape(-1, 1), t.reshape(-1, 1)) for x, t in zip(X, Y)], epochs, batch_size, eta)
    t_ref = time.perf_counter() - t0

    lines = [f"circles (750 train / 250 test samples), [2, 3, 3, 1] sigmoid, quadratic cost, eta={eta}, "
             f"batch {batch_size}, {epochs} epochs, no shuffling, same initial weights (seed {args.seed})", ""]
    lines.append(f"{'implementation':32s} {'seconds':>8s} {'max |W - W_network.py|':>24s} {'test accuracy':>14s}")
    lines.append(f"{'network.py (per sample)':32s} {t_ref:8.3f} {0.0:24.1e} "
                 f"{np.mean((np.hstack([ref.feedforward(x.reshape(-1, 1)) for x in X_test]) > 0.5) == y_test):14.1%}")
    worst = 0.0
    for kernel in ("matmul", "loop"):
        net = pbp.MLP.from_params(weights, biases, activation="sigmoid", loss="mse", kernel=kernel)
        t0 = time.perf_counter()
        net.fit(X, Y, epochs=epochs, batch_size=batch_size, lr=eta, shuffle=False, progress=False)
        seconds = time.perf_counter() - t0
        ws, bs = net.params_numpy()
        dev = max(float(np.max(np.abs(a - b))) for a, b in zip(ws + bs, ref.weights + ref.biases))
        worst = max(worst, dev)
        acc = net.accuracy(X_test, y_test)
        lines.append(f"{'portable_bp kernel=' + repr(kernel):32s} {seconds:8.3f} {dev:24.1e} {acc:14.1%}")
    lines += ["", f"same weights as network.py: {worst < 1e-10} (largest difference {worst:.1e})"]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, "comparison.txt"), "w") as f:
        f.write(text + "\n")
    if worst >= 1e-10:
        raise SystemExit("portable_bp and network.py disagree")

    if plots.have_matplotlib():
        path = os.path.join(args.out, "decision_regions.png")
        plots.plot_decision_regions(net, X, y, path, X_test, y_test,
                                    title=f"[2, 3, 3, 1] after {epochs} epochs (same as network.py's)")
        print(f"wrote {path}")
    else:
        print(f"no figure: matplotlib is missing ({plots.INSTALL_HINT})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
