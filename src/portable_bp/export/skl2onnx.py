"""skl2onnx for portable_bp.sklearn's MLPClassifier / MLPRegressor: a shape calculator and a
converter each, registered with ``skl2onnx.update_registered_converter``, so that
``skl2onnx.to_onnx(est, X[:1])`` converts them alone and inside a Pipeline.

The outputs are those skl2onnx gives for scikit-learn's own MLP (its
``operator_converters/multilayer_perceptron.py``): for a classifier the label (int64, or string
for string classes; an int64 indicator matrix for multilabel, computed as ``a > 0.5`` where
skl2onnx uses a Binarizer, which onnxruntime has no double kernel for) and the probabilities (a ZipMap of
them by default; ``options={est: {"zipmap": False}}`` leaves the (N, n_classes) tensor, and
``"output_class_labels"``, ``"nocl"`` are declared as for scikit-learn's MLP); for a regressor
the (N, n_outputs) predictions. The layers are :func:`portable_bp.export.onnx.emit_layers`'s, so
every activation converts (scikit-learn's MLP has four), computed in the input's precision
(double for a float64 input, else float), as skl2onnx's own converters do.

Registration: :func:`register` (``portable_bp.export.register_skl2onnx()``); importing
``portable_bp.sklearn`` calls it when skl2onnx is already imported (importing skl2onnx for
every user of the estimators would cost about a second).
"""

from __future__ import annotations

import numpy as np

CLASSIFIER_ALIAS, REGRESSOR_ALIAS = "PortableBpMLPClassifier", "PortableBpMLPRegressor"
CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "output_class_labels": [False, True], "nocl": [True, False]}

_registered = False


class _ContainerBuilder:
    """emit_layers' builder on skl2onnx's scope (unique names) and container (nodes, initializers)."""

    def __init__(self, scope, container, proto_dtype, dtype):
        self.scope, self.container, self.proto_dtype, self.dtype = scope, container, proto_dtype, np.dtype(dtype)

    def name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def const(self, hint, array):
        array = np.asarray(array, dtype=self.dtype)
        name = self.name(hint)
        self.container.add_initializer(name, self.proto_dtype, list(array.shape), array.ravel())
        return name

    def node(self, op, inputs, hint=None, output=None, **attrs):
        output = output or self.name(hint or op.lower())
        self.container.add_node(op, list(inputs), output, name=self.scope.get_unique_operator_name(op), **attrs)
        return output


def _network_output(scope, operator, container):
    """The network's output a^L on the operator's input, in the input's precision, and the builder."""
    from skl2onnx.common._apply_operation import apply_cast
    from skl2onnx.common.data_types import guess_proto_type
    from skl2onnx.proto import onnx_proto

    from .onnx import emit_layers

    proto_dtype = guess_proto_type(operator.inputs[0].type)
    if proto_dtype != onnx_proto.TensorProto.DOUBLE:
        proto_dtype = onnx_proto.TensorProto.FLOAT
    dtype = np.float64 if proto_dtype == onnx_proto.TensorProto.DOUBLE else np.float32
    b = _ContainerBuilder(scope, container, proto_dtype, dtype)
    x = scope.get_unique_variable_name("cast_input")
    apply_cast(scope, operator.inputs[0].full_name, x, container, to=proto_dtype)
    net = operator.raw_operator.net_
    weights, biases = net.params_numpy()
    out = emit_layers(b, x, weights, biases, net.activation, net.output_activation, container.target_opset or 13)
    return out, b


def convert_classifier(scope, operator, container):
    """Labels and probabilities, as skl2onnx's convert_sklearn_mlp_classifier makes them."""
    from skl2onnx.common._apply_operation import apply_cast, apply_concat, apply_identity, apply_reshape
    from skl2onnx.proto import onnx_proto

    est = operator.raw_operator
    y, b = _network_output(scope, operator, container)
    labels, probabilities = operator.outputs[0].full_name, operator.outputs[1].full_name
    if est.n_outputs_ == 1:  # binary: the sigmoid is P(class 1)
        negative = b.node("Sub", [b.const("one", 1.0), y], hint="negative_class_proba")
        apply_concat(scope, [negative, y], probabilities, container, axis=1)
    else:
        apply_identity(scope, y, probabilities, container)
    if est._label_binarizer.y_type_ == "multilabel-indicator":
        # skl2onnx's Binarizer(threshold=0.5) has no double kernel in onnxruntime: y > 0.5 is the same test
        apply_cast(scope, b.node("Greater", [y, b.const("half", 0.5)]), labels, container,
                   to=onnx_proto.TensorProto.INT64)
        return
    classes = est.classes_
    if np.issubdtype(classes.dtype, np.floating) or classes.dtype == np.bool_ or np.issubdtype(classes.dtype,
                                                                                                np.integer):
        class_type, classes = onnx_proto.TensorProto.INT32, classes.astype(np.int32)
    else:
        class_type, classes = onnx_proto.TensorProto.STRING, np.array([str(s).encode("utf-8") for s in classes])
    classes_name = scope.get_unique_variable_name("classes")
    container.add_initializer(classes_name, class_type, classes.shape, classes)
    argmax = scope.get_unique_variable_name("argmax_output")
    container.add_node("ArgMax", probabilities, argmax, axis=1, name=scope.get_unique_operator_name("ArgMax"))
    picked = scope.get_unique_variable_name("array_feature_extractor_result")
    container.add_node("ArrayFeatureExtractor", [classes_name, argmax], picked, op_domain="ai.onnx.ml",
                       name=scope.get_unique_operator_name("ArrayFeatureExtractor"))
    if class_type == onnx_proto.TensorProto.INT32:
        flat = scope.get_unique_variable_name("reshaped_result")
        apply_reshape(scope, picked, flat, container, desired_shape=(-1,))
        apply_cast(scope, flat, labels, container, to=onnx_proto.TensorProto.INT64)
    else:
        apply_reshape(scope, picked, labels, container, desired_shape=(-1,))


def convert_regressor(scope, operator, container):
    from skl2onnx.common._apply_operation import apply_identity

    y, _ = _network_output(scope, operator, container)
    apply_identity(scope, y, operator.outputs[0].full_name, container)


def classifier_shapes(operator):
    """skl2onnx's classifier shapes, with the (N, n_labels) label matrix of a multilabel classifier."""
    from skl2onnx.common.data_types import Int64TensorType
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    calculate_linear_classifier_output_shapes(operator)
    est = operator.raw_operator
    if est._label_binarizer.y_type_ == "multilabel-indicator":
        operator.outputs[0].type = Int64TensorType([operator.inputs[0].get_first_dimension(), est.n_outputs_])


def regressor_shapes(operator):
    """[N, C] -> [N, n_outputs] in the input's precision (float for integer inputs)."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from skl2onnx.common.utils import check_input_and_output_numbers

    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    kind = DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType) else FloatTensorType
    operator.outputs[0].type = kind([operator.inputs[0].get_first_dimension(), operator.raw_operator.n_outputs_])


def register():
    """Register portable_bp.sklearn's MLPClassifier and MLPRegressor with skl2onnx (once; later calls
    do nothing). Raises ImportError with the install line when skl2onnx is missing."""
    global _registered
    if _registered:
        return
    try:
        from skl2onnx import update_registered_converter
    except ImportError as exc:
        raise ImportError('converting the estimators with skl2onnx needs it: pip install skl2onnx '
                          '(and pip install "portable_bp[onnx]" for onnx and onnxruntime)') from exc
    from ..sklearn import MLPClassifier, MLPRegressor

    update_registered_converter(MLPClassifier, CLASSIFIER_ALIAS, classifier_shapes,
                                convert_classifier, options=CLASSIFIER_OPTIONS)
    update_registered_converter(MLPRegressor, REGRESSOR_ALIAS, regressor_shapes, convert_regressor)
    _registered = True


class _RegisterAfterImport:
    """A ``sys.meta_path`` finder that lets ``import skl2onnx`` run as usual and then calls
    :func:`register` (and leaves ``sys.meta_path``): the estimators are known to skl2onnx whichever is
    imported first, and importing portable_bp.sklearn never imports skl2onnx itself. A mere probe
    (``importlib.util.find_spec("skl2onnx")``) runs nothing and keeps the hook in place."""

    _busy = False

    def find_spec(self, name, path=None, target=None):
        if name != "skl2onnx" or self._busy:
            return None
        import importlib.util

        self._busy = True
        try:
            spec = importlib.util.find_spec(name)  # the other finders' answer (site-packages, editable, zip)
        finally:
            self._busy = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _remove_hook()
            try:
                register()
            except Exception as exc:  # noqa: BLE001 - skl2onnx itself imported: say why, do not break it
                import warnings

                warnings.warn(f"portable_bp could not register its estimators with skl2onnx ({exc}); call "
                              "portable_bp.export.register_skl2onnx() to see why", stacklevel=2)

        spec.loader.exec_module = exec_module
        return spec


_HOOK = _RegisterAfterImport()


def _remove_hook():
    import sys

    while _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)


def register_when_imported():
    """Register now if skl2onnx is imported already, else as soon as it is (portable_bp.sklearn's import)."""
    import sys

    if "skl2onnx" in sys.modules:
        register()
    elif _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)
