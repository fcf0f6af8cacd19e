"""One step of backpropagation with its numbers: ``pbp.trace(net, X, Y, lr=None)``.

One forward pass and BP1–BP4 for a batch (or one example), computed with the library's own public
functions — ``net.forward`` and :mod:`portable_bp.backprop`'s ``bp1`` … ``bp4`` (and ``sgd_step`` for
the update) — and kept layer by layer with the shape of every quantity and the equation that made it,
in Nielsen's notation (W^l is (n_l, n_{l-1}), b^l is (n_l, 1)):

    >>> t = pbp.trace(net, x, y, lr=0.5)       # doctest: +SKIP
    >>> print(t)                               # equations, shapes, rounded values
    >>> t                                      # in Jupyter: HTML with LaTeX matrices
    >>> t.latex()                              # the LaTeX text, to paste into a write-up
    >>> t.layers[0].grad_w.value               # ∂C/∂W^1, a backend array (.shape, .equation, .numpy())

One example (a 1-D ``x``) is shown as Nielsen's column vectors: z^l, a^l, δ^l are (n_l, 1). A batch
X (N, d) keeps the library's batch-first rows: Z^l, A^l, Δ^l are (N, n_l), row x being sample x's
z^l, a^l, δ^l laid on its side. The gradients are the SUM over the batch of the per-sample ∇C_x, as
``net.backprop`` returns them; the SGD update divides by m: p ← p − (η/m) Σ_x ∇C_x (``net.update``).

The values stay the network's backend arrays; only the rendering converts them to NumPy.
Nothing here is numerics of its own: dropout is not applied (as in ``net.forward``).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np

from . import _backend, _checks
from .backprop import bp1, bp2, bp3, bp4, cost_per_sample, sgd_step

__all__ = ["Layer", "Quantity", "Trace", "trace"]

#: matrices larger than this (rows or columns) are shown by their corners
MAX_ROWS = 6
MAX_COLS = 6
#: significant digits of the rendered values
DIGITS = 4

_LOSS_NAMES = {"mse": "quadratic cost C_x = ½‖a^L − y‖²", "l1": "L1 cost C_x = Σ_j |a^L_j − y_j|",
               "cross_entropy": "cross-entropy"}


@dataclass(frozen=True)
class Quantity:
    """One traced value: its symbol (text and LaTeX), the equation that produced it, and the array."""

    symbol: str
    latex_symbol: str
    equation: str
    latex_equation: str
    value: object  # a backend array

    @property
    def shape(self):
        return tuple(self.value.shape)

    def numpy(self):
        return _backend.to_numpy(self.value)


@dataclass
class Layer:
    """Layer l's quantities (l = 1 … L). ``grad_b``/``b_new`` are None for a layer without bias;
    ``W_new``/``b_new`` are None unless the trace was made with ``lr``."""

    l: int
    z: Quantity
    a: Quantity
    delta: Quantity
    grad_b: Quantity | None
    grad_w: Quantity
    W_new: Quantity | None = None
    b_new: Quantity | None = None

    def quantities(self):
        return [q for q in (self.z, self.a, self.delta, self.grad_b, self.grad_w, self.W_new, self.b_new)
                if q is not None]


@dataclass
class Trace:
    """What :func:`trace` returns: the input, every layer's quantities, the costs and the update."""

    net_repr: str
    single: bool  # one example (column vectors) or a batch (batch-first rows)
    m: int  # samples in the batch
    x: Quantity  # a^0 (or A^0)
    y: Quantity
    layers: list = field(default_factory=list)
    costs: object = None  # (m,) per-sample C_x, a backend array
    lr: float | None = None
    loss: str = ""
    #: how the gradients combine the batch's samples: "sum" (net.backprop's Σ_x ∇C_x)
    reduction: str = "sum"

    # -- what it holds -------------------------------------------------------------------------
    @property
    def cost(self):
        """Σ_x C_x over the batch, the quantity whose gradient the trace holds (a Python float)."""
        return float(np.sum(_backend.to_numpy(self.costs)))

    @property
    def zs(self):
        return [layer.z.value for layer in self.layers]

    @property
    def activations(self):
        return [self.x.value] + [layer.a.value for layer in self.layers]

    @property
    def deltas(self):
        return [layer.delta.value for layer in self.layers]

    @property
    def grads_w(self):
        return [layer.grad_w.value for layer in self.layers]

    @property
    def grads_b(self):
        return [None if layer.grad_b is None else layer.grad_b.value for layer in self.layers]

    @property
    def weights(self):
        """The parameters after the SGD step (``lr`` given), else None."""
        return None if self.lr is None else [layer.W_new.value for layer in self.layers]

    @property
    def biases(self):
        if self.lr is None:
            return None
        return [None if layer.b_new is None else layer.b_new.value for layer in self.layers]

    def quantities(self):
        """Every traced quantity in the order of the computation: input, forward, BP1–BP4, update."""
        out = [self.x, self.y]
        out += [q for layer in self.layers for q in (layer.z, layer.a)]
        for layer in reversed(self.layers):
            out += [q for q in (layer.delta, layer.grad_b, layer.grad_w) if q is not None]
        if self.lr is not None:
            out += [q for layer in self.layers for q in (layer.W_new, layer.b_new) if q is not None]
        return out

    @property
    def summary(self):
        what = "one example x (column vectors)" if self.single else f"a batch of m = {self.m} samples (rows)"
        return (f"trace of {self.net_repr} on {what}; cost: {_LOSS_NAMES.get(self.loss, self.loss)}, "
                f"Σ_x C_x = {_fmt(self.cost)}. Gradients are SUMMED over the batch (Σ_x ∇C_x, as net.backprop "
                f"returns them)" + (f"; the SGD update divides by m: p ← p − (η/m) Σ_x ∇C_x, η = {self.lr:g}, "
                                    f"m = {self.m}" if self.lr is not None else ""))

    # -- rendering -----------------------------------------------------------------------------
    def _sections(self):
        yield "forward pass", [self.x, self.y] + [q for layer in self.layers for q in (layer.z, layer.a)]
        for layer in reversed(self.layers):
            yield (f"layer {layer.l} backward ({'BP1' if layer.l == len(self.layers) else 'BP2'}, BP3, BP4)",
                   [q for q in (layer.delta, layer.grad_b, layer.grad_w) if q is not None])
        if self.lr is not None:
            yield "SGD update", [q for layer in self.layers for q in (layer.W_new, layer.b_new) if q is not None]

    def __str__(self):
        lines = [self.summary, ""]
        for title, quantities in self._sections():
            lines.append(f"========= {title} =========")
            for q in quantities:
                lines.append(f"{q.equation}    shape {q.shape}")
                lines.extend("    " + row for row in _text_matrix(q.numpy()).splitlines())
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def __repr__(self):
        return (f"<portable_bp.Trace: {len(self.layers)} layers, "
                f"{'one example' if self.single else f'batch of {self.m}'}, Σ_x C_x = {_fmt(self.cost)}"
                f"{'' if self.lr is None else f', SGD step η = {self.lr:g}'}>")

    def latex(self):
        """The whole trace as LaTeX: one ``align*`` environment per section, matrices as ``bmatrix``."""
        parts = []
        for title, quantities in self._sections():
            rows = [rf"{q.latex_equation} &= {_latex_matrix(q.numpy())} && {_latex_shape(q.shape)}"
                    for q in quantities]
            rows.insert(0, rf"& \text{{{title}}}")  # the title inside the environment: MathJax typesets it too
            parts.append(r"\begin{align*}" + "\n" + " \\\\\n".join(rows) + "\n" + r"\end{align*}")
        return "\n\n".join(parts) + "\n"

    def _repr_latex_(self):
        rows = []
        for title, quantities in self._sections():
            rows.append(rf"&\text{{{title}}} \\")
            rows += [rf"{q.latex_equation} &= {_latex_matrix(q.numpy())} \quad {_latex_shape(q.shape)} \\"
                     for q in quantities]
        return "$$\\begin{aligned}\n" + "\n".join(rows) + "\n\\end{aligned}$$"

    def _repr_html_(self):
        """A table per section: the equation in LaTeX (typeset by Jupyter's MathJax), the shape, and
        the values as a LaTeX ``bmatrix``; the plain-text trace follows, folded, for a page without
        MathJax. The math sits in blocks with a minimum width: MathJax measures a table cell while
        it typesets, finds it empty and narrow, and would otherwise break every equation at each
        operator (seen in nbconvert's HTML, whose MathJax breaks lines automatically)."""
        out = ['<div class="pbp-trace">', f"<p>{html.escape(self.summary)}</p>"]
        cell = 'style="text-align:left; vertical-align:middle; padding:2px 10px; white-space:nowrap"'
        for title, quantities in self._sections():
            out.append('<table style="border-collapse:collapse; table-layout:auto; margin-left:0; width:auto">'
                       f'<caption style="text-align:left"><b>{html.escape(title)}</b></caption>')
            out.append(f"<tr><th {cell}>equation</th><th {cell}>shape</th><th {cell}>value</th></tr>")
            for q in quantities:
                width = f"{max(6, len(q.equation.split('   ')[0]) * 0.55):.0f}em"  # about the typeset equation's width
                out.append(f'<tr><td {cell}><div style="min-width:{width}">\\({html.escape(q.latex_equation)}\\)'
                           f'</div></td><td {cell}><code style="white-space:nowrap">{q.shape}</code></td>'
                           f'<td {cell}><div style="min-width:{2 + 4.5 * min(q.shape[-1], MAX_COLS):.0f}em">'
                           f"\\({html.escape(_latex_matrix(q.numpy()))}\\)</div></td></tr>")
            out.append("</table>")
        out.append(f"<details><summary>as text</summary><pre>{html.escape(str(self))}</pre></details></div>")
        return "\n".join(out)


# -- the computation ---------------------------------------------------------------------------
def trace(net, X, Y, lr=None):
    """One forward pass and BP1–BP4 on (X, Y) — a batch X (N, d) with Y (N, n_L) or (N,) labels, or ONE
    example: a 1-D x (d,) with y a class label, a number (one output) or (n_L,) targets — returned as a
    :class:`Trace`. With ``lr`` (η), also the SGD step p ← p − (η/m) Σ_x ∇C_x, as ``net.update``
    computes it (the network itself is not changed).

    Every value equals ``net.forward`` / ``net.backprop`` (the gradients are summed over the batch).
    """
    from .mlp import MLP

    if not isinstance(net, MLP):
        raise TypeError(f"trace needs a portable_bp.MLP as its first argument; got {type(net).__name__}")
    if lr is not None:
        lr = _checks.real("lr", lr, 0.0, low_open=True)
    single = _ndim(X, "X") == 1
    if single:
        X, Y = _one_example(net, X, Y)
    Xb, Yb = net.to_backend(X, Y)  # checked: shapes, finiteness, targets (ValueError naming X or Y)
    zs, acts = net.forward(Xb)
    spec, L, m = net.spec, net.n_layers, Xb.shape[0]
    deltas, grads_w, grads_b = [None] * L, [None] * L, [None] * L
    delta = bp1(spec, zs[-1], acts[-1], Yb)
    for l in range(L - 1, -1, -1):
        if l < L - 1:
            delta = bp2(spec, net.weights[l + 1], delta, zs[l], acts[l + 1])
        deltas[l] = delta
        grads_w[l] = bp4(spec, delta, acts[l])
        grads_b[l] = None if net.biases[l] is None else bp3(spec, delta)
    new_w = new_b = None
    if lr is not None:
        new_w, new_b = sgd_step(spec, net.weights, net.biases, Xb, Yb, lr)

    col = (lambda v: v.T) if single else (lambda v: v)  # one example: Nielsen's (n, 1) columns
    eq = _Equations(net, single)
    t = Trace(net_repr=repr(net), single=single, m=m, x=eq.quantity("x", col(Xb)), y=eq.quantity("y", col(Yb)),
              costs=cost_per_sample(spec, zs, acts, Yb), lr=lr, loss=net.loss)
    for l in range(L):
        layer = Layer(
            l=l + 1,
            z=eq.quantity("z", col(zs[l]), l + 1),
            a=eq.quantity("a", col(acts[l + 1]), l + 1),
            delta=eq.quantity("delta", col(deltas[l]), l + 1),
            grad_b=None if grads_b[l] is None else eq.quantity("grad_b", grads_b[l], l + 1),
            grad_w=eq.quantity("grad_w", grads_w[l], l + 1),
        )
        if lr is not None:
            layer.W_new = eq.quantity("W_new", new_w[l], l + 1)
            layer.b_new = None if new_b[l] is None else eq.quantity("b_new", new_b[l], l + 1)
        t.layers.append(layer)
    return t


def _ndim(X, name):
    nd = getattr(X, "ndim", None)
    if nd is None:
        try:
            nd = np.asarray(X).ndim
        except Exception:  # noqa: BLE001 - left for the network's own check to name
            return 2
    if nd == 0:
        raise ValueError(f"{name} must be one example (d,) or a batch (N, d); got a scalar")
    return nd


def _one_example(net, x, y):
    """A 1-D x (d,) and its y as a batch of one: X (1, d) and Y (1, n_L) (or (1,) for a class label)."""
    x = _backend.to_numpy(x)
    if x.shape[0] != net.sizes[0]:
        raise ValueError(f"x has {x.shape[0]} features but the network's input layer has {net.sizes[0]} units")
    y = _backend.to_numpy(y)
    n_out = net.sizes[-1]
    if y.ndim == 0:
        y = y.reshape(1)  # a class label, or the one output's target
    elif y.ndim == 1 and y.shape[0] == n_out:
        y = y.reshape(1, n_out)
    elif y.ndim == 2 and y.shape == (n_out, 1):  # Nielsen's column vector
        y = y.reshape(1, n_out)
    else:
        raise ValueError(f"y for one example x must be a class label, a number (one output) or ({n_out},) "
                         f"targets; got shape {y.shape}")
    return x.reshape(1, -1), y


class _Equations:
    """The symbol and equation of every kind of quantity, in text and LaTeX, for one network."""

    def __init__(self, net, single):
        self.L, self.single = net.n_layers, single
        self.hidden, self.output, self.loss = net.activation, net.output_activation, net.loss

    def sigma(self, l):
        name = self.output if l == self.L else self.hidden
        return ("σ", r"\sigma") if name == "sigmoid" else (name, rf"\mathrm{{{name}}}")

    def quantity(self, kind, value, l=None):
        text, tex = getattr(self, "_" + kind)(l)
        symbol = text.split(" =")[0].split(" ←")[0].split("  ")[-1]  # "BP1  δ^2 = …" -> "δ^2"
        latex_symbol = tex.split(" =")[0].split(" \\leftarrow")[0].split("} ")[-1] if kind != "x" else "a^{0}"
        return Quantity(symbol=symbol, latex_symbol=latex_symbol, equation=text, latex_equation=tex, value=value)

    # one example: Nielsen's column vectors; a batch: batch-first rows (capital letters)
    def _x(self, l):
        return ("a^0 = x", "a^{0} = x") if self.single else ("A^0 = X", "A^{0} = X")

    def _y(self, l):
        return ("y", "y") if self.single else ("Y", "Y")

    def _z(self, l):
        if self.single:
            return f"z^{l} = W^{l} a^{l - 1} + b^{l}", f"z^{{{l}}} = W^{{{l}}} a^{{{l - 1}}} + b^{{{l}}}"
        return (f"Z^{l} = A^{l - 1} (W^{l})^T + (b^{l})^T   [rows: z^{l} = W^{l} a^{l - 1} + b^{l}]",
                f"Z^{{{l}}} = A^{{{l - 1}}} (W^{{{l}}})^T + (b^{{{l}}})^T")

    def _a(self, l):
        s, st = self.sigma(l)
        a, z = ("a", "z") if self.single else ("A", "Z")
        return f"{a}^{l} = {s}({z}^{l})", rf"{a}^{{{l}}} = {st}({z}^{{{l}}})"

    def _delta(self, l):
        d, dt = ("δ", r"\delta") if self.single else ("Δ", r"\Delta")
        a, z, y = ("a", "z", "y") if self.single else ("A", "Z", "Y")
        if l == self.L:
            if self.loss == "cross_entropy":
                return (f"BP1  {d}^{l} = {a}^{l} − {y}   (cross-entropy on a {self.output} output: σ' cancels)",
                        rf"\text{{BP1: }} {dt}^{{{l}}} = {a}^{{{l}}} - {y}")
            grad = f"({a}^{l} − {y})" if self.loss == "mse" else "∇_a C"
            grad_t = f"({a}^{{{l}}} - {y})" if self.loss == "mse" else r"\nabla_a C"
            if self.output == "softmax":
                return (f"BP1  {d}^{l} = J_softmax(z^{l})^T ∇_a C = a^{l} ⊙ (∇_a C − ⟨∇_a C, a^{l}⟩)",
                        rf"\text{{BP1: }} {dt}^{{{l}}} = a^{{{l}}} \odot (\nabla_a C - \langle \nabla_a C, "
                        rf"a^{{{l}}} \rangle)")
            s, st = self.sigma(l)
            return (f"BP1  {d}^{l} = ∇_a C ⊙ {s}'({z}^{l}) = {grad} ⊙ {s}'({z}^{l})",
                    rf"\text{{BP1: }} {dt}^{{{l}}} = {grad_t} \odot {st}'({z}^{{{l}}})")
        s, st = self.sigma(l)
        if self.single:
            return (f"BP2  δ^{l} = ((W^{l + 1})^T δ^{l + 1}) ⊙ {s}'(z^{l})",
                    rf"\text{{BP2: }} \delta^{{{l}}} = ((W^{{{l + 1}}})^T \delta^{{{l + 1}}}) \odot {st}'(z^{{{l}}})")
        return (f"BP2  Δ^{l} = (Δ^{l + 1} W^{l + 1}) ⊙ {s}'(Z^{l})   [rows: δ^{l} = ((W^{l + 1})^T δ^{l + 1}) ⊙ "
                f"{s}'(z^{l})]",
                rf"\text{{BP2: }} \Delta^{{{l}}} = (\Delta^{{{l + 1}}} W^{{{l + 1}}}) \odot {st}'(Z^{{{l}}})")

    def _grad_b(self, l):
        if self.single:
            return (f"BP3  ∂C/∂b^{l} = δ^{l}",
                    rf"\text{{BP3: }} \frac{{\partial C}}{{\partial b^{{{l}}}}} = \delta^{{{l}}}")
        return (f"BP3  ∂C/∂b^{l} = Σ_x δ^{l}_x = (Δ^{l})^T 1   (summed over the batch)",
                rf"\text{{BP3: }} \frac{{\partial C}}{{\partial b^{{{l}}}}} = \sum_x \delta^{{{l}}}_x")

    def _grad_w(self, l):
        if self.single:
            return (f"BP4  ∂C/∂W^{l} = δ^{l} (a^{l - 1})^T",
                    rf"\text{{BP4: }} \frac{{\partial C}}{{\partial W^{{{l}}}}} = \delta^{{{l}}} (a^{{{l - 1}}})^T")
        return (f"BP4  ∂C/∂W^{l} = Σ_x δ^{l}_x (a^{l - 1}_x)^T = (Δ^{l})^T A^{l - 1}   (summed over the batch)",
                rf"\text{{BP4: }} \frac{{\partial C}}{{\partial W^{{{l}}}}} = \sum_x \delta^{{{l}}}_x "
                rf"(a^{{{l - 1}}}_x)^T")

    def _W_new(self, l):
        return (f"W^{l} ← W^{l} − (η/m) ∂C/∂W^{l}",
                rf"W^{{{l}}} \leftarrow W^{{{l}}} - \frac{{\eta}}{{m}} \frac{{\partial C}}{{\partial W^{{{l}}}}}")

    def _b_new(self, l):
        return (f"b^{l} ← b^{l} − (η/m) ∂C/∂b^{l}",
                rf"b^{{{l}}} \leftarrow b^{{{l}}} - \frac{{\eta}}{{m}} \frac{{\partial C}}{{\partial b^{{{l}}}}}")


# -- rendering helpers (NumPy only) ------------------------------------------------------------
def _fmt(v):
    """A number with DIGITS significant digits, without a trailing '.'."""
    v = float(v)
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return str(v)
    return f"{v:.{DIGITS}g}"


def _latex_number(v):
    s = _fmt(v)
    if "e" in s:
        mant, exp = s.split("e")
        return rf"{mant} \times 10^{{{int(exp)}}}"
    return s


def _text_matrix(a):
    with np.printoptions(precision=DIGITS, threshold=MAX_ROWS * MAX_COLS, edgeitems=3, linewidth=110,
                         suppress=False):
        return np.array2string(np.asarray(a, dtype=np.float64))


def _picks(n, limit):
    """Indices shown of n (with None where the rest are elided): all, or the first 3 and last 2."""
    return list(range(n)) if n <= limit else [0, 1, 2, None, n - 2, n - 1]


def _latex_matrix(a):
    """A 2-D array as ``\\begin{bmatrix} a & b \\\\ … \\end{bmatrix}``, large ones by their corners
    (⋯, ⋮, ⋱ where rows or columns are left out)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    rows = []
    cols = _picks(a.shape[1], MAX_COLS)
    for i in _picks(a.shape[0], MAX_ROWS):
        if i is None:
            rows.append(" & ".join(r"\ddots" if j is None else r"\vdots" for j in cols))
        else:
            rows.append(" & ".join(r"\cdots" if j is None else _latex_number(a[i, j]) for j in cols))
    return r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"


def _latex_shape(shape):
    return r"\scriptstyle (" + r",\,".join(str(n) for n in shape) + ")"
