"""An independent oracle: forward pass and BP1–BP4 for ONE sample at a time, written with
scalar Python for-loops straight from the formulas in the seed notebooks (no matrix products,
no NumPy broadcasting, nothing shared with portable_bp)."""

import math


def act(name, z):
    if name == "sigmoid":
        return 1.0 / (1.0 + math.exp(-z))
    if name == "tanh":
        return math.tanh(z)
    if name == "relu":
        return z if z > 0 else 0.0
    if name == "identity":
        return z
    raise KeyError(name)


def act_prime(name, z):
    if name == "sigmoid":
        s = 1.0 / (1.0 + math.exp(-z))
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - math.tanh(z) ** 2
    if name == "relu":
        return 1.0 if z > 0 else 0.0
    if name == "identity":
        return 1.0
    raise KeyError(name)


def softmax(zs):
    m = max(zs)
    e = [math.exp(z - m) for z in zs]
    s = sum(e)
    return [v / s for v in e]


def sample_forward(W, b, x, hidden, output):
    """z^l_j = Σ_k w^l_jk a^{l-1}_k + b^l_j ; a^l = σ(z^l). W[l][j][k], b[l][j] (or None)."""
    a = [list(x)]
    zs = []
    L = len(W)
    for l in range(L):
        z = []
        for j in range(len(W[l])):
            s = 0.0
            for k in range(len(W[l][j])):
                s += W[l][j][k] * a[-1][k]
            if b[l] is not None:
                s += b[l][j]
            z.append(s)
        zs.append(z)
        name = output if l == L - 1 else hidden
        a.append(softmax(z) if name == "softmax" else [act(name, v) for v in z])
    return zs, a


def sample_cost(a_L, z_L, y, loss, output):
    if loss == "mse":
        return 0.5 * sum((aj - yj) ** 2 for aj, yj in zip(a_L, y))
    if loss == "l1":
        return sum(abs(aj - yj) for aj, yj in zip(a_L, y))
    if output == "softmax":
        return -sum(yj * math.log(aj) for aj, yj in zip(a_L, y))
    return -sum(yj * math.log(aj) + (1 - yj) * math.log(1 - aj) for aj, yj in zip(a_L, y))


def sample_backprop(W, b, x, y, hidden, output, loss):
    """dC_x/dW^l_jk and dC_x/db^l_j for one sample, index by index."""
    zs, a = sample_forward(W, b, x, hidden, output)
    L = len(W)
    n = len(zs[-1])
    # ∂C/∂a^L_j
    if loss == "mse":
        g = [a[-1][j] - y[j] for j in range(n)]
    elif loss == "l1":
        g = [math.copysign(1.0, a[-1][j] - y[j]) if a[-1][j] != y[j] else 0.0 for j in range(n)]
    elif output == "softmax":
        g = [-y[j] / a[-1][j] for j in range(n)]
    else:
        g = [-y[j] / a[-1][j] + (1 - y[j]) / (1 - a[-1][j]) for j in range(n)]
    # BP1 with the full chain rule: δ_j = Σ_i ∂C/∂a_i · ∂a_i/∂z_j
    if output == "softmax":
        s = a[-1]
        delta = [sum(g[i] * s[i] * ((1.0 if i == j else 0.0) - s[j]) for i in range(n)) for j in range(n)]
    else:
        delta = [g[j] * act_prime(output, zs[-1][j]) for j in range(n)]
    dW = [None] * L
    db = [None] * L
    for l in range(L - 1, -1, -1):
        if l < L - 1:  # BP2: δ^l_k = Σ_j w^{l+1}_jk δ^{l+1}_j σ'(z^l_k)
            delta = [
                sum(W[l + 1][j][k] * delta[j] for j in range(len(delta))) * act_prime(hidden, zs[l][k])
                for k in range(len(zs[l]))
            ]
        db[l] = list(delta)  # BP3
        dW[l] = [[delta[j] * a[l][k] for k in range(len(a[l]))] for j in range(len(delta))]  # BP4
    return dW, db, sample_cost(a[-1], zs[-1], y, loss, output)


def batch_backprop(W, b, X, Y, hidden, output, loss):
    """Σ over samples of the per-sample gradients, and the mean cost."""
    tot_W = tot_b = None
    costs = []
    for x, y in zip(X, Y):
        dW, db, c = sample_backprop(W, b, x, y, hidden, output, loss)
        costs.append(c)
        if tot_W is None:
            tot_W, tot_b = dW, db
        else:
            tot_W = [[[p + q for p, q in zip(r1, r2)] for r1, r2 in zip(m1, m2)] for m1, m2 in zip(tot_W, dW)]
            tot_b = [None if v1 is None else [p + q for p, q in zip(v1, v2)] for v1, v2 in zip(tot_b, db)]
    return tot_W, tot_b, sum(costs) / len(costs)
