"""A network as an ONNX graph, built from its spec and parameters with onnx's helper API.

One Gemm per layer (``Y = A · Wᵀ + b``: W^l is (n_l, n_{l-1}), so ``transB=1``; a layer without
bias has no C input), then the layer's activation with exactly the formula of
:mod:`portable_bp.activations` (leaky_relu's slope ``LEAKY_SLOPE``, elu's α = 1, gelu's tanh form
with ``GELU_C`` / ``GELU_K``). The graph computes in the network's dtype (float32 or float64)
with a dynamic batch dimension. Where onnxruntime's CPU provider has no float64 kernel for an
operator (LeakyRelu, Elu, Softplus) the activation is composed from basic operators that have one,
in both dtypes: one graph whatever the dtype. Gelu is composed too: onnxruntime 1.32's
``Gelu(approximate="tanh")`` differs from the tanh formula by 6.3e-9 in float64.

:func:`emit_layers` writes the layers through a small builder (``const``, ``node``), so the same
code serves :func:`to_onnx` here and the skl2onnx converters (:mod:`portable_bp.export.skl2onnx`).
"""

from __future__ import annotations

import json

import numpy as np

from .. import _checks
from ..activations import GELU_C, GELU_K, LEAKY_SLOPE

#: the opset written when none is asked for: one onnxruntime >= 1.17 runs (the operators used
#: here are all in opset 13, whose Softmax normalises over one axis)
DEFAULT_OPSET = 17
MIN_OPSET = 13

INPUT_NAME, OUTPUT_NAME = "X", "output"

_INSTALL = 'pip install "portable_bp[onnx]"'


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"exporting to ONNX needs the onnx package: {_INSTALL}") from exc
    return onnx


class GraphBuilder:
    """Nodes and initializers of a plain ONNX graph, with unique names."""

    def __init__(self, dtype):
        self.onnx = _onnx()
        self.dtype = np.dtype(dtype)
        self.nodes, self.initializers = [], []
        self._count = 0

    def name(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint, array):
        """An initializer holding ``array`` in the graph's dtype; its name."""
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array, dtype=self.dtype), name))
        return name

    def node(self, op, inputs, hint=None, output=None, **attrs):
        """One node; its (one) output's name."""
        output = output or self.name(hint or op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [output], name=self.name(op), **attrs))
        return output


# -- the activations: z's name in, a's name out ------------------------------------------------
def _where_positive(b, z, negative):
    zero = b.const("zero", 0.0)
    return b.node("Where", [b.node("Greater", [z, zero]), z, negative])


def _leaky_relu(b, z, opset):
    return _where_positive(b, z, b.node("Mul", [z, b.const("leaky_slope", LEAKY_SLOPE)]))


def _elu(b, z, opset):  # where(z > 0, z, expm1(min(z, 0))), expm1 as exp − 1
    negative = b.node("Sub", [b.node("Exp", [b.node("Min", [z, b.const("zero", 0.0)])]), b.const("one", 1.0)])
    return _where_positive(b, z, negative)


def _softplus(b, z, opset):  # logaddexp(0, z) = max(z, 0) + log(1 + e^−|z|): no overflow
    tail = b.node("Log", [b.node("Add", [b.const("one", 1.0), b.node("Exp", [b.node("Neg", [b.node("Abs", [z])])])])])
    return b.node("Add", [b.node("Relu", [z]), tail])


def _gelu(b, z, opset):
    """½ z (1 + tanh(c (z + k z³))), composed at every opset: onnxruntime's own
    ``Gelu(approximate="tanh")`` (opset 20) is 6e-9 from the formula in float64."""
    cube = b.node("Mul", [b.node("Mul", [z, z]), z])
    u = b.node("Mul", [b.const("gelu_c", GELU_C), b.node("Add", [z, b.node("Mul", [b.const("gelu_k", GELU_K), cube])])])
    half_z = b.node("Mul", [b.const("half", 0.5), z])
    return b.node("Mul", [half_z, b.node("Add", [b.const("one", 1.0), b.node("Tanh", [u])])])


ACTIVATIONS = {
    "sigmoid": lambda b, z, opset: b.node("Sigmoid", [z]),
    "tanh": lambda b, z, opset: b.node("Tanh", [z]),
    "relu": lambda b, z, opset: b.node("Relu", [z]),
    "identity": lambda b, z, opset: z,
    "exp": lambda b, z, opset: b.node("Exp", [z]),  # the Poisson regressor's output (log link)
    "softmax": lambda b, z, opset: b.node("Softmax", [z], axis=-1),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "softplus": _softplus,
    "gelu": _gelu,
}


def emit_layers(b, x, weights, biases, activation, output_activation, opset):
    """The network's layers on the input named ``x``; the output activation's name."""
    a = x
    last = len(weights) - 1
    for l, (W, bias) in enumerate(zip(weights, biases)):
        inputs = [a, b.const(f"W{l + 1}", W)]
        if bias is not None:
            inputs.append(b.const(f"b{l + 1}", np.reshape(bias, -1)))
        z = b.node("Gemm", inputs, hint=f"z{l + 1}", transB=1)
        a = ACTIVATIONS[output_activation if l == last else activation](b, z, opset)
    return a


def check_opset(opset):
    onnx = _onnx()
    newest = onnx.defs.onnx_opset_version()
    return DEFAULT_OPSET if opset is None else _checks.integer("opset", opset, MIN_OPSET, newest)


def to_onnx(net, path=None, *, opset=None):
    """``net`` (a :class:`portable_bp.MLP`) as an ``onnx.ModelProto``: input ``"X"`` (batch, n_0),
    output ``"output"`` (batch, n_L) = ``net.predict(X)``, in the network's dtype. ``opset``: the
    default opset's version (default 17, at least 13). With ``path`` the serialized model is also
    written there, atomically (the previous file stays whole if the write fails).

    ``metadata_props`` records the sizes, activations, cost, dtype, the backend it was trained on
    and the library's version (keys ``portable_bp.*``). Dropout is a training-time operation and is
    not in the graph (``predict`` does not drop either).
    """
    onnx = _onnx()
    from onnx import helper

    from .. import __version__
    from ..mlp import MLP

    if not isinstance(net, MLP):
        raise TypeError(f"net must be a portable_bp.MLP; got {type(net).__name__}")
    opset = check_opset(opset)
    dtype = np.dtype(net.dtype_name)
    b = GraphBuilder(dtype)
    weights, biases = net.params_numpy()
    out = emit_layers(b, INPUT_NAME, weights, biases, net.activation, net.output_activation, opset)
    b.node("Identity", [out], output=OUTPUT_NAME)
    elem = helper.np_dtype_to_tensor_dtype(dtype)
    graph = helper.make_graph(
        b.nodes, "portable_bp_mlp",
        [helper.make_tensor_value_info(INPUT_NAME, elem, ["batch", net.sizes[0]])],
        [helper.make_tensor_value_info(OUTPUT_NAME, elem, ["batch", net.sizes[-1]])],
        initializer=b.initializers,
    )
    model = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", opset)],
                                          producer_name="portable_bp", producer_version=__version__,
                                          doc_string=repr(net))
    helper.set_model_props(model, {
        "portable_bp.sizes": json.dumps(list(net.sizes)),
        "portable_bp.activation": net.activation,
        "portable_bp.output_activation": net.output_activation,
        "portable_bp.loss": net.loss,
        "portable_bp.dtype": net.dtype_name,
        "portable_bp.backend": net.backend,
        "portable_bp.version": __version__,
    })
    onnx.checker.check_model(model)
    if path is not None:
        from .. import _atomic

        data = model.SerializeToString()
        _atomic.write(path, lambda f: f.write(data))
    return model
