"""Four ways to compute the three products backprop needs, for a whole batch at once.

With batch-first arrays A (N, n_{l-1}), Δ (N, n_l) and W^l (n_l, n_{l-1}), every kernel gives

    linear(W, A)     = A Wᵀ         the rows are W a for each sample   (forward, z = W a + b)
    back(W, Δ)       = Δ W          the rows are Wᵀ δ for each sample  (BP2)
    outer_sum(Δ, A)  = Δᵀ A = Σ_x δ aᵀ                                 (BP4, summed over the batch)

"matmul" is one GEMM per product; "einsum" writes the index sums with the backend's own
einsum; "stacked" is the seed notebook's stack of (n, 1) column vectors multiplied with
batched matmul and summed over the stack; "loop" goes sample by sample, as network.py does.
All four use the array namespace of their arguments; only ``einsum`` borrows the backend's
native function, looked up once in ``_backend``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from . import _backend


@dataclass(frozen=True)
class Kernel:
    name: str
    linear: Callable
    back: Callable
    outer_sum: Callable
    jittable: bool = True  # the loop kernel would unroll N samples under jax.jit


def _matmul(xp):
    # linear and back are computed as (W Aᵀ)ᵀ and (Wᵀ Δᵀ)ᵀ: the same single GEMM as A Wᵀ and Δ W, but
    # in the notebook's column orientation (z = W a for a whole batch of columns), which OpenBLAS
    # runs 10-20% faster at [784,1024,1024,10] N=512 (see benchmarks/README.md). The ᵀ are views;
    # the next layer then receives its activations in the layout its own W Aᵀ wants.
    return Kernel(
        "matmul",
        linear=lambda W, A: (W @ A.T).T,
        back=lambda W, D: (W.T @ D.T).T,
        outer_sum=lambda D, A: D.T @ A,
    )


def _einsum(xp):
    ein = _backend.native_einsum(xp)
    return Kernel(
        "einsum",
        linear=lambda W, A: ein("ij,nj->ni", W, A),
        back=lambda W, D: ein("ij,ni->nj", W, D),
        outer_sum=lambda D, A: ein("ni,nj->ij", D, A),
    )


def _stacked(xp):
    col = lambda A: xp.expand_dims(A, axis=-1)  # (N, n) -> stack of N column vectors (N, n, 1)
    row = lambda A: xp.expand_dims(A, axis=-2)  # (N, n) -> stack of N row vectors (N, 1, n)
    return Kernel(
        "stacked",
        linear=lambda W, A: (W @ col(A))[..., 0],  # (n_l, n_{l-1}) @ (N, n_{l-1}, 1)
        back=lambda W, D: (W.T @ col(D))[..., 0],
        outer_sum=lambda D, A: xp.sum(col(D) @ row(A), axis=0),  # Σ over the (N, n_l, n_{l-1}) stack
    )


def _loop(xp):
    def per_sample(f, *arrays):
        n = arrays[0].shape[0]
        return [f(*(x[i : i + 1, ...] for x in arrays)) for i in range(n)]

    def outer_sum(D, A):
        total = None
        for outer in per_sample(lambda d, a: d.T @ a, D, A):  # δ aᵀ for one sample
            total = outer if total is None else total + outer
        return total

    return Kernel(
        "loop",
        linear=lambda W, A: xp.concat(per_sample(lambda a: (W @ a.T).T, A), axis=0),
        back=lambda W, D: xp.concat(per_sample(lambda d: (W.T @ d.T).T, D), axis=0),
        outer_sum=outer_sum,
        jittable=False,
    )


KERNELS = {"matmul": _matmul, "einsum": _einsum, "stacked": _stacked, "loop": _loop}


@functools.cache
def get_kernel(name, xp):
    """The kernel ``name`` for namespace ``xp``: one object per pair, so that networks of one kind share
    their compiled functions."""
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}: expected one of {list(KERNELS)}")
    return KERNELS[name](xp)
