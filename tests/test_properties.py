"""Property-based tests (hypothesis) over random architectures, activations, costs, kernels, batch
sizes and dtypes, on every backend; and over random malformed input at every entry point.

Profiles (tests/conftest.py): "ci" by default (derandomized, tens of seconds), "deep" with
``HYPOTHESIS_PROFILE=deep`` or ``nox -s props_deep``. ``pytest --hypothesis-show-statistics``
prints how many cases each property ran.
"""

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, event, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import portable_bp as pbp
from conftest import selected_backends
from helpers import params_bits, params_finite
from portable_bp import _backend
from portable_bp.activations import ACTIVATIONS, DERIVATIVES
from portable_bp.kernels import KERNELS
from portable_bp.losses import LOSSES, OUTPUTS

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's overflow warnings on extreme data

ALL_HEADS = [(out, loss) for out in ACTIVATIONS for loss in LOSSES if out in OUTPUTS.get(loss, (out,))]
#: output/cost pairs with a smooth cost (l1 and relu have kinks where central differences fail)
SMOOTH_HEADS = [("sigmoid", "mse"), ("identity", "mse"), ("tanh", "mse"), ("softmax", "mse"),
                ("sigmoid", "cross_entropy"), ("softmax", "cross_entropy"), ("exp", "poisson")]
SMOOTH_HIDDEN = ["sigmoid", "tanh", "identity"]
#: exp is an output (the Poisson loss's log link): as a hidden layer of a random deep network it overflows
HIDDEN = sorted(set(DERIVATIVES) - {"exp"})

#: JAX compiles every new shape (eager ops and the jitted step, about a second per random network on
#: a loaded 2-core machine), so its variants of the shape-hungry properties run a fifth of the cases.
JAX_BUDGET = settings(max_examples=max(3, settings.default.max_examples // 5))


def not_jax(backend):
    if backend == "jax":
        pytest.skip("JAX runs this property in its *_jax variant, with a smaller budget")


@pytest.fixture
def jax_backend(request):
    if "jax" not in selected_backends(request.config):
        pytest.skip("jax not among the selected backends")
    if _backend.unavailable_reason("jax"):
        pytest.skip(f"backend 'jax' unavailable here: {_backend.unavailable_reason('jax')}")
    return "jax"


@st.composite
def specs(draw, smooth=False, dtypes=("float64", "float32"), max_width=16):
    """A random network and a batch for it: 1-4 layers of 1-16 units, any valid activation/cost."""
    n_layers = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, max_width), min_size=n_layers + 1, max_size=n_layers + 1))
    hidden = draw(st.sampled_from(SMOOTH_HIDDEN if smooth else HIDDEN))
    output, loss = draw(st.sampled_from(SMOOTH_HEADS if smooth else ALL_HEADS))
    return dict(
        sizes=sizes,
        activation=hidden,
        output_activation=output,
        loss=loss,
        bias=draw(st.booleans()),
        kernel=draw(st.sampled_from(["matmul"] if smooth else sorted(KERNELS))),
        dtype=draw(st.sampled_from(dtypes)),
        seed=draw(st.integers(0, 2**32 - 1)),
        n=draw(st.integers(1, 12)),
        data_seed=draw(st.integers(0, 2**32 - 1)),
    )


def build(spec, backend):
    if spec["kernel"] == "einsum" and backend == "array_api_strict":
        spec = dict(spec, kernel="matmul")  # the standard has no einsum (tested elsewhere)
    keys = ("activation", "output_activation", "loss", "bias", "kernel", "dtype", "seed")
    return pbp.MLP(spec["sizes"], backend=backend, **{k: spec[k] for k in keys})


def data(spec):
    """X ~ N(0, 1) and targets that suit the output activation (and stay in [0, 1] for cross-entropy)."""
    rng = np.random.default_rng(spec["data_seed"])
    n, n_in, n_out, out = spec["n"], spec["sizes"][0], spec["sizes"][-1], spec["output_activation"]
    X = rng.standard_normal((n, n_in))
    if spec["loss"] == "poisson":
        Y = rng.poisson(2.0, (n, n_out)).astype(np.float64)
    elif out == "softmax":
        Y = rng.dirichlet(np.ones(n_out), size=n) if n_out > 1 else np.ones((n, 1))
    elif out == "sigmoid":
        Y = rng.uniform(0.05, 0.95, (n, n_out))
    elif out == "tanh":
        Y = rng.uniform(-0.9, 0.9, (n, n_out))
    elif out == "relu":
        Y = np.abs(rng.standard_normal((n, n_out)))
    else:
        Y = rng.standard_normal((n, n_out))
    return X, Y


def host(a):
    return None if a is None else pbp.to_numpy(a)


# -- shapes ---------------------------------------------------------------------------------------
@given(spec=specs())
def test_backprop_shapes_match_parameters(backend, spec):
    not_jax(backend)
    check_shapes(backend, spec)


@JAX_BUDGET
@given(spec=specs())
def test_backprop_shapes_match_parameters_jax(jax_backend, spec):
    check_shapes(jax_backend, spec)


def check_shapes(backend, spec):
    note(spec)
    net = build(spec, backend)
    X, Y = data(spec)
    zs, acts = net.forward(X)
    assert [tuple(a.shape) for a in acts] == [(spec["n"], w) for w in spec["sizes"]]
    assert [tuple(z.shape) for z in zs] == [(spec["n"], w) for w in spec["sizes"][1:]]
    gw, gb = net.backprop(X, Y)
    for g, W in zip(gw, net.weights):
        assert tuple(g.shape) == tuple(W.shape) and g.dtype == net.dtype
        assert np.isfinite(host(g)).all()
    for g, b in zip(gb, net.biases):
        assert (g is None) == (b is None)
        if b is not None:
            assert tuple(g.shape) == tuple(b.shape) == (b.shape[0], 1) and g.dtype == net.dtype
    assert math.isfinite(net.cost(X, Y))
    before = [tuple(W.shape) for W in net.weights]
    net.update(X, Y, lr=0.1)
    assert [tuple(W.shape) for W in net.weights] == before and params_finite(net)


# -- gradient check -------------------------------------------------------------------------------
@given(spec=specs(smooth=True, dtypes=("float64",)))
def test_gradcheck_smooth_float64(backend, spec):
    not_jax(backend)
    check_gradient(backend, spec)


@JAX_BUDGET
@given(spec=specs(smooth=True, dtypes=("float64",), max_width=8))  # eager JAX: ~1 ms per op, 2 costs per parameter
def test_gradcheck_smooth_float64_jax(jax_backend, spec):
    check_gradient(jax_backend, spec)


def check_gradient(backend, spec):
    note(spec)
    net = build(spec, backend)
    X, Y = data(spec)
    # Central differences with ε = 1e-7 carry rounding noise of about ulp·|ΣC|/ε per parameter. When
    # that noise, relative to ‖∇C‖, reaches the 1e-6 tolerance (vanishing gradients: a chain of
    # 1-unit layers, saturated units), the check cannot resolve the gradient: such draws are
    # rejected (hypothesis counts them as invalid). Over 600 draws the measured error stayed below
    # 0.6 × this estimate.
    gw, gb = net.backprop(X, Y)
    grads = np.concatenate([host(g).ravel() for g in gw + gb if g is not None])
    noise = 1.1e-16 * abs(net.cost(X, Y) * spec["n"]) / 1e-7 * math.sqrt(grads.size)
    resolvable = noise < 1e-6 * np.linalg.norm(grads)
    event("gradient resolvable by finite differences" if resolvable else "ill-conditioned: rejected")
    assume(resolvable or noise == 0.0)
    err = pbp.gradcheck(net, X, Y)
    assert err < 1e-6, f"relative gradient error {err:.3g}"


# -- every backend agrees with numpy --------------------------------------------------------------
def assert_agree(actual, desired, dtype, what):
    a, d = host(actual), host(desired)
    assert a.shape == d.shape and a.dtype == d.dtype, what
    rtol = 1e-12 if dtype == "float64" else 1e-5
    scale = max(float(np.max(np.abs(d), initial=0.0)), 1.0)  # data and weights are O(1)
    dev = float(np.max(np.abs(a.astype(np.float64) - d.astype(np.float64)), initial=0.0))
    assert dev <= rtol * scale, f"{what}: deviation {dev:.3g} > {rtol:g} x {scale:.3g}"


@given(spec=specs())
def test_every_backend_agrees_with_numpy(backend, spec):
    if backend == "numpy":
        pytest.skip("numpy is the reference")
    not_jax(backend)
    check_agreement(backend, spec)


@JAX_BUDGET
@given(spec=specs())
def test_every_backend_agrees_with_numpy_jax(jax_backend, spec):
    check_agreement(jax_backend, spec)


def check_agreement(backend, spec):
    note(spec)
    net, ref = build(spec, backend), build(spec, "numpy")
    assert params_bits(net) == params_bits(ref)  # the same initial network
    X, Y = data(spec)
    dtype = spec["dtype"]
    assert_agree(net.predict(X), ref.predict(X), dtype, "output")
    (gw, gb), (rw, rb) = net.backprop(X, Y), ref.backprop(X, Y)
    for l in range(len(gw)):
        assert_agree(gw[l], rw[l], dtype, f"dC/dW{l + 1}")
        if gb[l] is not None:
            assert_agree(gb[l], rb[l], dtype, f"dC/db{l + 1}")
    c, r = net.cost(X, Y), ref.cost(X, Y)
    assert abs(c - r) <= (1e-12 if dtype == "float64" else 1e-5) * max(abs(r), 1.0)
    net.update(X, Y, 0.5)
    ref.update(X, Y, 0.5)
    for a, b in zip(net.weights, ref.weights):
        assert_agree(a, b, dtype, "weights after one step")


# -- checkpoints ----------------------------------------------------------------------------------
@st.composite
def raw_params(draw):
    dtype = draw(st.sampled_from(["float64", "float32"]))
    width = 64 if dtype == "float64" else 32
    n_layers = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 6), min_size=n_layers + 1, max_size=n_layers + 1))
    values = st.floats(allow_nan=False, allow_infinity=False, width=width)  # subnormals, -0.0, extremes
    ws = [draw(hnp.arrays(dtype, (n, m), elements=values)) for m, n in zip(sizes[:-1], sizes[1:])]
    bs = [draw(st.none() | hnp.arrays(dtype, (n, 1), elements=values)) for n in sizes[1:]]
    return dtype, ws, bs


@given(params=raw_params())
def test_checkpoint_round_trip_is_bit_exact(backend, other_backends, params):
    dtype, ws, bs = params
    net = pbp.MLP.from_params(ws, bs, activation="identity", backend=backend, dtype=dtype)
    assert params_bits(net) == [None if p is None else (p.dtype.str, p.shape, p.tobytes()) for p in ws + bs]
    with tempfile.TemporaryDirectory() as d:
        path = net.save(Path(d) / "m.npz")
        for target in other_backends:
            assert params_bits(pbp.load(path, backend=target)) == params_bits(net), target


# -- malformed input ------------------------------------------------------------------------------
def _x_corruptions(n, n_in):
    ok = np.ones((n, n_in))
    nan_at = st.tuples(st.integers(0, n - 1), st.integers(0, n_in - 1), st.sampled_from([np.nan, np.inf, -np.inf]))
    return st.one_of(
        nan_at.map(lambda t: np.where((np.arange(n)[:, None] == t[0]) & (np.arange(n_in) == t[1]), t[2], ok)),
        st.integers(1, 5).map(lambda d: np.ones((n, n_in + d))),
        st.just(np.ones((0, n_in))),
        st.just(np.ones((n, n_in, 1))),
        st.just(np.float64(1.0)),
        st.just(ok.astype(np.complex128)),
        st.just(np.full((n, n_in), "a")),
        st.sampled_from([None, {"x": 1}, "data", [[1.0] * (n_in + 1), [1.0]], object()]),
        hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=4, max_side=4)).filter(
            lambda a: not (a.ndim == 2 and a.shape[1] == n_in and a.size and np.isfinite(a).all())
            and not (a.ndim == 1 and a.shape == (n_in,) and np.isfinite(a).all())
        ),
    )


def _y_corruptions(n, n_out, loss):
    bad = [
        np.ones((n + 1, n_out)),
        np.ones((n, n_out + 1)),
        np.full((n, n_out), np.nan),
        np.ones((n, n_out, 1)),
        np.float64(0.0),
        np.ones((n, n_out), dtype=np.complex64),
        np.array(["y"] * n),
        np.ones((0, n_out)),
    ]
    if loss == "cross_entropy":
        bad += [np.full((n, n_out), 1.5), np.full((n, n_out), -0.5)]
        if n_out > 1:
            bad += [np.full(n, n_out), np.full(n, -1)]  # class labels out of range
    return st.sampled_from(bad)


@st.composite
def bad_calls(draw, spec):
    """(description, call(net)) where exactly one argument of one entry point is malformed."""
    n, n_in, n_out = spec["n"], spec["sizes"][0], spec["sizes"][-1]
    X, Y = data(spec)
    target = draw(st.sampled_from(["X", "Y", "lr", "fit"]))
    if target == "X":
        Xb = draw(_x_corruptions(n, n_in))
        entry = draw(st.sampled_from(["forward", "predict", "backprop", "cost", "accuracy", "update", "fit",
                                      "gradcheck"]))
        calls = {
            "forward": lambda net: net.forward(Xb), "predict": lambda net: net.predict(Xb),
            "backprop": lambda net: net.backprop(Xb, Y), "cost": lambda net: net.cost(Xb, Y),
            "accuracy": lambda net: net.accuracy(Xb, Y), "update": lambda net: net.update(Xb, Y, 0.1),
            "fit": lambda net: net.fit(Xb, Y, epochs=1, batch_size=1, lr=0.1, progress=False),
            "gradcheck": lambda net: pbp.gradcheck(net, Xb, Y),
        }
        return f"{entry}(X={Xb!r:.80})", calls[entry]
    if target == "Y":
        Yb = draw(_y_corruptions(n, n_out, spec["loss"]))
        entry = draw(st.sampled_from(["backprop", "cost", "update", "fit", "gradcheck"]))
        calls = {
            "backprop": lambda net: net.backprop(X, Yb), "cost": lambda net: net.cost(X, Yb),
            "update": lambda net: net.update(X, Yb, 0.1),
            "fit": lambda net: net.fit(X, Yb, epochs=1, batch_size=1, lr=0.1, progress=False),
            "gradcheck": lambda net: pbp.gradcheck(net, X, Yb),
        }
        return f"{entry}(Y={Yb!r:.80})", calls[entry]
    if target == "lr":
        lr = draw(st.sampled_from([0, -0.1, 0.0, float("nan"), float("inf"), -float("inf"), "0.1", None, True,
                                   [0.1], complex(0.1, 0)]))
        if draw(st.booleans()):
            return f"update(lr={lr!r})", lambda net: net.update(X, Y, lr)
        return f"fit(lr={lr!r})", lambda net: net.fit(X, Y, epochs=1, batch_size=1, lr=lr, progress=False)
    key, value = draw(st.sampled_from([
        ("epochs", 0), ("epochs", -1), ("epochs", 1.5), ("epochs", None), ("epochs", True),
        ("batch_size", 0), ("batch_size", n + 1), ("batch_size", 2.0), ("batch_size", "4"),
        ("shuffle", "no"), ("seed", -1), ("seed", 1.5), ("callback", 42),
        ("validation_split", 1.0), ("validation_split", 0.0), ("validation_data", (X,)),
        ("patience", 0), ("patience", 3),  # patience without validation data
    ]))
    options = dict(epochs=1, batch_size=1, lr=0.1, progress=False) | {key: value}
    return f"fit({key}={value!r})", lambda net: net.fit(X, Y, **options)


@given(data_=st.data(), spec=specs(dtypes=("float64", "float32"), max_width=6))
def test_malformed_input_is_a_clear_error_and_changes_nothing(backend, data_, spec):
    net = build(spec, backend)
    before = params_bits(net)
    what, call = data_.draw(bad_calls(spec))
    note(what)
    with pytest.raises((ValueError, TypeError)) as info:
        call(net)
    assert len(str(info.value)) > 10, f"{what}: message {str(info.value)!r}"
    assert params_bits(net) == before and params_finite(net)


EXTREME = dict(
    values=hnp.arrays(np.float64, st.tuples(st.integers(1, 8), st.just(3)),
                      elements=st.floats(allow_nan=False, allow_infinity=False)),
    head=st.sampled_from(ALL_HEADS),
    lr=st.floats(1e-3, 1e300),
)


@given(**EXTREME)
def test_extreme_finite_data_never_leaves_nan_weights(backend, values, head, lr):
    """Valid but wild numbers (up to ±1.8e308, any lr): training either works or stops with a
    FloatingPointError; the parameters are finite either way."""
    not_jax(backend)
    check_extreme(backend, values, head, lr)


@JAX_BUDGET
@given(**EXTREME)
def test_extreme_finite_data_never_leaves_nan_weights_jax(jax_backend, values, head, lr):
    check_extreme(jax_backend, values, head, lr)


def check_extreme(backend, values, head, lr):
    output, loss = head
    net = pbp.MLP([3, 4, 2], activation="relu", output_activation=output, loss=loss, backend=backend, seed=0)
    Y = np.clip(values[:, :2], 0, 1) if loss == "cross_entropy" else values[:, :2]
    Y = np.abs(Y) if loss == "poisson" else Y
    for call in (lambda: net.update(values, Y, lr),
                 lambda: net.fit(values, Y, epochs=2, batch_size=1, lr=lr, progress=False)):
        try:
            call()
        except FloatingPointError as exc:
            assert "learning rate" in str(exc)
        assert params_finite(net)


# -- constructors ---------------------------------------------------------------------------------
@given(sizes=st.one_of(
    st.lists(st.integers(-3, 0), min_size=2, max_size=4).map(lambda s: [2] + s),
    st.lists(st.integers(1, 4), max_size=1),
    st.lists(st.floats(0.5, 3.5), min_size=2, max_size=3),
    st.sampled_from(["2,3,1", None, 5, [2, None], [2, True], {2: 3}]),
))
def test_malformed_sizes(sizes):
    with pytest.raises((ValueError, TypeError)) as info:
        pbp.MLP(sizes)
    assert "sizes" in str(info.value) or "width" in str(info.value)


@given(W=st.one_of(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=4, max_side=3)).filter(
        lambda a: a.ndim != 2 or not np.isfinite(a).all() or a.size == 0),
    st.sampled_from([None, "W", [[1.0, 2.0], [3.0]], np.ones((2, 2), dtype=complex)]),
))
def test_malformed_from_params(W):
    with pytest.raises((ValueError, TypeError)) as info:
        pbp.MLP.from_params([W])
    assert str(info.value)


@given(blob=st.binary(max_size=300), keep=st.integers(0, 3000))
def test_random_bytes_and_truncations_never_load(blob, keep):
    """Random bytes, and random truncations or byte splices of a real checkpoint: CheckpointError."""
    with tempfile.TemporaryDirectory() as d:
        good = pbp.MLP([2, 3, 1], seed=0).save(Path(d) / "good.npz")
        data = Path(good).read_bytes()
        for payload in (blob, data[: keep % len(data)], data[: keep % len(data)] + blob):
            assume(payload != data)
            bad = Path(d) / "bad.npz"
            bad.write_bytes(payload)
            with pytest.raises(pbp.CheckpointError, match="bad.npz"):
                pbp.load(bad)
