"""The forward pass and the four equations of backpropagation, for a whole batch.

Notation of Nielsen's book and ../shared/DESIGN.md: W^l is (n_l, n_{l-1}), b^l is (n_l, 1),
z^l = W^l a^{l-1} + b^l, a^l = σ(z^l).  Data is batch-first, so the rows of Z^l, A^l and Δ^l
are the per-sample column vectors z^l, a^l, δ^l laid on their side:

    forward  Z^l = A^{l-1} (W^l)ᵀ + (b^l)ᵀ,          A^l = σ(Z^l)
    BP1      δ^L = ∇_a C ⊙ σ'(z^L)                    (a^L − y for cross-entropy on softmax/sigmoid, Poisson on exp)
    BP2      δ^l = ((W^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)
    BP3      ∂C/∂b^l = δ^l                             summed over the batch
    BP4      ∂C/∂W^l = δ^l (a^{l-1})ᵀ                  summed over the batch

Only the array API standard is used, through ``spec.xp``; nothing here writes into an array.
How the three products are computed (one GEMM, einsum, stacks, per sample) is the kernel's job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .activations import ACTIVATIONS, DERIVATIVES
from .kernels import Kernel
from .losses import CANONICAL_OUTPUTS, LOSS_GRADIENTS, LOSSES

#: up to this many elements in all, all_finite checks its arrays as one concatenated vector
ONE_PASS_ELEMENTS = 1 << 14


@dataclass(frozen=True)
class Spec:
    """What a network computes with: its namespace, activations, cost and kernel."""

    xp: object
    activation: str
    output_activation: str
    loss: str
    kernel: Kernel


def forward(spec, weights, biases, X, keep=None):
    """Return ``zs, activations``: zs[l] = Z^{l+1}, activations[0] = X, activations[l+1] = A^{l+1}.

    ``keep`` (training with dropout): one (N, n_l) array per hidden layer, 0 for a dropped unit and
    1/(1 − p) for a kept one (inverted dropout): A^l = σ(Z^l) ⊙ keep^l.
    """
    xp, linear, L = spec.xp, spec.kernel.linear, len(weights)
    hidden, output = ACTIVATIONS[spec.activation], ACTIVATIONS[spec.output_activation]
    zs, activations = [], [X]
    for l, (W, b) in enumerate(zip(weights, biases)):
        z = linear(W, activations[-1])  # A^{l-1} (W^l)ᵀ
        if b is not None:
            z = z + b.T  # + (b^l)ᵀ, broadcast over the batch
        zs.append(z)
        a = (output if l == L - 1 else hidden)(xp, z)
        activations.append(a if keep is None or l == L - 1 else a * keep[l])
    return zs, activations


def bp1(spec, z_L, a_L, y):
    """BP1: δ^L = ∇_a C ⊙ σ'(z^L)."""
    xp = spec.xp
    if spec.output_activation in CANONICAL_OUTPUTS.get(spec.loss, ()):  # cross-entropy on softmax/sigmoid,
        return a_L - y  # Poisson on exp: the σ' cancels, δ^L = a^L − y
    grad_a = LOSS_GRADIENTS[spec.loss](xp, a_L, y)
    if spec.output_activation == "softmax":  # σ' is a full Jacobian: δ = a ⊙ (g − ⟨g, a⟩)
        return a_L * (grad_a - xp.sum(grad_a * a_L, axis=-1, keepdims=True))
    return grad_a * DERIVATIVES[spec.output_activation](xp, z_L, a_L)


def bp2(spec, W_next, delta_next, z, a, keep=None):
    """BP2: δ^l = ((W^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)  (⊙ keep^l with dropout: a dropped unit passes no error).

    ``a`` is σ(z^l) itself (before dropout), which the derivatives reuse."""
    delta = spec.kernel.back(W_next, delta_next) * DERIVATIVES[spec.activation](spec.xp, z, a)
    return delta if keep is None else delta * keep


def bp3(spec, delta):
    """BP3: ∂C/∂b^l = δ^l, summed over the batch and shaped (n_l, 1) like b^l."""
    return spec.xp.sum(delta, axis=0, keepdims=True).T  # (1, n_l) -> (n_l, 1), a view


def bp4(spec, delta, a_prev):
    """BP4: ∂C/∂W^l = δ^l (a^{l-1})ᵀ, summed over the batch, shaped (n_l, n_{l-1}) like W^l."""
    return spec.kernel.outer_sum(delta, a_prev)


def backprop(spec, weights, biases, X, Y, scale=None, keep=None, costs=False):
    """Gradients ``(grads_w, grads_b)`` of Σ_x C_x over the batch (network.py's nabla_w, nabla_b).

    grads_b[l] is None for a layer without bias. With ``scale``, the gradients of Σ_x scale_x · C_x
    (a number, or an (N, 1) column of per-sample weights): δ^L is multiplied once, and since BP2–BP4
    are linear in δ every gradient comes out scaled, without a pass over each gradient (the
    training step uses it for the batch mean, 1/m, or the weighted mean w_x / Σw). ``keep``:
    dropout's multipliers, as for :func:`forward`. ``costs=True`` returns the (N,) per-sample costs C_x
    of the same forward pass as a third item (a running epoch cost needs no pass of its own).
    """
    zs, activations = forward(spec, weights, biases, X, keep)
    L = len(weights)
    grads_w, grads_b = [None] * L, [None] * L
    delta = bp1(spec, zs[-1], activations[-1], Y)
    if scale is not None:
        delta = scale * delta
    for l in range(L - 1, -1, -1):
        if l < L - 1:
            a = activations[l + 1] if keep is None else ACTIVATIONS[spec.activation](spec.xp, zs[l])  # σ(z^l)
            delta = bp2(spec, weights[l + 1], delta, zs[l], a, None if keep is None else keep[l])
        grads_w[l] = bp4(spec, delta, activations[l])
        grads_b[l] = None if biases[l] is None else bp3(spec, delta)
    return (grads_w, grads_b, cost_per_sample(spec, zs, activations, Y)) if costs else (grads_w, grads_b)


def all_finite(xp, *arrays):
    """A 0-d boolean array: True when every element of every array is finite.

    Small arrays are checked as one: laid end to end, one isfinite and one all, instead of two
    calls each (on NumPy every call costs about a microsecond, more than the arithmetic).
    """
    if sum(math.prod(a.shape) for a in arrays) <= ONE_PASS_ELEMENTS:
        arrays = (xp.concat(arrays, axis=None),)  # axis=None: flattened first
    ok = xp.all(xp.isfinite(arrays[0]))
    for a in arrays[1:]:
        ok = ok & xp.all(xp.isfinite(a))
    return ok


def cost_per_sample(spec, zs, activations, Y):
    """The (N,) vector of per-sample costs C_x."""
    return LOSSES[spec.loss](spec.xp, zs[-1], activations[-1], Y, spec.output_activation)


def sgd_step(spec, weights, biases, X, Y, lr):
    """One mini-batch SGD step, network.py's rule: p ← p − (η/m) Σ_x ∇C_x. Returns new lists.

    η/m multiplies δ^L once (BP2–BP4 are linear in δ, so every gradient comes out scaled): one
    pass per parameter. The same arithmetic as ``fit``'s sgd step, so ``update`` and ``fit`` agree
    bit for bit.
    """
    grads_w, grads_b = backprop(spec, weights, biases, X, Y, scale=lr * (1.0 / X.shape[0]))  # (η/m) Σ_x ∇C_x
    new_w = [W - g for W, g in zip(weights, grads_w)]
    new_b = [None if b is None else b - g for b, g in zip(biases, grads_b)]
    return new_w, new_b
