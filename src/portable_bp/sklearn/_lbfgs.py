"""``solver="lbfgs"``: ``scipy.optimize.minimize(method="L-BFGS-B")`` on the flattened parameters,
with scikit-learn's loss and gradient (BP1–BP4, mean over the samples, plus the alpha term)."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from .. import _backend
from ..backprop import bp1, bp2, bp3, bp4, cost_per_sample, forward


def _loss_and_grads(spec, weights, biases, X, Y, w):
    """Σ_x w_x C_x and its gradients (BP1–BP4 with δ^L weighted per sample; w None: all ones),
    from one forward pass: the L-BFGS objective's data term."""
    xp = spec.xp
    zs, activations = forward(spec, weights, biases, X)
    costs = cost_per_sample(spec, zs, activations, Y)
    delta = bp1(spec, zs[-1], activations[-1], Y)
    if w is not None:
        costs, delta = costs * w, delta * xp.reshape(w, (-1, 1))
    L = len(weights)
    grads_w, grads_b = [None] * L, [None] * L
    for l in range(L - 1, -1, -1):
        if l < L - 1:
            delta = bp2(spec, weights[l + 1], delta, zs[l], activations[l + 1])
        grads_w[l] = bp4(spec, delta, activations[l])
        grads_b[l] = bp3(spec, delta)
    return xp.sum(costs), grads_w, grads_b


def _fit_lbfgs(est, X, Y, sw):
    """scipy's L-BFGS-B on the flattened parameters (coefs then intercepts, scikit-learn's packing),
    with scikit-learn's objective: mean loss + ½·alpha·Σ‖W‖² / n (weights: weighted mean, / Σw).
    Called by ``_BaseMLP._fit``, itself called by fit: the warning's stacklevel=4 names the user's line."""
    net, alpha = est.net_, float(est.alpha)
    xp = net.xp
    Xb, Yb = net.to_backend(X, Y)
    w = None if sw is None else xp.asarray(sw, dtype=net.dtype, device=net.device)
    total = float(X.shape[0]) if sw is None else float(np.sum(sw))
    k = est._cost_divisor()
    shapes = [(W.shape[1], W.shape[0]) for W in net.weights]  # scikit-learn's (n_in, n_out)
    coef_end = np.cumsum([0] + [a * b for a, b in shapes])
    n_coef = coef_end[-1]
    bias_end = n_coef + np.cumsum([0] + [b for _, b in shapes])
    fn = functools.partial(_loss_and_grads, net.spec)
    fn = _backend.jit(fn, net.backend) if net.spec.kernel.jittable else fn
    np_dtype = np.dtype(net.dtype_name)

    def unpack(theta):
        coefs = [theta[coef_end[i]:coef_end[i + 1]].reshape(s) for i, s in enumerate(shapes)]
        intercepts = [theta[bias_end[i]:bias_end[i + 1]] for i in range(len(shapes))]
        ws = [xp.asarray(np.ascontiguousarray(c.T, dtype=np_dtype), device=net.device) for c in coefs]
        bs = [xp.asarray(b.astype(np_dtype).reshape(-1, 1), device=net.device) for b in intercepts]
        return coefs, ws, bs

    def objective(theta):
        coefs, ws, bs = unpack(theta)
        data, grads_w, grads_b = fn(ws, bs, Xb, Yb, w)
        squares = sum(float(np.dot(c.ravel(), c.ravel())) for c in coefs)
        loss = float(_backend.to_numpy(data)) / total / k + 0.5 * alpha * squares / total
        grad = np.concatenate(
            [((_backend.to_numpy(g).T + alpha * c) / total).ravel() for g, c in zip(grads_w, coefs)]
            + [(_backend.to_numpy(g) / total).ravel() for g in grads_b])
        return loss, grad.astype(np.float64)

    curve = []

    def record(intermediate_result):
        curve.append(float(intermediate_result.fun))
        if est.verbose:
            print(f"Iteration {len(curve)}, loss = {curve[-1]:.8f}")

    weights, biases = net.params_numpy()
    theta0 = np.concatenate([W.T.ravel() for W in weights] + [b.ravel() for b in biases]).astype(np.float64)
    res = scipy.optimize.minimize(objective, theta0, method="L-BFGS-B", jac=True, callback=record,
                                  options={"maxfun": int(est.max_fun), "maxiter": int(est.max_iter),
                                           "gtol": float(est.tol)})
    est.n_iter_ = min(int(res.nit), int(est.max_iter))
    if res.status != 0:
        warnings.warn(
            f"lbfgs failed to converge after {est.n_iter_} iteration(s) (status={res.status}):\n{res.message}.\n\n"
            f"Increase the number of iterations to improve the convergence (max_iter={est.max_iter}).\nYou might "
            "also want to scale the data as shown in:\n    https://scikit-learn.org/stable/modules/"
            "preprocessing.html", ConvergenceWarning, stacklevel=4)
    if not np.all(np.isfinite(res.x)):
        raise ValueError("Solver produced non-finite parameter weights. The input data may contain large values "
                         "and need to be preprocessed.")
    est.loss_ = float(res.fun)
    est.loss_curve_ = curve
    _, net.weights, net.biases = unpack(res.x)
