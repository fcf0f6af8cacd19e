"""portable_bp: a multilayer perceptron whose forward pass and backpropagation equations
(BP1–BP4) are written once against the Python array API standard and run on NumPy, CuPy,
JAX, PyTorch and array-api-strict.

>>> import portable_bp as pbp
>>> net = pbp.MLP([2, 8, 1], backend="numpy", seed=0)
"""

from ._backend import available_backends, to_numpy
from ._training import DivergenceError
from .checkpoint import CheckpointError, load
from .gradcheck import gradcheck
from .mlp import MLP

__version__ = "0.1.0"

__all__ = [
    "MLP", "CheckpointError", "DivergenceError", "available_backends", "gradcheck", "load", "to_numpy", "__version__",
]
