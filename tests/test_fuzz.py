"""Fuzzing the input layer (issue 14): array-likes of every kind, extreme values, files that only
look like checkpoints, and saves killed mid-write.

Each kind of input gets either the result of the equivalent plain ndarray or a ValueError/TypeError
that says what was received (a mask, a sparse matrix, pd.NA, 0 features, a value out of float32's
range); nothing fails deep inside NumPy or a backend. Hypothesis profiles: tests/conftest.py.
"""

import importlib.util
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import portable_bp as pbp
from portable_bp import _atomic, _checks, checkpoint
from portable_bp import _validation as check

pytestmark = [
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),  # overflow in tanh/sigmoid on extreme data
    pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning"),  # np.matrix is fuzzed
]

N_IN, N_OUT = 3, 2
F32_MAX = float(np.finfo(np.float32).max)
F64_MAX = float(np.finfo(np.float64).max)


def make_net(backend="numpy"):
    return pbp.MLP([N_IN, 4, N_OUT], activation="tanh", output_activation="sigmoid", loss="mse", backend=backend,
                   seed=0)


#: finite data of moderate size: the network's numerics are not what is fuzzed here
values = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def batches(draw, n=None, width=N_IN):
    n = draw(st.integers(1, 6)) if n is None else n
    return draw(hnp.arrays(np.float64, (n, width), elements=values))


def results(net, X, Y):
    """Everything the public methods give for (X, Y), as NumPy, and the network a 1-epoch fit makes."""
    grads_w, grads_b = net.backprop(X, Y)
    fitted = make_net(net.backend)
    fitted.fit(X, Y, epochs=1, batch_size=1, lr=0.1, seed=0, progress=False)
    return ([pbp.to_numpy(net.predict(X)), np.float64(net.cost(X, Y))]
            + [pbp.to_numpy(g) for g in grads_w + grads_b] + fitted.params_numpy()[0])


def assert_same_results(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert type(x) is type(y) and x.shape == y.shape  # an ndarray, never an np.matrix
        np.testing.assert_array_equal(x, y)


def public_calls(net, X, Y):
    return {
        "predict": lambda: net.predict(X),
        "cost": lambda: net.cost(X, Y),
        "backprop": lambda: net.backprop(X, Y),
        "fit": lambda: net.fit(X, Y, epochs=1, batch_size=1, lr=0.1, progress=False),
    }


def assert_every_call_raises(net, X, Y, error, match):
    for name, call in public_calls(net, X, Y).items():
        try:
            call()
        except error as exc:
            assert re.search(match, str(exc)), f"{name}: {exc}"
        else:
            pytest.fail(f"{name} accepted the input")


# -- np.matrix: converted, the same result as the ndarray ------------------------------------------
def test_matrix_gives_the_ndarray_result(backend):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((5, N_IN)), rng.random((5, N_OUT))
    net = make_net(backend)
    assert_same_results(results(net, np.matrix(X), np.matrix(Y)), results(net, X, Y))
    assert_same_results(results(net, np.matrix(X), Y), results(net, X, Y))


@given(X=batches(), data=st.data())
def test_matrix_gives_the_ndarray_result_fuzzed(X, data):
    """On NumPy in float64 a matrix looked like the network's own array (the unchecked fast path)."""
    Y = data.draw(hnp.arrays(np.float64, (len(X), N_OUT), elements=st.floats(0, 1)))
    net = make_net()
    assert_same_results(results(net, np.matrix(X), np.matrix(Y)), results(net, X, Y))


def test_matrix_through_the_validators():
    X = np.arange(6.0).reshape(2, 3)
    out = check.inputs(np.matrix(X), 3)
    assert type(out) is np.ndarray and out.shape == (2, 3)
    out = check.targets(np.matrix([[0.0], [1.0]]), 1, 2, "sigmoid")
    assert type(out) is np.ndarray and out.shape == (2, 1)


# -- masked arrays: refused when anything is masked, naming the mask -------------------------------
@st.composite
def masked_batches(draw, n=5):
    X = draw(batches(n=n))
    mask = draw(hnp.arrays(np.bool_, X.shape))
    assume(mask.any())
    return np.ma.masked_array(X, mask=mask)


@given(X=masked_batches())
def test_masked_X_is_refused_naming_the_mask(backend, X):
    net = make_net(backend)
    Y = np.full((5, N_OUT), 0.5)
    count = int(np.ma.getmaskarray(X).sum())
    assert_every_call_raises(net, X, Y, ValueError, rf"X is a masked array with {count} masked value")


@given(Y=masked_batches().map(lambda m: np.ma.masked_array(np.clip(m.data[:, :N_OUT], 0, 1), m.mask[:, :N_OUT])))
def test_masked_Y_is_refused_naming_the_mask(Y):
    assume(np.ma.getmaskarray(Y).any())
    net = make_net()
    with pytest.raises(ValueError, match=r"Y is a masked array .* masked value.*filled"):
        net.cost(np.ones((5, N_IN)), Y)
    with pytest.raises(ValueError, match="Y is a masked array"):
        net.fit(np.ones((5, N_IN)), Y, epochs=1, batch_size=1, lr=0.1, progress=False)


def test_masked_array_without_masked_values_is_its_data():
    X = np.arange(15.0).reshape(5, 3) / 10
    net = make_net()
    np.testing.assert_array_equal(net.predict(np.ma.masked_array(X)), net.predict(X))
    np.testing.assert_array_equal(net.predict(np.ma.masked_array(X, mask=np.zeros_like(X, bool))), net.predict(X))


# -- sparse matrices: a clear error that says how to densify --------------------------------------
SPARSE_FORMATS = ["csr", "csc", "coo", "lil", "dok", "bsr", "dia"]


@given(X=batches(), fmt=st.sampled_from(SPARSE_FORMATS), as_array=st.booleans())
def test_scipy_sparse_is_refused_with_a_hint(X, fmt, as_array):
    sparse = pytest.importorskip("scipy.sparse")
    S = getattr(sparse, f"{fmt}_{'array' if as_array else 'matrix'}")(X)
    net = make_net()
    Y = np.full((X.shape[0], N_OUT), 0.5)
    assert_every_call_raises(net, S, Y, TypeError, r"sparse input is not supported.*X\.toarray\(\)")
    with pytest.raises(TypeError, match=r"Y is a sparse .*Y\.toarray\(\)"):
        net.cost(X, getattr(sparse, f"{fmt}_{'array' if as_array else 'matrix'}")(Y))


def test_torch_sparse_is_refused_with_a_hint():
    torch = pytest.importorskip("torch")
    X = torch.eye(3, dtype=torch.float64).to_sparse()
    with pytest.raises(TypeError, match=r"sparse input is not supported.*X\.to_dense\(\)"):
        make_net().predict(X)


# -- pandas: nullable columns with pd.NA are named; plain and complete nullable frames work --------
@st.composite
def frames(draw, n=5, missing=False):
    pd = pytest.importorskip("pandas")
    X = draw(batches(n=n))
    kinds = draw(st.lists(st.sampled_from(["float64", "Float64", "Int64"]), min_size=N_IN, max_size=N_IN))
    columns = {}
    for j, kind in enumerate(kinds):
        col = np.round(X[:, j]) if kind == "Int64" else X[:, j]
        columns[f"c{j}"] = pd.array(col.astype("int64") if kind == "Int64" else col, dtype=kind)
    df = pd.DataFrame(columns)
    if missing:
        nullable = [j for j, kind in enumerate(kinds) if kind != "float64"]
        assume(nullable)
        j = draw(st.sampled_from(nullable))
        i = draw(st.integers(0, n - 1))
        df.iloc[i, j] = pd.NA
    return df


@given(df=frames(missing=True))
def test_pandas_nullable_with_missing_values_names_pd_NA(df):
    net = make_net()
    assert_every_call_raises(net, df, np.full((5, N_OUT), 0.5), ValueError, r"X holds missing values \(pd\.NA\)")


@given(df=frames())
def test_pandas_frames_without_missing_values_give_the_ndarray_result(df):
    net = make_net()
    Y = np.full((5, N_OUT), 0.5)
    plain = df.to_numpy(dtype=np.float64)
    assert_same_results(results(net, df, Y), results(net, plain, Y))


def test_pandas_nullable_labels_and_plain_float_frame():
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(0).random((6, N_IN))
    net = pbp.MLP([N_IN, 4, 3], output_activation="softmax", loss="cross_entropy", seed=0)
    labels = pd.Series([0, 1, 2, 0, 1, 2], dtype="Int64")
    assert net.cost(pd.DataFrame(X), labels) == net.cost(X, np.array([0, 1, 2, 0, 1, 2]))
    with pytest.raises(ValueError, match=r"Y holds missing values \(pd\.NA\).*Series"):
        net.cost(X, pd.Series([0, 1, None, 0, 1, 2], dtype="Int64"))


# -- object arrays, 0 features, shapes ------------------------------------------------------------
@given(n=st.integers(1, 50))
def test_samples_without_features_are_called_so(n):
    with pytest.raises(ValueError, match=rf"X has {n} samples and 0 features \(shape \({n}, 0\)\).*has {N_IN}"):
        make_net().predict(np.zeros((n, 0)))
    with pytest.raises(ValueError, match=rf"{n} samples \(rows\) but 0 columns"):
        check.check_finite_host(np.zeros((n, 0)), "X")
    with pytest.raises(ValueError, match=r"empty .*0 samples"):
        make_net().predict(np.zeros((0, N_IN)))


@given(X=batches(), i=st.integers(0, 4), j=st.integers(0, N_IN - 1), hole=st.sampled_from([None, "pd.NA"]))
def test_object_arrays_with_holes_say_missing_values(X, i, j, hole):
    obj = X.astype(object)
    if hole == "pd.NA":
        if not importlib.util.find_spec("pandas"):
            return
        import pandas as pd

        hole = pd.NA
    obj[min(i, len(X) - 1), j] = hole
    with pytest.raises(TypeError, match=r"missing values"):
        make_net().predict(obj)


def test_object_arrays_ragged_and_foreign():
    ragged = np.empty((2, N_IN), dtype=object)
    ragged[:] = 1.0
    ragged[1, 2] = [1.0, 2.0]
    with pytest.raises(TypeError, match="ragged"):
        make_net().predict(ragged)
    with pytest.raises(TypeError, match="Python objects of type"):
        make_net().predict(np.array([[1.0, "a", 2.0]], dtype=object))


# -- any kind of array-like: the ndarray's result or a ValueError/TypeError --------------------------
KINDS = ["list", "matrix", "masked", "masked_some", "object", "huge", "tiny", "int64_extremes", "float32"]
KINDS += ["sparse"] if importlib.util.find_spec("scipy") else []
KINDS += ["pandas", "pandas_na"] if importlib.util.find_spec("pandas") else []  # the test extra installs pandas


@st.composite
def array_likes(draw):
    X = draw(batches())
    kind = draw(st.sampled_from(KINDS))
    if kind == "list":
        return kind, X.tolist(), X
    if kind == "matrix":
        return kind, np.matrix(X), X
    if kind == "masked":
        return kind, np.ma.masked_array(X), X
    if kind == "masked_some":
        mask = np.zeros(X.shape, bool)
        mask[draw(st.integers(0, X.shape[0] - 1)), 0] = True
        return kind, np.ma.masked_array(X, mask=mask), None
    if kind == "sparse":
        import scipy.sparse

        return kind, scipy.sparse.csr_matrix(X), None
    if kind in ("pandas", "pandas_na"):
        import pandas as pd

        df = pd.DataFrame({f"c{j}": pd.array(X[:, j], dtype="Float64") for j in range(N_IN)})
        if kind == "pandas_na":
            df.iloc[0, 0] = pd.NA
            return kind, df, None
        return kind, df, X
    if kind == "object":
        return kind, X.astype(object), None
    if kind == "huge":
        X = X.copy()
        X[0, 0] = draw(st.floats(F32_MAX, F64_MAX, exclude_min=True))
        return kind, X, X
    if kind == "tiny":
        return kind, X * 1e-310, X * 1e-310  # subnormal float64
    if kind == "int64_extremes":
        ints = np.where(X > 0, np.iinfo(np.int64).max, np.iinfo(np.int64).min)
        return kind, ints, ints.astype(np.float64)
    return kind, X.astype(np.float32), X.astype(np.float32)


@given(case=array_likes())
def test_any_array_like_gives_the_ndarray_result_or_a_clear_error(case):
    kind, X, equivalent = case
    net = make_net()
    if equivalent is None:
        with pytest.raises((ValueError, TypeError), match=r"^X (is|holds|must)"):
            net.predict(X)
        return
    np.testing.assert_array_equal(pbp.to_numpy(net.predict(X)), pbp.to_numpy(net.predict(equivalent)))


# -- #1: values beyond the network dtype's range ---------------------------------------------------
beyond_float32 = st.floats(F32_MAX, F64_MAX, exclude_min=True).flatmap(lambda v: st.sampled_from([v, -v]))


@given(X=batches(), big=beyond_float32, i=st.integers(0, 5), j=st.integers(0, N_IN - 1))
def test_values_beyond_float32_are_refused_for_float32(X, big, i, j):
    X = X.copy()
    X[min(i, len(X) - 1), j] = big
    with pytest.raises(ValueError, match=r"X holds values up to .* beyond the range of float32 \(±3\.4e\+38\)"):
        check.inputs(X, N_IN, dtype="float32")
    with pytest.raises(ValueError, match=r"weights\[0\] holds values .* float32"):
        check.check_finite_host(X, "weights[0]", dtype="float32")
    with pytest.raises(ValueError, match=r"Y holds values .* float32"):
        check.targets(X[:, j : j + 1], 1, len(X), "identity", dtype="float32")
    # float64 holds them, and without a dtype nothing changes
    np.testing.assert_array_equal(check.inputs(X, N_IN, dtype="float64"), X)
    np.testing.assert_array_equal(check.inputs(X, N_IN), X)


@given(X=hnp.arrays(np.float64, (4, N_IN), elements=st.floats(-F32_MAX, F32_MAX)))
def test_values_within_float32_pass_for_float32(X):
    np.testing.assert_array_equal(check.inputs(X, N_IN, dtype="float32"), X)
    ints = np.array([[np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0]])  # ±9.2e18: well within
    np.testing.assert_array_equal(check.inputs(ints, N_IN, dtype="float32"), ints)


def test_dtype_range_argument_is_checked():
    with pytest.raises(ValueError, match="floating dtype"):
        check.inputs(np.ones((1, N_IN)), N_IN, dtype="int32")
    big = np.array([[1e300]], dtype=np.longdouble) ** 2  # beyond float64 too
    with pytest.raises(ValueError, match="beyond the range of float64"):
        check.inputs(big, 1, dtype="float64")


# -- #10: an upper bound for counts ---------------------------------------------------------------
@given(value=st.integers(10**9 + 1, 10**400))
def test_check_positive_maximum_refuses_absurd_counts(value):
    with pytest.raises(ValueError, match=r"epochs must be at most 1,000,000,000; got "):
        _checks.integer("epochs", value, 1, 10**9)


@given(value=st.integers(1, 10**9))
def test_check_positive_maximum_accepts_sane_counts(value):
    assert _checks.integer("epochs", value, 1, 10**9) == value
    assert _checks.integer("epochs", value, 1) == value  # no maximum: as before


# -- #9: files that start like a zip --------------------------------------------------------------
@given(tail=st.binary(max_size=200))
def test_PK_and_random_bytes_is_a_corrupt_zip_not_a_pickle(tail, tmp_path_factory):
    path = tmp_path_factory.mktemp("pk") / "model.npz"
    path.write_bytes(b"PK" + tail)
    with pytest.raises(pbp.CheckpointError, match="corrupt or truncated") as info:
        pbp.load(path)
    assert "pickle" not in str(info.value)


@given(head=st.sampled_from([b"PK\x03\x04", b"PK\x05\x06"]), tail=st.binary(max_size=200))
def test_zip_header_and_random_bytes_is_a_corrupt_zip(head, tail, tmp_path_factory):
    path = tmp_path_factory.mktemp("zip") / "model.npz"
    path.write_bytes(head + tail)
    with pytest.raises(pbp.CheckpointError) as info:
        pbp.load(path)
    assert "pickle" not in str(info.value)


# -- #11: permissions of an existing file are kept -------------------------------------------------
@pytest.fixture(params=["unnamed", "named"])
def temp_kind(request, monkeypatch):
    """Both ways of writing: an O_TMPFILE file where the system has it, and the named fallback."""
    if request.param == "named":
        monkeypatch.setitem(_atomic._UNNAMED, "ok", False)
    return request.param


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444, 0o755])
def test_save_over_a_file_keeps_its_mode(tmp_path, temp_kind, mode):
    path = tmp_path / "model.npz"
    make_net().save(path)
    os.chmod(path, mode)
    make_net().save(path)
    assert path.stat().st_mode & 0o7777 == mode
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_new_file_gets_the_umask(tmp_path, temp_kind):
    old = os.umask(0o077)
    try:
        make_net().save(tmp_path / "new.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "new.npz").stat().st_mode & 0o777 == 0o600


def test_a_refused_link_falls_back_to_a_named_file(tmp_path, monkeypatch):
    monkeypatch.setitem(_atomic._UNNAMED, "ok", _atomic._UNNAMED["ok"])

    def refuse(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(checkpoint.os, "link", refuse)
    net = make_net()
    net.save(tmp_path / "m.npz")
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]
    np.testing.assert_array_equal(pbp.load(tmp_path / "m.npz").params_numpy()[0][0], net.params_numpy()[0][0])


# -- #4: a save killed by SIGKILL leaves nothing after the next save -------------------------------
CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import portable_bp as pbp
    from portable_bp import _atomic, _checks, checkpoint

    path, kind, where = sys.argv[1:4]
    if kind == "named":
        _atomic._UNNAMED["ok"] = False
    real_savez, real_replace = np.savez, os.replace

    def announce_and_hang():
        names = sorted(f for f in os.listdir(os.path.dirname(path)) if f.endswith(".tmp"))
        print("hanging", *names, flush=True)
        time.sleep(120)

    def slow_savez(f, **arrays):
        real_savez(f, **arrays)  # the bytes are written; the kill comes before the rename
        announce_and_hang()

    def slow_replace(src, dst):
        announce_and_hang()

    if where == "write":
        checkpoint.np.savez = slow_savez
    else:
        checkpoint.os.replace = slow_replace
    pbp.MLP([3, 4, 2], seed=1).save(path)
""")


def kill_mid_save(path, kind, where):
    """Start a save in a child process, SIGKILL it while it hangs mid-save; the temp files it saw."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), kind, where], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = child.stdout.readline()
        assert line.startswith("hanging"), line + child.stderr.read()
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)  # reaped: its PID is dead, not a zombie
    return line.split()[1:]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("where", ["write", "rename"])
def test_killed_save_leaves_no_leftovers_after_the_next_save(tmp_path, temp_kind, where):
    path = tmp_path / "model.npz"
    old = make_net()
    old.save(path)
    before = path.read_bytes()
    seen = kill_mid_save(path, temp_kind, where)
    assert path.read_bytes() == before  # the previous checkpoint is intact
    left = sorted(f for f in os.listdir(tmp_path) if f != "model.npz")
    assert left == seen  # what the child had on disk when it was killed
    if temp_kind == "named" or where == "rename":
        assert len(left) == 1 and left[0].startswith(".model.npz.")  # the kill really left something
    elif _atomic._UNNAMED["ok"]:
        assert left == []  # the unnamed temporary file vanished with the process
    new = make_net()
    new.save(path)
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    np.testing.assert_array_equal(pbp.load(path).params_numpy()[0][0], new.params_numpy()[0][0])


def test_stale_temps_rule(tmp_path):
    """Only leftovers of this target are removed: of a dead local writer, or older than a minute."""
    path = tmp_path / "model.npz"
    tag = _atomic._writer_tag()
    parent = os.getppid()  # alive
    names = {
        f".model.npz.{tag}-{parent}.aaaaaaaaaaaa.tmp": ("fresh, live writer", True),
        ".model.npz.bbbbbbbbbbbb.tmp": ("fresh, an older version's name", True),
        f".model.npz.ffffffff-{2**22 + 7}.cccccccccccc.tmp": ("fresh, another host's", True),
        f".other.npz.{tag}-{2**22 + 7}.dddddddddddd.tmp": ("another target's", True),
        ".model.npz.notours.tmp": ("not our pattern", True),
    }
    old = {
        f".model.npz.{tag}-{parent}.eeeeeeeeeeee.tmp": ("old, live writer", False),
        ".model.npz.111111111111.tmp": ("old, an older version's name", False),
        f".model.npz.ffffffff-{2**22 + 7}.222222222222.tmp": ("old, another host's", False),
    }
    for name in {**names, **old}:
        (tmp_path / name).write_bytes(b"x")
    for name in old:
        past = time.time() - _atomic.STALE_TEMP_SECONDS - 5
        os.utime(tmp_path / name, (past, past))
    make_net().save(path)
    for name, (why, kept) in {**names, **old}.items():
        assert (tmp_path / name).exists() == kept, why


def test_dead_local_writer_is_removed_at_once(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(proc.stdout)
    name = f".model.npz.{_atomic._writer_tag()}-{dead}.abcdefabcdef.tmp"
    (tmp_path / name).write_bytes(b"half")
    make_net().save(tmp_path / "model.npz")
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


# -- wired into the network (issue 14, #1, #2, #10) ------------------------------------------------------
def test_float32_networks_refuse_values_beyond_their_range(backend, tmp_path):
    huge = np.full((2, 3), 1e39)
    with pytest.raises(ValueError, match=r"weights\[0\].*float32"):
        pbp.MLP.from_params([huge], backend=backend, dtype="float32")
    net = pbp.MLP([3, 1], backend=backend, dtype="float32", seed=0)
    for call in (lambda: net.predict(huge), lambda: net.fit(huge, np.ones(2), epochs=1, batch_size=1, lr=0.1,
                                                             progress=False)):
        with pytest.raises(ValueError, match="X holds values up to 1.00e\\+39.*float32"):
            call()
    with pytest.raises(ValueError, match="float32"):
        pbp.MLP.from_params([huge]).to(dtype="float32")
    path = pbp.MLP.from_params([huge]).save(tmp_path / "big.npz")
    with pytest.raises(ValueError, match="float32"):
        pbp.load(path, dtype="float32")


def test_absurd_epochs_are_refused():
    with pytest.raises(ValueError, match="epochs must be at most"):
        pbp.MLP([3, 1]).fit(np.ones((2, 3)), np.ones(2), epochs=10**30, batch_size=1, lr=0.1, progress=False)


def test_torch_inputs_that_require_grad_stay_out_of_autograd():
    torch = pytest.importorskip("torch")
    net = pbp.MLP([3, 4, 1], backend="torch", seed=0)
    X = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    Y = torch.rand(8, 1, dtype=torch.float64, requires_grad=True)
    net.fit(X, Y, epochs=2, batch_size=4, lr=0.1, progress=False)
    net.update(X, Y, 0.1)
    assert not any(p.requires_grad for p in net.weights + net.biases)
    assert not net.predict(X).requires_grad and not net.backprop(X, Y)[0][0].requires_grad


def test_backprop_refuses_non_finite_gradients_naming_the_layer(backend):
    net = pbp.MLP([2, 3, 1], activation="relu", output_activation="identity", backend=backend, seed=0)
    X, Y = np.full((4, 2), 1e200), np.zeros((4, 1))
    with pytest.raises(FloatingPointError, match="gradient of layer [12] .*not finite.*Scale X"):
        net.backprop(X, Y)
    gw, gb = net.backprop(X, Y, check_finite=False)  # as computed, on request
    assert not all(np.isfinite(pbp.to_numpy(g)).all() for g in gw)
    assert all(np.isfinite(pbp.to_numpy(g)).all() for g in net.backprop(X[:, :] * 1e-200, Y)[0])
