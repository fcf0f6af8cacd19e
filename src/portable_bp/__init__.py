"""portable_bp: a multilayer perceptron whose forward pass and backpropagation equations
(BP1–BP4) are written once against the Python array API standard and run on NumPy, CuPy,
JAX, PyTorch and array-api-strict.

>>> import portable_bp as pbp
>>> net = pbp.MLP([2, 8, 1], backend="numpy", seed=0)
>>> history = net.fit(X, y, epochs=10, batch_size=10, optimizer=pbp.optim.adam(1e-2))  # doctest: +SKIP
"""

from . import optim, train
from ._backend import available_backends, to_numpy
from ._landing import PickleFallbackWarning
from .checkpoint import CheckpointError
from .gradcheck import gradcheck
from .mlp import MLP, load
from .trace import trace
from .train import DivergenceError

__version__ = "0.1.0"

__all__ = [
    "MLP", "CheckpointError", "DivergenceError", "PickleFallbackWarning", "available_backends", "gradcheck", "load",
    "optim", "to_numpy", "trace", "train", "__version__",
]
