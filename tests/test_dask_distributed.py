"""Dask's distributed scheduler: data whose chunks live in worker processes, and searches run by them.

A ``distributed.LocalCluster`` of 2 worker processes (1 thread each) is the same scheduler a cluster
runs. Checked: a fit on Dask arrays persisted on the workers equals the in-memory fit (1e-12) and its
peak memory in this process stays at a few chunks (tracemalloc, as test_streaming.py measures the
memory-map path); predict maps over the workers' chunks; ``GridSearchCV(n_jobs=-1)`` over the
portable_bp.sklearn estimators under ``joblib.parallel_backend("dask")`` finds the same best
parameters and scores as the default backend.
"""

import os
import tracemalloc
import warnings

import numpy as np
import pytest

import portable_bp as pbp
from helpers import assert_close

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.multiprocess
FULL = os.environ.get("PORTABLE_BP_TEST_MULTIHOST") == "full"  # nox -s tests_multihost: the regressor too


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close(timeout=30)
        cluster.close(timeout=30)


def make(**kw):
    return pbp.MLP([6, 8, 3], activation="tanh", output_activation="softmax", loss="cross_entropy", backend="numpy",
                   seed=1, **kw)


def on_workers(client, n, d, chunk, seed=0):
    """X (n, d) and labels (n,) made by the workers and kept there (persisted): never built here."""
    rs = da.random.RandomState(seed)
    X = rs.standard_normal((n, d), chunks=(chunk, d))
    y = (X[:, 0] + X[:, 1] > 0).astype("int64") + (X[:, 2] > 1).astype("int64")
    X, y = client.persist([X, y])
    distributed.wait([X, y])
    return X, y


def peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_fit_on_worker_chunks_equals_in_memory(client):
    Xd, yd = on_workers(client, 1200, 6, chunk=150)
    holders = client.who_has(Xd)
    assert len(holders) == Xd.npartitions and all(holders.values())  # every chunk is held by a worker ...
    assert len({w for ws in holders.values() for w in ws}) == 2  # ... and both workers hold some
    stream, mem = make(), make()
    stream.stream_rows = 300  # 4 blocks of 15 batches of 20
    kw = dict(epochs=2, batch_size=20, lr=0.3, seed=5, progress=False)
    h_stream = stream.fit(Xd, yd, **kw)
    X, y = Xd.compute(), yd.compute()
    h_mem = mem.fit(X, y, **kw)
    for p, q in zip(mem.weights + mem.biases, stream.weights + stream.biases):
        assert_close(q, p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_stream["cost"], h_mem["cost"], rtol=1e-12)
    p = stream.predict(Xd)  # lazy: each chunk is predicted by the worker that holds it
    assert isinstance(p, da.Array) and p.chunks[0] == Xd.chunks[0]
    assert_close(p.compute(), mem.predict(X))


def test_peak_memory_here_is_a_few_chunks(client):
    """Streaming from the workers holds a few chunks here, never the data. (tracemalloc also counts the
    LocalCluster's scheduler, which runs in this process and keeps a log of every task.)"""
    n, d, chunk = 200_000, 16, 10_000  # 25.6 MB of X on the workers in 20 chunks of 1.28 MB
    rows = chunk  # one chunk per read: few round trips to the scheduler
    Xd, yd = on_workers(client, n, d, chunk)
    data_bytes, block = n * d * 8, rows * d * 8
    net = pbp.MLP([d, 16, 3], output_activation="softmax", loss="cross_entropy", backend="numpy", seed=0)
    net.stream_rows = rows
    fitted = peak_bytes(lambda: net.fit(Xd, yd, epochs=1, batch_size=100, lr=0.1, shuffle=False, progress=False,
                                        running_cost=True))  # one pass over the data: 20 reads
    p = net.predict(Xd)
    predicted = peak_bytes(lambda: p.sum().compute())  # reduced on the workers: no (N, 3) array here
    print(f"\nDask distributed, {data_bytes / 1e6:.1f} MB on 2 workers, blocks of {block / 1e6:.2f} MB: "
          f"peak here fit {fitted / 1e6:.2f} MB, predict+sum {predicted / 1e6:.2f} MB")
    assert fitted < 10 * block, (fitted, block)  # a few blocks, as for a memory map (test_streaming.py)
    assert fitted < data_bytes / 2, (fitted, data_bytes)  # an in-memory fit holds > 1x
    assert predicted < data_bytes / 4, (predicted, data_bytes)


@pytest.mark.parametrize("kind", ["classifier", "regressor"] if FULL else ["classifier"])
def test_grid_search_under_the_dask_backend_matches_the_default(client, kind):
    import joblib
    from sklearn.model_selection import GridSearchCV

    from portable_bp.sklearn import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    if kind == "classifier":
        y = (X[:, 0] * X[:, 1] > 0).astype(int)
        est = MLPClassifier(hidden_layer_sizes=(6,), max_iter=30, random_state=0, backend="numpy")
    else:
        y = X[:, 0] - 2 * X[:, 1] ** 2
        est = MLPRegressor(hidden_layer_sizes=(6,), max_iter=30, random_state=0, backend="numpy")
    grid = {"learning_rate_init": [1e-3, 3e-2], "alpha": [1e-4, 1e-1]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter=30, on both backends alike
        # joblib's default backend: loky worker processes for n_jobs=-1 (about 10 s to start them on 2 busy
        # cores: under nox -s tests_multihost only); in order in this process for n_jobs=1, the same fits
        default = GridSearchCV(est, grid, cv=3, n_jobs=-1 if FULL else 1).fit(X, y)
        with joblib.parallel_backend("dask"), distributed.get_task_stream(client) as tasks:
            on_dask = GridSearchCV(est, grid, cv=3, n_jobs=-1).fit(X, y)
    assert on_dask.best_params_ == default.best_params_
    np.testing.assert_allclose(on_dask.best_score_, default.best_score_, rtol=1e-12)
    np.testing.assert_allclose(on_dask.cv_results_["mean_test_score"], default.cv_results_["mean_test_score"],
                               rtol=1e-12)
    assert_close(on_dask.predict(X), default.predict(X))
    # the fits ran in the cluster's worker processes (joblib sends them in batches: 4 candidates x 3 folds)
    assert len(tasks.data) >= 2
    assert {t["worker"] for t in tasks.data} <= set(client.scheduler_info()["workers"])
