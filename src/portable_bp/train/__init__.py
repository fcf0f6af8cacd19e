"""Training: the loop (``loop.fit``), data adapters, compiled steps, callbacks and the divergence replay.

Nothing here knows the ``MLP`` class: the loop works on a spec, parameter lists and the numerics,
and ``MLP.fit`` hands those in and keeps what comes back.
"""

from . import callbacks
from .callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    JSONLogger,
    LambdaCallback,
    ProgressBar,
    ReduceLROnPlateau,
)
from .data import Arrays, Streamed
from .divergence import DivergenceError
from .loop import Training, fit
from .steps import Run, make_finite, make_metrics, make_run, make_step

__all__ = [
    "Arrays", "CSVLogger", "Callback", "DivergenceError", "callbacks", "EarlyStopping", "JSONLogger", "LambdaCallback",
    "ProgressBar", "ReduceLROnPlateau", "Run", "Streamed", "Training", "fit", "make_finite", "make_metrics",
    "make_run", "make_step",
]
