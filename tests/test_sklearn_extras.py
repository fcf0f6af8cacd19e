"""The estimators' extras beyond scikit-learn: ``clip_norm`` (torch's clip_grad_norm_ before the
solver's update) and ``warmup_steps`` (a linear warmup of the solver's rate), against scikit-learn's
own MLP with its optimizer's ``update_params`` patched to clip / warm up in the same way (an
independent oracle: scikit-learn's loop, batches and update rules)."""

import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkRegressor  # noqa: E402
from sklearn.neural_network import _stochastic_optimizers as sk_opt  # noqa: E402

import portable_bp as pbp  # noqa: E402
from portable_bp.sklearn import InvalidParameterError, MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def patch_sklearn(monkeypatch, clip_norm=None, warmup_steps=0):
    """scikit-learn's optimizers with the extras, from the formulas: g ← g · min(1, c / (‖g‖ + 1e-6))
    over all the gradients; the rate of update t (from 0) times min(1, t / W)."""
    original = sk_opt.BaseOptimizer.update_params

    def update_params(self, params, grads):
        if clip_norm is not None:
            norm = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
            grads = [g * min(1.0, clip_norm / (norm + 1e-6)) for g in grads]
        t = getattr(self, "_t_extras", 0)
        self._t_extras = t + 1
        name = "learning_rate_init" if isinstance(self, sk_opt.AdamOptimizer) else "learning_rate"
        rate = getattr(self, name)
        if warmup_steps:
            setattr(self, name, rate * min(1.0, t / warmup_steps))
        try:
            return original(self, params, grads)
        finally:
            setattr(self, name, rate)

    monkeypatch.setattr(sk_opt.BaseOptimizer, "update_params", update_params)


def max_param_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(p) - np.asarray(q))))
               for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_))


X, y = make_classification(n_samples=200, n_features=6, n_informative=4, n_classes=3, random_state=0)
SETTINGS = dict(hidden_layer_sizes=(8,), shuffle=False, random_state=0, max_iter=15, batch_size=50)
SOLVERS = [
    # Adam's ε is added to √v̂ (torch's rule), scikit-learn's to √v: a tiny ε makes that difference vanish
    dict(solver="adam", learning_rate_init=0.05, epsilon=1e-14),
    dict(solver="sgd", learning_rate_init=0.1),  # Nesterov momentum
    dict(solver="sgd", learning_rate_init=0.1, momentum=0.0),
    dict(solver="sgd", learning_rate_init=0.2, learning_rate="invscaling", nesterovs_momentum=False),
    dict(solver="sgd", learning_rate_init=0.2, learning_rate="adaptive", n_iter_no_change=1, tol=10.0),
]
IDS = ["adam", "sgd-nesterov", "sgd-plain", "sgd-invscaling", "sgd-adaptive"]


@pytest.mark.parametrize("params", SOLVERS, ids=IDS)
@pytest.mark.parametrize("extras", [dict(clip_norm=0.3), dict(warmup_steps=7), dict(clip_norm=0.3, warmup_steps=7)],
                         ids=["clip", "warmup", "both"])
def test_extras_train_as_patched_scikit_learn(backend, monkeypatch, params, extras):
    """Measured (float64, numpy / torch / jax / array_api_strict): parameters within 5.6e-16 (sgd)
    and 2.9e-11 (adam, whose ε sits elsewhere) of scikit-learn's patched optimizer."""
    ours = MLPClassifier(**SETTINGS, **params, **extras, backend=backend).fit(X, y)
    patch_sklearn(monkeypatch, **extras)
    theirs = SkClassifier(**SETTINGS, **params).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert max_param_diff(ours, theirs) <= 1e-9
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    # and the extras change the training (the test could fail)
    plain = MLPClassifier(**SETTINGS, **params, backend=backend).fit(X, y)
    assert max_param_diff(ours, plain) > 1e-6


def test_regressor_takes_them_too(monkeypatch):
    Y = X[:, :2] @ np.array([[1.0], [-2.0]])
    kw = dict(**SETTINGS, solver="adam", learning_rate_init=0.05, epsilon=1e-14)
    ours = MLPRegressor(**kw, clip_norm=0.2, warmup_steps=5).fit(X, Y[:, 0])
    patch_sklearn(monkeypatch, clip_norm=0.2, warmup_steps=5)
    theirs = SkRegressor(**kw).fit(X, Y[:, 0])
    assert max_param_diff(ours, theirs) <= 1e-9


@pytest.mark.parametrize("params", SOLVERS, ids=IDS)
def test_a_clip_that_never_binds_is_the_default(params):
    """clip_norm=1e300: the factor min(1, c / (‖g‖ + 1e-6)) is exactly 1. Bit for bit, except plain
    sgd (momentum=0), whose η is otherwise folded into δ^L (a chain multiplies it after BP4)."""
    a = MLPClassifier(**SETTINGS, **params).fit(X, y)
    b = MLPClassifier(**SETTINGS, **params, clip_norm=1e300, warmup_steps=0).fit(X, y)
    tol = 1e-15 if params.get("momentum") == 0.0 else 0.0
    assert max_param_diff(a, b) <= tol
    assert a.loss_curve_ == pytest.approx(b.loss_curve_, rel=tol, abs=0)


def test_warmup_continues_across_partial_fit():
    """t counts updates across partial_fit calls: 3 calls of 4 batches with warmup_steps=6 equal a fit
    of 3 epochs (shuffle=False), and differ from no warmup."""
    kw = dict(hidden_layer_sizes=(8,), shuffle=False, random_state=0, batch_size=50, solver="sgd",
              learning_rate_init=0.1, warmup_steps=6)
    inc = MLPClassifier(**kw)
    for _ in range(3):
        inc.partial_fit(X, y, classes=np.unique(y))
    full = MLPClassifier(**kw, max_iter=3).fit(X, y)
    assert max_param_diff(inc, full) <= 1e-14
    assert max_param_diff(full, MLPClassifier(**{**kw, "warmup_steps": 0}, max_iter=3).fit(X, y)) > 1e-6


@pytest.mark.parametrize("name, value", [
    ("clip_norm", 0.0), ("clip_norm", -1.0), ("clip_norm", "1"), ("clip_norm", float("nan")), ("clip_norm", True),
    ("warmup_steps", -1), ("warmup_steps", 2.5), ("warmup_steps", None), ("warmup_steps", 2**60),
])
def test_bad_values_are_refused_naming_the_parameter(name, value):
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of MLPClassifier"):
        MLPClassifier(max_iter=2, **{name: value}).fit(X, y)


@pytest.mark.parametrize("extras", [dict(clip_norm=1.0), dict(warmup_steps=3)])
def test_lbfgs_refuses_them(extras):
    (name,) = extras
    with pytest.raises(ValueError, match=f"{name} needs a stochastic solver"):
        MLPRegressor(solver="lbfgs", **extras).fit(X, y)
    MLPRegressor(solver="lbfgs", clip_norm=None, warmup_steps=0, max_iter=5).fit(X, y)  # the defaults are fine


def test_get_params_clone_and_pickle_keep_them():
    est = MLPClassifier(clip_norm=0.5, warmup_steps=4, hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    assert est.get_params()["clip_norm"] == 0.5 and est.get_params()["warmup_steps"] == 4
    assert MLPClassifier().get_params()["clip_norm"] is None and MLPClassifier().get_params()["warmup_steps"] == 0
    c = clone(est)
    assert (c.clip_norm, c.warmup_steps) == (0.5, 4)
    c.set_params(clip_norm=2.0, warmup_steps=1)
    assert (c.clip_norm, c.warmup_steps) == (2.0, 1)
    est.fit(X, y)
    assert est.net_.optimizer.name == "chain"
    back = pickle.loads(pickle.dumps(est))
    assert (back.clip_norm, back.warmup_steps) == (0.5, 4)
    assert back.net_.optimizer.config() == est.net_.optimizer.config()
    np.testing.assert_array_equal(pbp.to_numpy(back.predict_proba(X)), pbp.to_numpy(est.predict_proba(X)))


def test_scikit_learns_checks_still_pass_for_default_and_extras():
    from sklearn.utils.estimator_checks import check_get_params_invariance, check_parameters_default_constructible

    for est in (MLPClassifier(), MLPRegressor(), MLPClassifier(clip_norm=1.0, warmup_steps=2)):
        check_parameters_default_constructible(type(est).__name__, est)
        check_get_params_invariance(type(est).__name__, est)
