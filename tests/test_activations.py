"""The activation tables: every σ with its σ', checked by central differences on every backend,
against PyTorch's functional versions where torch is installed, and stable at extreme z."""

import warnings

import numpy as np
import pytest

import portable_bp as pbp
from portable_bp import _backend, datasets
from portable_bp.activations import ACTIVATIONS, ALIASES, DERIVATIVES

ELEMENTWISE = sorted(DERIVATIVES)
NEW = ["leaky_relu", "elu", "softplus", "gelu"]


def test_tables_agree():
    assert set(DERIVATIVES) == set(ACTIVATIONS) - {"softmax"}
    assert set(NEW) <= set(DERIVATIVES)
    assert ALIASES["logistic"] == "sigmoid"


@pytest.mark.parametrize("activation", ELEMENTWISE)
def test_gradcheck_hidden_and_output(backend, activation):
    """BP1 (σ' on the output, quadratic cost) and BP2 (σ' on the hidden layers) by central differences."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((7, 3)), rng.standard_normal((7, 2))
    net = pbp.MLP([3, 5, 4, 2], activation=activation, output_activation=activation, loss="mse",
                  backend=backend, seed=1)
    assert pbp.gradcheck(net, X, Y) < 1e-6


@pytest.mark.parametrize("activation", ELEMENTWISE)
def test_derivative_matches_central_differences_of_the_function(activation):
    xp = _backend.namespace("numpy")
    z = np.linspace(-6.0, 6.0, 241) + 1e-3  # off the kink at 0
    sigma, prime = ACTIVATIONS[activation], DERIVATIVES[activation]
    h = 1e-6
    numeric = (np.asarray(sigma(xp, xp.asarray(z + h))) - np.asarray(sigma(xp, xp.asarray(z - h)))) / (2 * h)
    analytic = np.asarray(prime(xp, xp.asarray(z), sigma(xp, xp.asarray(z))))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
# network.py's 1/(1+e^-z) warns; e^z overflows above ~709 by its nature (the Poisson loss computes its cost from z)
@pytest.mark.parametrize("activation", [a for a in ELEMENTWISE if a not in ("sigmoid", "exp")])
def test_extreme_inputs_stay_finite_without_warnings(activation, dtype):
    xp = _backend.namespace("numpy")
    z = xp.asarray([-1e4, -80.0, -1.0, 0.0, 1.0, 80.0, 1e4], dtype=getattr(xp, dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / invalid-value warnings
        a = ACTIVATIONS[activation](xp, z)
        d = DERIVATIVES[activation](xp, z, a)
    assert np.all(np.isfinite(np.asarray(a))) and np.all(np.isfinite(np.asarray(d)))


@pytest.mark.skipif(_backend.unavailable_reason("torch") is not None, reason="torch is not installed here")
@pytest.mark.parametrize("activation", ELEMENTWISE)
def test_values_and_derivatives_match_torch(activation):
    import torch
    import torch.nn.functional as F

    reference = {
        "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu, "identity": lambda z: z,
        "leaky_relu": lambda z: F.leaky_relu(z, 0.01), "elu": lambda z: F.elu(z, alpha=1.0),
        "softplus": lambda z: F.softplus(z, beta=1.0, threshold=1e9),  # torch linearises above 20 by default
        "gelu": lambda z: F.gelu(z, approximate="tanh"), "exp": torch.exp,
    }[activation]
    xp = _backend.namespace("torch")
    z = torch.linspace(-30.0, 30.0, 1201, dtype=torch.float64) + 1e-3
    zt = z.clone().requires_grad_(True)
    expected = reference(zt)
    (grad,) = torch.autograd.grad(expected.sum(), zt)
    a = ACTIVATIONS[activation](xp, z)
    torch.testing.assert_close(a, expected.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(DERIVATIVES[activation](xp, z, a), grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", NEW + ["logistic"])
def test_new_activations_train(activation):
    X, y = datasets.moons(n=200, noise=0.1, seed=0)
    net = pbp.MLP([2, 16, 1], activation=activation, output_activation="sigmoid", loss="cross_entropy",
                  init="glorot_uniform", backend="numpy", seed=0)
    history = net.fit(X, y, epochs=60, batch_size=20, optimizer="adam", lr=0.02, seed=0, progress=False)
    assert history["accuracy"][-1] > 0.85
