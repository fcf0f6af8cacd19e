"""scikit-learn's ``MLPRegressor``: squared error with an identity output, or the half Poisson deviance
with an exp output (``loss="poisson"``); one or more targets."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import column_or_1d
from sklearn.utils.metaestimators import available_if

from ._base import _BaseMLP
from ._params import _bad


class MLPRegressor(RegressorMixin, _BaseMLP):
    """scikit-learn's MLPRegressor, trained by :class:`portable_bp.MLP`.

    Parameters as scikit-learn's, plus ``backend``, ``device``, ``dtype``, ``kernel``, ``init``,
    ``dropout``, ``clip_norm`` and ``warmup_steps`` as for :class:`MLPClassifier`.
    ``loss="squared_error"``: an identity output, and
    ``loss_`` half the squared error averaged over the samples and the outputs; ``loss="poisson"``
    (scikit-learn 1.7's): an exp output (log link, ``out_activation_ == "exp"``), y ≥ 0, and
    ``loss_`` half the Poisson deviance averaged over the samples and summed over the outputs. Both
    plus the L2 term.
    """

    __module__ = "portable_bp.sklearn"  # its public name: reprs and pickles use it

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, backend=None, device=None,
                 dtype=None, kernel="matmul", init="sklearn", dropout=None, clip_norm=None, warmup_steps=0):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun, backend=backend, device=device,
            dtype=dtype, kernel=kernel, init=init, dropout=dropout,
            clip_norm=clip_norm, warmup_steps=warmup_steps)
        self.loss = loss

    _score_fn = staticmethod(r2_score)

    def _check_params(self):
        if not isinstance(self.loss, str) or self.loss not in ("squared_error", "poisson"):  # never an array
            raise _bad(self, "loss", "a str among ['poisson', 'squared_error']", self.loss)
        super()._check_params()

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _cost_divisor(self):
        """scikit-learn's half squared error is a mean over the outputs, its half Poisson deviance a sum."""
        return self.n_outputs_ if self.loss == "squared_error" else 1

    def _validate_input(self, X, y, incremental, reset):
        X, y, inp = self._validate_X(X, reset, y=y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = np.asarray(y, dtype=np.float64)
        if self.loss == "poisson" and Y.size and np.min(Y) < 0:  # scikit-learn's own gives loss_ = nan instead
            raise ValueError("Some value(s) of y are out of the valid range of the loss 'poisson': it needs y >= 0 "
                             f"(counts or rates); got a minimum of {float(np.min(Y)):g}.")
        return X, (Y.reshape(-1, 1) if Y.ndim == 1 else Y), y, inp

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y ((n_samples,) or (n_samples, n_outputs))."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(_BaseMLP._stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y) (a new network on the first call)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _decode(self, out):
        return out.ravel() if out.shape[1] == 1 else out

    def score(self, X, y, sample_weight=None):
        """R² of ``predict(X)`` against y, a float."""
        return self._score(X, y, sample_weight)

    def predict(self, X):
        """Predictions: (n_samples,) for one output, else (n_samples, n_outputs)."""
        out, inp = self._forward(X, "predict")
        if out.shape[1] == 1:
            out = out[:, 0]
        return self._as_output(out, inp)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
