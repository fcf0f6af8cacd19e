"""net.to_onnx(): onnx.checker passes, and onnxruntime (an independent implementation of every
operator) gives net.predict(X) to 1e-5 in float32 and 1e-11 in float64, for networks trained on
every CPU backend with every activation."""

import json
import sys

import numpy as np
import pytest

import portable_bp as pbp
from portable_bp.activations import ACTIVATIONS, DERIVATIVES

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = {"float32": 1e-5, "float64": 1e-11}
# every activation a hidden layer may have; exp is an output (the Poisson log link): three SGD steps
# through exp hidden units at these inputs overflow, so it is tested as an output below
HIDDEN = sorted(set(DERIVATIVES) - {"exp"})


def run(model, X):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"X": X})
    return out


def data(dtype, n=40, d=3, k=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * 2.0
    X[:4] *= 15.0  # a few large inputs: softplus, elu, sigmoid far into their tails
    Y = np.eye(k)[rng.integers(0, k, n)]
    return X.astype(dtype), Y.astype(dtype)


def trained(backend, activation, dtype, steps=3):
    """A network trained (a few SGD steps) on ``backend``; a softmax output, or the hidden activation
    again on the output layer (every activation is then also an output activation here)."""
    X, Y = data(dtype)
    output = "softmax" if activation in ("identity", "sigmoid") else activation
    loss = "cross_entropy" if output == "softmax" else "mse"
    init = "he_normal" if activation in ("relu", "leaky_relu", "elu", "gelu") else "scaled_normal"
    net = pbp.MLP([3, 6, 5, 2], activation=activation, output_activation=output, loss=loss, init=init,
                  backend=backend, dtype=dtype, seed=1)
    before = net.params_numpy()[0][0]
    for _ in range(steps):
        net.update(X, Y, 0.05)
    assert not np.array_equal(net.params_numpy()[0][0], before)  # trained there
    return net, X


def check(net, X, dtype):
    model = net.to_onnx()
    onnx.checker.check_model(model, full_check=True)
    got = run(model, X)
    want = pbp.to_numpy(net.predict(X))
    assert got.dtype == np.dtype(dtype) and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype])
    np.testing.assert_allclose(got, pbp.to_numpy(net.forward(X)[1][-1]), rtol=0, atol=TOL[dtype])
    return float(np.max(np.abs(got - want)))


#: every activation on every backend, half of them in each dtype (a JAX network costs a compilation)
PAIRS = [(a, ("float32", "float64")[i % 2]) for i, a in enumerate(HIDDEN)]


@pytest.mark.parametrize("activation, dtype", PAIRS)
def test_onnxruntime_equals_predict_on_every_backend(backend, activation, dtype):
    check(*trained(backend, activation, dtype), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", HIDDEN)
def test_onnxruntime_equals_predict_in_both_dtypes(activation, dtype):
    check(*trained("numpy", activation, dtype, steps=10), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output_activation", sorted(ACTIVATIONS))
def test_every_output_activation(output_activation, dtype):
    X, _ = data(dtype)
    net = pbp.MLP([3, 6, 2], activation="tanh", output_activation=output_activation, dtype=dtype, seed=2)
    np.testing.assert_allclose(run(net.to_onnx(), X), net.predict(X), rtol=0, atol=TOL[dtype])


def test_formulas_against_numpy_written_from_the_table():
    """An oracle independent of both sides: the activations written here from activations.py's table,
    on a one-layer identity-weight network, at values far into each tail."""
    z = np.array([[-60.0, -20.0, -3.0, -0.5, 0.0, 0.5, 3.0, 20.0, 60.0]])
    c, k = np.sqrt(2 / np.pi), 0.044715
    formulas = {
        "sigmoid": 1 / (1 + np.exp(-z)), "tanh": np.tanh(z), "relu": np.maximum(z, 0), "identity": z,
        "leaky_relu": np.where(z > 0, z, 0.01 * z), "elu": np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
        "softplus": np.logaddexp(0, z), "exp": np.exp(z), "gelu": 0.5 * z * (1 + np.tanh(c * (z + k * z**3))),
        "softmax": np.exp(z - z.max()) / np.exp(z - z.max()).sum(),
    }
    n = z.shape[1]
    for name, want in formulas.items():
        net = pbp.MLP.from_params([np.eye(n)], [np.zeros(n)], activation="tanh", output_activation=name)
        np.testing.assert_allclose(run(net.to_onnx(), z), want, rtol=1e-15, atol=1e-15, err_msg=name)


def test_dynamic_batch_no_bias_and_metadata(tmp_path):
    net = pbp.MLP([3, 4, 1], activation="elu", output_activation="sigmoid", loss="cross_entropy", bias=False,
                  seed=3)
    path = tmp_path / "net.onnx"
    model = net.to_onnx(path, opset=13)
    loaded = onnx.load(str(path))
    assert loaded == model and loaded.opset_import[0].version == 13
    assert not any(i.name.startswith("b") for i in loaded.graph.initializer)
    assert [n.op_type for n in loaded.graph.node].count("Gemm") == 2
    for n in (1, 7, 300):
        X, _ = data("float64", n=n)
        np.testing.assert_allclose(run(loaded, X), net.predict(X), rtol=0, atol=1e-11)
    props = {p.key: p.value for p in loaded.metadata_props}
    assert json.loads(props["portable_bp.sizes"]) == [3, 4, 1]
    assert (props["portable_bp.activation"], props["portable_bp.output_activation"]) == ("elu", "sigmoid")
    assert props["portable_bp.dtype"] == "float64" and props["portable_bp.version"] == pbp.__version__
    dim = loaded.graph.input[0].type.tensor_type.shape.dim
    assert dim[0].dim_param == "batch" and dim[1].dim_value == 3


def test_overwrite_is_atomic_and_bad_arguments_are_named(tmp_path, monkeypatch):
    net = pbp.MLP([2, 3, 1], seed=0)
    path = tmp_path / "net.onnx"
    net.to_onnx(path)
    before = path.read_bytes()
    from portable_bp import _atomic

    def broken(f):
        f.write(b"half")
        raise OSError("disk full")

    real_write = _atomic.write
    monkeypatch.setattr(_atomic, "write", lambda p, w: real_write(p, broken))
    with pytest.raises(OSError, match="disk full"):
        pbp.MLP([2, 5, 1], seed=1).to_onnx(path)
    assert path.read_bytes() == before
    monkeypatch.undo()
    with pytest.raises(ValueError, match="opset"):
        net.to_onnx(opset=7)
    with pytest.raises(TypeError, match="opset"):
        net.to_onnx(opset="17")
    from portable_bp.export import to_onnx

    with pytest.raises(TypeError, match="net must be a portable_bp.MLP"):
        to_onnx("not a network")


def test_missing_onnx_gives_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "portable_bp\[onnx\]"'):
        pbp.MLP([2, 3, 1], seed=0).to_onnx()


def test_dropout_is_training_only():
    X, Y = data("float64")
    net = pbp.MLP([3, 8, 8, 2], activation="relu", output_activation="softmax", loss="cross_entropy", dropout=0.5,
                  init="he_normal", seed=4)
    net.fit(X, Y, epochs=2, batch_size=10, optimizer="adam", lr=0.01, seed=0, progress=False)
    model = net.to_onnx()
    assert not any(n.op_type == "Dropout" for n in model.graph.node)
    np.testing.assert_allclose(run(model, X), net.predict(X), rtol=0, atol=1e-11)
