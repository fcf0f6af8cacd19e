"""Taking a trained network elsewhere: ONNX (:func:`to_onnx`, ``MLP.to_onnx``), skl2onnx for the
estimators (:func:`register_skl2onnx`), scikit-learn's own estimators (:func:`to_sklearn`,
:func:`from_sklearn`). Each needs an optional package, imported only when used; docs/export.md
says what each route keeps and drops.

One job per module: ``onnx`` (the graph of a network from its spec and parameters, with onnx's
helper API), ``sklearn`` (to and from scikit-learn's MLPClassifier / MLPRegressor), ``skl2onnx``
(the shape calculators and converters skl2onnx needs for portable_bp.sklearn's estimators).
"""

from __future__ import annotations

__all__ = ["from_sklearn", "register_skl2onnx", "to_onnx", "to_sklearn"]


def to_onnx(net, path=None, *, opset=None):
    """``net`` as an ``onnx.ModelProto`` (written atomically to ``path`` when given); see
    :func:`portable_bp.export.onnx.to_onnx`."""
    from .onnx import to_onnx as _to_onnx

    return _to_onnx(net, path, opset=opset)


def to_sklearn(est):
    """A fitted scikit-learn MLPClassifier / MLPRegressor equal to the fitted ``est``."""
    from .sklearn import to_sklearn as _to_sklearn

    return _to_sklearn(est)


def from_sklearn(sk_est, **params):
    """portable_bp's estimator from a fitted scikit-learn MLPClassifier / MLPRegressor."""
    from .sklearn import from_sklearn as _from_sklearn

    return _from_sklearn(sk_est, **params)


def register_skl2onnx():
    """Teach skl2onnx portable_bp.sklearn's estimators (idempotent); see :mod:`portable_bp.export.skl2onnx`."""
    from .skl2onnx import register

    return register()
