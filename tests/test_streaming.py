"""Data larger than memory: fit, predict, cost and accuracy on NumPy memory maps and Dask arrays.

The streamed fit must give the same network as the in-memory fit (same batches, same order), and
its peak memory must stay at a few blocks of rows while the data is many times larger.
"""

import tracemalloc

import numpy as np
import pytest

import portable_bp as pbp
from helpers import assert_close

FIT = dict(epochs=2, batch_size=20, lr=0.3, seed=5, progress=False)


def make(backend, **kw):
    return pbp.MLP([5, 8, 3], activation="tanh", output_activation="softmax", loss="cross_entropy",
                   backend=backend, seed=1, **kw)


@pytest.fixture
def files(tmp_path):
    """X (1000, 5) float64 and integer labels (1000,) saved to .npy and mapped read-only."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((1000, 5)), rng.integers(0, 3, 1000)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    Xm, ym = np.load(tmp_path / "X.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r")
    assert isinstance(Xm, np.memmap)
    return X, y, Xm, ym


def assert_same_network(a, b, rtol=1e-12):
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        assert_close(q, p, rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("shuffle", [True, False])
def test_memmap_fit_equals_in_memory(backend, files, shuffle):
    X, y, Xm, ym = files
    mem, stream = make(backend), make(backend)
    stream.stream_rows = 90  # blocks of 4 batches of 20, and a last block of 10 rows: 1000 = 11 x 80 + 120
    h_mem = mem.fit(X, y, shuffle=shuffle, **FIT)
    h_stream = stream.fit(Xm, ym, shuffle=shuffle, **FIT)
    assert_same_network(mem, stream)
    np.testing.assert_allclose(h_stream["cost"], h_mem["cost"], rtol=1e-12)
    np.testing.assert_allclose(h_stream["accuracy"], h_mem["accuracy"], rtol=1e-12)
    assert stream.cost(Xm, ym) == pytest.approx(mem.cost(X, y), rel=1e-12)
    assert stream.accuracy(Xm, ym) == pytest.approx(mem.accuracy(X, y), rel=1e-12)


def test_memmap_X_with_in_memory_one_hot_Y(backend, files):
    X, y, Xm, _ = files
    Y = np.eye(3)[y]
    mem, stream = make(backend), make(backend)
    stream.stream_rows = 64
    mem.fit(X, Y, **FIT)
    stream.fit(Xm, Y, **FIT)
    assert_same_network(mem, stream)


def test_memmap_predict(backend, files):
    X, _, Xm, _ = files
    net = make(backend)
    net.stream_rows = 300
    p = net.predict(Xm)
    assert pbp._backend.same_namespace(p, net.xp) and p.shape == (1000, 3)
    assert_close(p, net.predict(X))


def test_dask_fit_and_predict(backend, files):
    da = pytest.importorskip("dask.array")
    X, y, Xm, ym = files
    Xd, yd = da.from_array(Xm, chunks=(128, 5)), da.from_array(ym, chunks=128)
    mem, stream = make(backend), make(backend)
    stream.stream_rows = 100
    h_mem = mem.fit(X, y, **FIT)
    h_stream = stream.fit(Xd, yd, **FIT)
    assert_same_network(mem, stream)
    np.testing.assert_allclose(h_stream["cost"], h_mem["cost"], rtol=1e-12)
    p = stream.predict(Xd)
    assert isinstance(p, da.Array), type(p)  # lazy: nothing computed yet
    assert p.shape == (1000, 3) and p.chunks[0] == Xd.chunks[0]
    assert p.dtype == np.float64
    assert_close(p.compute(), mem.predict(X))
    assert stream.accuracy(Xd, yd) == pytest.approx(mem.accuracy(X, y), rel=1e-12)


def test_dask_predict_float32_and_column_chunks(backend):
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((257, 5))
    net = make(backend, dtype="float32")
    p = net.predict(da.from_array(X, chunks=(100, 2)))  # chunks split the features too
    assert p.dtype == np.float32 and p.chunks == ((100, 100, 57), (3,))
    assert_close(p.compute(), net.predict(X), dtype="float32")


def test_bad_out_of_core_data_is_refused_before_reading(tmp_path):
    net = make("numpy")
    np.save(tmp_path / "wide.npy", np.zeros((50, 6)))
    np.save(tmp_path / "cube.npy", np.zeros((50, 5, 1)))
    np.save(tmp_path / "c.npy", np.zeros((50, 5), dtype=complex))
    wide = np.load(tmp_path / "wide.npy", mmap_mode="r")
    cube = np.load(tmp_path / "cube.npy", mmap_mode="r")
    cplx = np.load(tmp_path / "c.npy", mmap_mode="r")
    y = np.zeros(50, dtype=int)
    kw = dict(epochs=1, batch_size=10, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="6 features per sample but the network's input layer has 5"):
        net.fit(wide, y, **kw)
    with pytest.raises(ValueError, match="must be 2-D"):
        net.fit(cube, y, **kw)
    with pytest.raises(TypeError, match="real numeric"):
        net.fit(cplx, y, **kw)
    with pytest.raises(ValueError, match="X has 50 samples but Y has 49"):
        net.fit(np.load(tmp_path / "cube.npy", mmap_mode="r")[:, :, 0], y[:49], **kw)
    with pytest.raises(ValueError, match="6 features"):
        net.predict(wide)


def test_bad_values_found_mid_stream_keep_the_parameters(tmp_path, files):
    X, y, _, _ = files
    X = X.copy()
    X[700, 2] = np.nan
    bad_labels = y.copy()
    bad_labels[900] = 7
    np.save(tmp_path / "Xnan.npy", X)
    np.save(tmp_path / "ybad.npy", bad_labels)
    Xnan = np.load(tmp_path / "Xnan.npy", mmap_mode="r")
    ybad = np.load(tmp_path / "ybad.npy", mmap_mode="r")
    Xok = np.load(tmp_path / "X.npy", mmap_mode="r")
    for Xs, ys, message in ((Xnan, y, "NaN or infinity"), (Xok, ybad, r"class labels in Y must lie in \[0, 2\]")):
        net = make("numpy")
        net.stream_rows = 100
        before = [W.copy() for W in net.weights]
        with pytest.raises(ValueError, match=message) as info:
            net.fit(Xs, ys, **FIT)
        assert "keeps the parameters" in str(info.value)
        for W0, W in zip(before, net.weights):
            np.testing.assert_array_equal(W, W0)
    with pytest.raises(ValueError, match="NaN or infinity"):
        make("numpy").predict(Xnan)


def test_dask_of_unknown_length_is_refused():
    da = pytest.importorskip("dask.array")
    X = da.from_array(np.random.default_rng(0).standard_normal((40, 5)), chunks=(10, 5))
    X = X[X[:, 0] > 0]  # data-dependent length: chunk sizes are nan
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        make("numpy").fit(X, np.zeros(40), epochs=1, batch_size=4, lr=0.1, progress=False)


# -- peak memory ----------------------------------------------------------------------------------
N, D, ROWS = 100_000, 32, 1000  # X is 25.6 MB on disk; a block of rows is 256 kB


def peak_bytes(fn):
    """Peak of the memory NumPy and Python allocate while fn runs (tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def write_big(tmp_path):
    """X (N, D) float64 and labels written to .npy and mapped read-only, never held whole here."""
    rng = np.random.default_rng(0)
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=(N, D))
    for k in range(0, N, 10_000):  # written in pieces, so this test never holds it all either
        X[k : k + 10_000] = rng.standard_normal((10_000, D))
    X.flush()
    del X
    np.save(tmp_path / "y.npy", rng.integers(0, 2, N))
    return np.load(tmp_path / "X.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r")


def test_streamed_fit_peak_memory_is_a_few_blocks(tmp_path):
    Xm, ym = write_big(tmp_path)
    data_bytes = Xm.nbytes
    net = pbp.MLP([D, 16, 2], output_activation="softmax", loss="cross_entropy", backend="numpy", seed=0)
    net.stream_rows = ROWS
    kw = dict(epochs=1, batch_size=100, lr=0.1, seed=0, progress=False)
    streamed = peak_bytes(lambda: net.fit(Xm, ym, **kw))
    block = ROWS * D * 8
    # a few blocks of rows, plus the epoch's permutation (8 bytes per sample)
    assert streamed < 10 * block + 8 * N, (streamed, block)
    assert streamed < data_bytes / 8, (streamed, data_bytes)
    # the meter does see whole-set copies: the in-memory path shuffles a full copy of X
    loaded = np.array(Xm)
    in_memory = peak_bytes(lambda: net.fit(loaded, np.asarray(ym), **kw))
    assert in_memory > data_bytes, (in_memory, data_bytes)
    print(f"\npeak while streaming {data_bytes / 1e6:.1f} MB: {streamed / 1e6:.2f} MB "
          f"(in memory: {in_memory / 1e6:.1f} MB)")


def test_dask_fit_peak_memory_is_a_few_chunks(tmp_path):
    da = pytest.importorskip("dask.array")
    Xm, ym = write_big(tmp_path)
    chunk = 5000  # 1.28 MB of X per Dask chunk
    Xd, yd = da.from_array(Xm, chunks=(chunk, D)), da.from_array(ym, chunks=chunk)
    net = pbp.MLP([D, 16, 2], output_activation="softmax", loss="cross_entropy", backend="numpy", seed=0)
    net.stream_rows = chunk
    streamed = peak_bytes(lambda: net.fit(Xd, yd, epochs=1, batch_size=100, lr=0.1, shuffle=False, progress=False))
    assert streamed < Xm.nbytes / 4, (streamed, Xm.nbytes)
    p = net.predict(Xd)
    assert isinstance(p, da.Array)
    predicted = peak_bytes(lambda: p.sum().compute())  # reduced lazily: no (N, 2) array either
    assert predicted < Xm.nbytes / 4, (predicted, Xm.nbytes)
    print(f"\nDask peak while streaming {Xm.nbytes / 1e6:.1f} MB: fit {streamed / 1e6:.2f} MB, "
          f"predict+sum {predicted / 1e6:.2f} MB")
