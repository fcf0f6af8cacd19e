"""portable_bp.sklearn against scikit-learn beyond the defaults: MLPRegressor(loss="poisson") (scikit-learn
1.7's exp output and half Poisson deviance), a diverging loss and the stratified early-stopping split
as scikit-learn reports them, and scikit-learn's own test file, sklearn/neural_network/tests/test_mlp.py,
run against our estimators with only its import line changed."""

import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from scipy.special import xlogy  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkRegressor  # noqa: E402

import portable_bp as pbp  # noqa: E402
from portable_bp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

SKLEARN_VERSION = tuple(int(p) for p in sklearn.__version__.split(".")[:2])
needs_poisson = pytest.mark.skipif(SKLEARN_VERSION < (1, 7),
                                   reason="MLPRegressor(loss='poisson') is scikit-learn 1.7's")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def counts(n=200, outputs=1, seed=0):
    """Poisson counts whose log-rate is linear in X: what the exp output (log link) models."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    y = rng.poisson(np.exp(X @ (0.3 * rng.standard_normal((5, outputs))) + 0.5)).astype(np.float64)
    return X, (y[:, 0] if outputs == 1 else y)


def max_param_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(p) - np.asarray(q))))
               for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_))


EXACT = dict(loss="poisson", hidden_layer_sizes=(8,), shuffle=False, random_state=0, max_iter=20, batch_size=50)


# -- MLPRegressor(loss="poisson") ----------------------------------------------------------------
@needs_poisson
@pytest.mark.parametrize("params, outputs", [
    (dict(solver="sgd", learning_rate_init=0.01), 1),  # Nesterov momentum
    (dict(solver="sgd", learning_rate_init=0.01, nesterovs_momentum=False, alpha=0.1), 2),
    (dict(solver="sgd", learning_rate_init=0.01, early_stopping=True, batch_size=60), 1),
    (dict(solver="lbfgs", max_iter=50), 2),
])
def test_poisson_regressor_trains_exactly_as_scikit_learn(backend, params, outputs):
    """Same random_state, no shuffling: the same initial weights, steps and loss as scikit-learn's
    MLPRegressor(loss="poisson"), on every backend (measured: predictions within 1.3e-14 for sgd and
    2.1e-12 for L-BFGS, loss_curve_ within 5e-16 relative)."""
    X, y = counts(outputs=outputs)
    kw = {**EXACT, **params}
    ours = MLPRegressor(backend=backend, **kw).fit(X, y)
    theirs = SkRegressor(**kw).fit(X, y)
    assert ours.out_activation_ == theirs.out_activation_ == "exp"
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(pbp.to_numpy(ours.predict(X)), theirs.predict(X), rtol=0, atol=1e-9)
    assert max_param_diff(ours, theirs) < 1e-9
    if params["solver"] == "lbfgs":
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
        return
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10)
    if params.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-9)


@needs_poisson
def test_poisson_loss_is_half_the_poisson_deviance():
    """loss_ of one full batch: Σ_j mean_x [y ln(y/μ) − y + μ] at the parameters its step started from,
    summed (not averaged) over the outputs, plus ½ α Σ‖W‖² / n: the formula, with SciPy's xlogy."""
    X, y = counts(n=120, outputs=2, seed=1)
    kw = dict(loss="poisson", hidden_layer_sizes=(6,), alpha=0.3, batch_size=120, solver="sgd",
              learning_rate_init=0.01, random_state=0, backend="numpy")
    before = MLPRegressor(**kw, max_iter=2).fit(X, y)
    after = MLPRegressor(**kw, max_iter=3).fit(X, y)
    mu = before.predict(X)
    deviance = np.sum(np.mean(xlogy(y, y / mu) - y + mu, axis=0))
    penalty = 0.5 * 0.3 * sum(float(np.sum(W ** 2)) for W in before.coefs_) / 120
    assert after.loss_ == pytest.approx(deviance + penalty, rel=1e-12)


def test_mlp_poisson_cost_and_gradients_match_the_formula_and_torch(backend):
    """pbp.MLP(output_activation="exp", loss="poisson"): the cost is the half deviance (NumPy, xlogy);
    BP1's shortcut δ^L = e^z − y gives torch autograd's gradients of Σ (e^z − y z) (torch's
    PoissonNLLLoss, log_input=True: the deviance less a constant in the parameters)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((9, 4))
    Y = rng.poisson(2.0, (9, 2)).astype(np.float64)
    Y[0] = 0.0  # 0 ln 0 = 0
    net = pbp.MLP([4, 5, 2], activation="tanh", output_activation="exp", loss="poisson", backend=backend, seed=0)
    (W1, W2), (b1, b2) = net.params_numpy()
    mu = np.exp(np.tanh(X @ W1.T + b1.T) @ W2.T + b2.T)
    np.testing.assert_allclose(pbp.to_numpy(net.predict(X)), mu, rtol=1e-13)
    assert net.cost(X, Y) == pytest.approx(np.mean(np.sum(xlogy(Y, Y / mu) - Y + mu, axis=1)), rel=1e-12)
    grads_w, grads_b = net.backprop(X, Y)
    torch = pytest.importorskip("torch")
    params = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in (W1, b1, W2, b2)]
    tW1, tb1, tW2, tb2 = params
    z = torch.tanh(torch.tensor(X) @ tW1.T + tb1.T) @ tW2.T + tb2.T
    torch.nn.PoissonNLLLoss(log_input=True, full=False, reduction="sum")(z, torch.tensor(Y)).backward()
    for ours, p in zip([grads_w[0], grads_b[0], grads_w[1], grads_b[1]], params):
        np.testing.assert_allclose(pbp.to_numpy(ours), p.grad.numpy(), rtol=1e-11, atol=1e-12)


def test_poisson_with_a_softplus_output_uses_the_general_bp1(backend):
    """Softplus rates are not the canonical link: BP1 is ∇_a C ⊙ σ'(z) = (1 − y/a) σ(z); central differences agree."""
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((7, 3)), rng.poisson(1.5, (7, 2)).astype(np.float64)
    net = pbp.MLP([3, 4, 2], activation="tanh", output_activation="softplus", loss="poisson", backend=backend, seed=1)
    assert pbp.gradcheck(net, X, Y) < 1e-6


def test_poisson_refuses_other_outputs_and_negative_targets():
    with pytest.raises(ValueError, match="loss='poisson' needs output_activation 'exp' or 'softplus'; got 'identity'"):
        pbp.MLP([2, 3, 1], output_activation="identity", loss="poisson")
    net = pbp.MLP([2, 3, 1], output_activation="exp", loss="poisson", backend="numpy", seed=0)
    X, y = np.ones((4, 2)), np.array([[1.0], [0.0], [-2.0], [3.0]])
    with pytest.raises(ValueError, match="Y must be non-negative for loss='poisson'.*minimum of -2"):
        net.fit(X, y, epochs=1, batch_size=2, lr=0.1, progress=False)
    # scikit-learn 1.9's own estimator does not check y and reports loss_ = nan; this one says why
    with pytest.raises(ValueError, match="out of the valid range of the loss 'poisson'.*y >= 0"):
        MLPRegressor(loss="poisson", max_iter=1, backend="numpy").fit(X, y[:, 0])


# -- a diverging loss, the stratified split: as scikit-learn reports them -------------------------
def test_diverging_loss_is_reported_as_scikit_learn_reports_it(backend):
    """scikit-learn trains on through a diverged loss: NaN losses (and validation scores) never count as
    "no improvement", so it runs to max_iter; early stopping then restores the best weights, without
    it the non-finite weights raise. Full batches: the same curve as scikit-learn's, NaN for NaN."""
    X, y = load_iris(return_X_y=True)
    kw = dict(hidden_layer_sizes=100, activation="identity", solver="sgd", learning_rate_init=1, max_iter=20,
              n_iter_no_change=10, random_state=0, shuffle=False)
    with np.errstate(all="ignore"):
        theirs = SkRegressor(early_stopping=True, **kw).fit(X, y)
        with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
            ours = MLPRegressor(early_stopping=True, backend=backend, **kw).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 20 and ours.t_ == theirs.t_
    assert np.array_equal(np.isnan(ours.loss_curve_), np.isnan(theirs.loss_curve_))
    assert np.array_equal(np.isnan(ours.validation_scores_), np.isnan(theirs.validation_scores_))
    finite = ~np.isnan(theirs.loss_curve_)
    np.testing.assert_allclose(np.asarray(ours.loss_curve_)[finite], np.asarray(theirs.loss_curve_)[finite], rtol=1e-9)
    assert isinstance(ours.validation_scores_[-1], float) and math.isnan(ours.validation_scores_[-1])
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_, rel=1e-9)
    assert max_param_diff(ours, theirs) < 1e-9  # the best (first epoch's) weights, finite
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        MLPRegressor(backend=backend, **kw).fit(X, y)


def test_early_stopping_split_is_scikit_learns_stratified_split():
    """scikit-learn stratifies on its boolean indicator y: the same split (the same validation scores)
    and, for a one-member class, the same error."""
    X, y = [[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1]
    with pytest.raises(ValueError) as theirs:
        SkClassifier(early_stopping=True).fit(X, y)
    with pytest.raises(ValueError) as ours:
        MLPClassifier(early_stopping=True, backend="numpy").fit(X, y)
    assert str(ours.value) == str(theirs.value) and "['True']" in str(ours.value)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 4))
    y = (X[:, 0] + 0.5 * rng.standard_normal(150) > 0.8).astype(int)  # unbalanced: stratification matters
    kw = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.05, early_stopping=True, max_iter=15,
              shuffle=False, random_state=0, validation_fraction=0.2)
    np.testing.assert_allclose(MLPClassifier(backend="numpy", **kw).fit(X, y).validation_scores_,
                               SkClassifier(**kw).fit(X, y).validation_scores_)


# -- scikit-learn's own tests ----------------------------------------------------------------------
UPSTREAM = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
IMPORT_LINE = "from sklearn.neural_network import MLPClassifier, MLPRegressor"

#: the tests of scikit-learn's file that fail here, and why: each reads or writes scikit-learn's private state
EXPECTED_FAILURES = {
    "test_fit": "writes coefs_, intercepts_ and scikit-learn's private training state (_coef_grads, "
                "_coef_velocity, ...) onto an unfitted estimator and expects partial_fit to continue from them; "
                "here the parameters live in net_, built at the first fit",
    "test_gradient": "calls the private _loss_grad_lbfgs",
    "test_learning_rate_warmstart": "reads the private _optimizer.learning_rate",
    "test_adaptive_learning_rate": "reads the private _optimizer.learning_rate",
}
#: the tests this work made pass (the others passed before)
MUST_PASS = ["test_mlp_vs_poisson_glm_equivalent", "test_mlp_diverging_loss", "test_early_stopping_stratified"]


@pytest.mark.skipif(SKLEARN_VERSION < (1, 7), reason=f"scikit-learn {sklearn.__version__}'s test file predates "
                    "loss='poisson' (1.7)")
@pytest.mark.skipif(not UPSTREAM.is_file(), reason=f"scikit-learn's test files are not installed ({UPSTREAM})")
def test_scikit_learns_own_test_file_passes(tmp_path):
    """sklearn/neural_network/tests/test_mlp.py of the installed scikit-learn, copied with only its import
    line changed, run by pytest in a fresh interpreter with scikit-learn's conftest (its
    global_random_seed); every test passes but the four that use scikit-learn's private attributes."""
    source = UPSTREAM.read_text()
    if source.count(IMPORT_LINE) != 1:
        pytest.skip(f"scikit-learn {sklearn.__version__}'s test_mlp.py no longer imports the estimators in one line")
    (tmp_path / "test_mlp.py").write_text(
        source.replace(IMPORT_LINE, "from portable_bp.sklearn import MLPClassifier, MLPRegressor"))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # rootdir and options here, not this project's
    report = tmp_path / "report.xml"
    src = str(Path(pbp.__file__).resolve().parent.parent)  # the portable_bp under test
    env = {k: v for k, v in os.environ.items() if k != "SKLEARN_TESTS_GLOBAL_RANDOM_SEED"}
    env.update(PYTHONPATH=os.pathsep.join([src, env.get("PYTHONPATH", "")]), PORTABLE_BP_BACKEND="numpy",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")  # small problems: no BLAS threads
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "sklearn.conftest", "-p", "no:cacheprovider", "-q",
                          f"--junitxml={report}", "test_mlp.py"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode in (0, 1) and report.is_file(), out.stdout[-3000:] + out.stderr[-3000:]
    outcome = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
        outcome[case.get("name")] = kinds.pop() if kinds else "passed"
    failed = sorted({name.split("[")[0] for name, o in outcome.items() if o in ("failure", "error")})
    expected = sorted(name for name in EXPECTED_FAILURES if any(n.split("[")[0] == name for n in outcome))
    assert failed == expected, f"failed: {failed}; expected to fail: {expected}\n{out.stdout[-4000:]}"
    for name in MUST_PASS:
        assert any(n.split("[")[0] == name and o == "passed" for n, o in outcome.items()), (name, outcome)
    passed = sum(o == "passed" for o in outcome.values())
    print(f"scikit-learn {sklearn.__version__}'s test_mlp.py: {passed} of {len(outcome)} pass")
    assert passed >= len(outcome) - len(expected) - sum(o == "skipped" for o in outcome.values())
    docs = (Path(__file__).resolve().parent.parent / "docs" / "sklearn.md").read_text(encoding="utf-8")
    version = re.search(r"Under\s+scikit-learn ([\d.]+)", docs)
    assert version, "docs/sklearn.md no longer gives the count of scikit-learn's own tests that pass"
    if version.group(1) == sklearn.__version__:  # the count in the docs is this one
        assert f"| now | {passed} of {len(outcome)} |" in docs
