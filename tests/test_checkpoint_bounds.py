"""Bounded loading: a crafted or damaged file is refused with a CheckpointError naming the file (and
the field), in milliseconds and without allocating more than the arrays its metadata declares;
special files (FIFOs, devices, also behind a symlink) are refused without being read.

Every crafted file here is small; each load runs under a deadline (SIGALRM) so a regression to a
hang fails the test instead of stalling the suite. The hypothesis properties (truncations, byte
flips, crafted metadata) take seconds in the default profile, more cases under ``nox -s props_deep``.
"""

import contextlib
import io
import json
import os
import pathlib
import signal
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import portable_bp as pbp
from portable_bp import checkpoint, cli, optim


@contextlib.contextmanager
def deadline(seconds):
    """Fail (TimeoutError) instead of hanging, where SIGALRM exists; a plain block elsewhere."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def refused(path, match, seconds=2.0, max_bytes=8 << 20):
    """``pbp.load(path)`` raises CheckpointError matching ``match`` and naming the file, within
    ``seconds`` and ``max_bytes`` of traced allocations. Returns (seconds taken, peak bytes)."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with deadline(seconds), pytest.raises(pbp.CheckpointError, match=match) as info:
            pbp.load(path)
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value)
    assert peak <= max_bytes, f"loading {path} allocated {peak} bytes"
    return elapsed, peak


def saved(tmp_path, optimizer="adam", dropout=None):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)
    net = pbp.MLP([3, 4, 2], activation="tanh", output_activation="softmax", loss="cross_entropy", seed=0,
                  dropout=dropout)
    net.fit(X, y, epochs=1, batch_size=5, optimizer=optimizer, lr=0.01, progress=False, seed=0)
    return pathlib.Path(net.save(tmp_path / "good.npz"))


def contents(path):
    with np.load(path) as f:
        arrays = dict(f)
    return arrays, json.loads(str(arrays.pop("portable_bp_meta")[()]))


def craft(path, arrays, meta=None, text=None, extra=()):
    """An .npz of ``arrays`` and metadata ``meta`` (or the raw JSON ``text``), plus raw members ``extra``
    ((name, bytes) pairs)."""
    out = dict(arrays)
    out["portable_bp_meta"] = np.array(json.dumps(meta) if text is None else text)
    buf = io.BytesIO()
    np.savez(buf, **out)
    if extra:
        with zipfile.ZipFile(buf, "a") as zf:
            for name, data in extra:
                zf.writestr(name, data)
    path.write_bytes(buf.getvalue())
    return path


def mutated(tmp_path, mutate, name="bad.npz"):
    arrays, meta = contents(saved(tmp_path))
    mutate(arrays, meta)
    return craft(tmp_path / name, arrays, meta)


# -- the defects of the issue ----------------------------------------------------------------------
def test_a_million_slots_is_refused_in_milliseconds(tmp_path):
    """Was: a 7 KB file declaring "slots": 1000000 hung load in a quadratic loop."""
    bad = mutated(tmp_path, lambda a, m: m["optimizer"].__setitem__("slots", 1_000_000))
    assert bad.stat().st_size < 20_000
    elapsed, _ = refused(bad, r"'optimizer.slots' is 1000000, more than the archive's 14 arrays can hold")
    assert elapsed < 0.5


@pytest.mark.parametrize("edit,match", [
    (lambda t: t.replace('"slots": 2', '"slots": 1000000'), "optimizer.slots"),
    (lambda t: t.replace('"sizes": [3, 4, 2]', '"sizes": [3, 1e999, 2]'), "'sizes'"),
    (lambda t: t.replace('"user": {}', '"user": ' + "[" * 50_000 + "]" * 50_000), "nests deeper"),
])
def test_resume_on_a_crafted_file_fails_fast_and_cleanly(edit, match, tmp_path, capsys):
    """Was: --resume hung on the million slots, and gave a traceback on overflowing or deep metadata."""
    arrays, meta = contents(saved(tmp_path))
    bad = craft(tmp_path / "bad.npz", arrays, text=edit(json.dumps(meta)))
    with deadline(20):
        assert cli.main(["train", "--quiet", "--epochs", "1", "--resume", str(bad), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert match in err and str(bad) in err and "Traceback" not in err


@pytest.mark.parametrize("slots", [0, 1, 3])
def test_a_slot_count_that_is_not_the_optimizers_is_refused(slots, tmp_path):
    """Was: Adam with 0 slots loaded, and fit then failed with 'not enough values to unpack'."""
    bad = mutated(tmp_path, lambda a, m: (m["optimizer"].__setitem__("slots", slots),
                                          [a.pop(k) for k in list(a) if k.startswith(("opt0_", "opt1_"))]))
    refused(bad, "'optimizer.slots'")


def _bomb(path, member_bytes, header_shape=(4, 3), sizes=(3, 4, 2)):
    """A checkpoint of ``sizes`` whose W1 member holds an .npy header for ``header_shape`` followed by
    ``member_bytes`` bytes of zeros, deflated as it is written (never held in memory)."""
    net = pbp.MLP(list(sizes), seed=0)
    arrays = {"W1": None, **{f"W{l + 1}": W for l, W in enumerate(net.params_numpy()[0]) if l},
              **{f"b{l + 1}": b for l, b in enumerate(net.params_numpy()[1])}}
    meta = {"format": "portable_bp.checkpoint", "format_version": 2, "library_version": "0", "sizes": list(sizes),
            "activation": "sigmoid", "output_activation": "sigmoid", "loss": "mse", "kernel": "matmul",
            "dtype": "float64", "backend": "numpy", "bias": [True] * (len(sizes) - 1), "user": {}}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": header_shape})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, a in arrays.items():
            if a is not None:
                buf = io.BytesIO()
                np.save(buf, a)
                zf.writestr(name + ".npy", buf.getvalue())
        with zf.open("W1.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            zeros = bytes(1 << 20)
            for _ in range(member_bytes >> 20):
                member.write(zeros)
        zf.writestr("portable_bp_meta.npy", _npy(np.array(json.dumps(meta))))
    return path


def _npy(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


@pytest.mark.parametrize("header_shape", [(4, 3), (64 << 20 >> 3,)])
def test_a_zip_bomb_costs_no_more_than_its_declared_arrays(header_shape, tmp_path):
    """Was: 1.2 GB of zeros compressed to 1.2 MB reached 1.2 GB resident before being refused. Here
    64 MiB (the measurement in the report used 1.2 GB): the member's declared size, or its .npy
    header, disagrees with the 4×3 W1 the metadata declares, and nothing is decompressed."""
    bomb = _bomb(tmp_path / "bomb.npz", 64 << 20, header_shape)
    assert bomb.stat().st_size < 200_000
    match = "W1 has shape" if len(header_shape) == 1 else "W1.npy declares"
    elapsed, peak = refused(bomb, match, max_bytes=2 << 20)
    assert elapsed < 0.5


def test_a_zip_bomb_in_the_metadata_is_refused_before_reading(tmp_path):
    """A metadata entry declaring more than MAX_METADATA_CHARS characters is refused from its header."""
    arrays, _ = contents(saved(tmp_path))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": f"<U{checkpoint.MAX_METADATA_CHARS + 1}", "fortran_order": False, "shape": ()})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("portable_bp_meta.npy", header.getvalue() + bytes(1000))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(buf.getvalue())
    refused(bad, "portable_bp_meta.npy holds .* bytes, more than the .* allowed", max_bytes=1 << 20)


def test_an_honest_file_of_zeros_loads_at_the_cost_of_its_arrays(tmp_path):
    """The bound is the declared arrays: a large network of zeros (compressed 1000:1) loads."""
    net = pbp.MLP([1024, 1024, 1], seed=0)
    zeros = [np.zeros_like(W) for W in net.params_numpy()[0]], net.params_numpy()[1]
    path = tmp_path / "zeros.npz"
    buf = io.BytesIO()
    arrays, meta = {"W1": zeros[0][0], "W2": zeros[0][1], "b1": zeros[1][0], "b2": zeros[1][1]}, None
    net.save(path)
    _, meta = contents(path)
    arrays["portable_bp_meta"] = np.array(json.dumps(meta))
    np.savez_compressed(buf, **arrays)
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size < 50_000
    tracemalloc.start()
    try:
        back = pbp.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not back.params_numpy()[0][0].any()
    declared = sum(a.nbytes for a in arrays.values())
    assert peak < 2.5 * declared + (4 << 20)  # the arrays, the network's copies of them, one 1 MiB piece


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    """Was: a FIFO at the path blocked load forever."""
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    refused(fifo, "FIFO.*not a regular file", seconds=2)
    link = tmp_path / "link.npz"
    link.symlink_to(fifo)
    refused(link, "symbolic link to .*model.npz, which is a FIFO", seconds=2)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_or_a_symlink_to_one_is_refused(tmp_path):
    """Was: a symlink to /dev/zero read until MemoryError."""
    link = tmp_path / "model.npz"
    link.symlink_to("/dev/zero")
    refused(link, "symbolic link to /dev/zero, which is a character device, not a regular file")
    refused("/dev/null", "character device")


def test_a_dangling_symlink_is_file_not_found(tmp_path):
    link = tmp_path / "model.npz"
    link.symlink_to(tmp_path / "gone.npz")
    with pytest.raises(FileNotFoundError, match="symbolic link to .*gone.npz, which does not exist"):
        pbp.load(link)


def _raw(tmp_path, edit):
    """The metadata's JSON text rewritten by ``edit(text)`` (what json.dumps cannot write)."""
    arrays, meta = contents(saved(tmp_path))
    return craft(tmp_path / "bad.npz", arrays, text=edit(json.dumps(meta)))


@pytest.mark.parametrize("edit,match", [
    (lambda t: t.replace('"sizes": [3, 4, 2]', '"sizes": [3, Infinity, 2]'), "holds Infinity"),
    (lambda t: t.replace('"sizes": [3, 4, 2]', '"sizes": [3, 1e400, 2]'), "'sizes' is .* not a list of integers"),
    (lambda t: t.replace('"sizes": [3, 4, 2]', '"sizes": [3, NaN, 2]'), "holds NaN"),
    (lambda t: t.replace('"sizes": [3, 4, 2]', '"sizes": [3, 100000000000000000000, 2]'), "inconsistent"),
    (lambda t: t.replace('"user": {}', '"user": ' + "[" * 100_000 + "]" * 100_000), "nests deeper than 64"),
    (lambda t: t.replace('"user": {}', '"user": ' + "[" * 70 + "]" * 70), "nests deeper than 64"),
    (lambda t: t[:-10], "not valid JSON"),
    (lambda t: "[" + t + "]", "does not name the format"),
])
def test_crafted_metadata_text_is_refused(edit, match, tmp_path):
    """Was: Infinity sizes gave OverflowError, deep nesting RecursionError."""
    refused(_raw(tmp_path, edit), match)


def _set(key, value):
    return lambda a, m: m.__setitem__(key, value)


def _opt(key, value):
    return lambda a, m: m["optimizer"]["config"].__setitem__(key, value)


@pytest.mark.parametrize("mutate,match", [
    (_set("dropout", "abc"), "'dropout' is 'abc'"),  # was a TypeError
    (_set("dropout", [0.5, 0.5]), "'dropout'.*2 rates but the network has 1"),
    (_set("dropout", [1.5]), "'dropout'.*in \\[0, 1\\)"),
    (_set("output_activation", "relu"), "'output_activation' is 'relu', but loss 'cross_entropy' needs"),
    (_set("bias", [1, 0]), "'bias'"),
    (_set("bias", "yes"), "'bias'"),
    (_set("sizes", "3,4,2"), "'sizes'"),
    (_set("sizes", [3, True, 2]), "'sizes'"),
    (lambda a, m: m.update(sizes=[3] * 50, bias=[True] * 49), "'sizes' declares 49 layers but the archive holds"),
    (_set("user", [1, 2]), "'user'"),
    (_set("backend", 7), "'backend'"),
    (_set("library_version", 1.0), "'library_version'"),
    (_set("kernel", None), "kernel is None, not a string"),
    (_set("optimizer", "adam"), "optimizer metadata is incomplete"),
    (_set("format_version", 10**400), "newer portable_bp"),
    (_opt("lr", 10**400), "not one this portable_bp knows"),  # was OverflowError
    (_opt("lr", -1), "not one this portable_bp knows"),
    (_opt("name", "chain"), "not one this portable_bp knows"),
    (_opt("beta1", [0.9]), "not one this portable_bp knows"),
    (lambda a, m: m["optimizer"].__setitem__("slots", True), "'optimizer.slots' is True"),
    (lambda a, m: m["optimizer"].__setitem__("custom_schedule", "no"), "custom_schedule"),
    (lambda a, m: a.__setitem__("opt_step", np.array(-1.0)), "opt_step is -1.0"),
    (lambda a, m: a.__setitem__("opt_step", np.array(1.5)), "opt_step is 1.5"),
    (lambda a, m: a.__setitem__("opt_lr_scale", np.array(np.nan)), "opt_lr_scale is nan"),
    (lambda a, m: a.__setitem__("opt1_W2", np.full((2, 4), np.inf)), "opt1_W2 contains NaN or infinity"),
    (lambda a, m: a.__setitem__("opt_step", np.array([4.0])), r"opt_step has shape \(1,\), expected \(\)"),
])
def test_crafted_metadata_fields_are_refused_naming_the_field(mutate, match, tmp_path):
    refused(mutated(tmp_path, mutate), match)


def test_members_that_are_not_npy_arrays_are_refused(tmp_path):
    """Was: a zip member that is not .npy gave AttributeError."""
    arrays, meta = contents(saved(tmp_path))
    refused(craft(tmp_path / "a.npz", arrays, meta, extra=[("notes.txt", b"hello")]),
            "member 'notes.txt' is not an .npy array")
    refused(craft(tmp_path / "b.npz", arrays, meta, extra=[("dir/", b"")]), "member 'dir/' is not an .npy")
    with pytest.warns(UserWarning, match="Duplicate name"):
        twice = craft(tmp_path / "c.npz", arrays, meta, extra=[("W1.npy", _npy(arrays["W1"]))])
    refused(twice, "appears twice")
    bad_header = b"\x93NUMPY\x01\x00" + (60000).to_bytes(2, "little") + b" " * 10
    refused(craft(tmp_path / "d.npz", {k: v for k, v in arrays.items() if k != "W1"}, meta,
                  extra=[("W1.npy", bad_header)]), "W1.npy is not a valid .npy array")


def test_a_member_with_trailing_bytes_is_refused(tmp_path):
    arrays, meta = contents(saved(tmp_path))
    rest = {k: v for k, v in arrays.items() if k != "W2"}
    refused(craft(tmp_path / "bad.npz", rest, meta, extra=[("W2.npy", _npy(arrays["W2"]) + b"\0" * 64)]),
            "W2.npy declares .* bytes")


# -- properties ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory):
    path = saved(tmp_path_factory.mktemp("good"), dropout=0.25)
    return path.read_bytes(), pbp.load(path)


def _same(a, b):
    pa, pb = a.params_numpy(), b.params_numpy()
    sa = optim.tree_leaves(a.optimizer_state.slots)
    sb = optim.tree_leaves(b.optimizer_state.slots)
    return all(np.array_equal(x, y) for x, y in zip(pa[0] + pa[1] + [np.asarray(s) for s in sa],
                                                       pb[0] + pb[1] + [np.asarray(s) for s in sb]))


@given(cut=st.integers(0, 10**6))
def test_a_truncated_file_is_refused(cut, good_bytes, tmp_path_factory):
    data, _ = good_bytes
    path = tmp_path_factory.mktemp("cut") / "model.npz"
    path.write_bytes(data[:cut % len(data)])
    refused(path, "not a readable portable_bp checkpoint")


@given(where=st.integers(0, 10**6), xor=st.integers(1, 255))
def test_a_flipped_byte_is_refused_or_harmless(where, xor, good_bytes, tmp_path_factory):
    """A changed byte is caught (CRC, headers, metadata) — or lies where it changes nothing read
    (a zip timestamp), and then the network is exactly the saved one."""
    data, net = good_bytes
    corrupt = bytearray(data)
    corrupt[where % len(data)] ^= xor
    path = tmp_path_factory.mktemp("flip") / "model.npz"
    path.write_bytes(bytes(corrupt))
    try:
        with deadline(2):
            back = pbp.load(path)
    except pbp.CheckpointError as exc:
        assert str(path) in str(exc)
    else:
        assert _same(back, net)


_json = st.recursive(st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=False,
                     allow_infinity=False) | st.text(max_size=8),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                     max_leaves=12)
_FIELDS = ["sizes", "bias", "dtype", "activation", "output_activation", "loss", "kernel", "dropout", "user",
           "backend", "optimizer", "format_version", "library_version"]


@given(field=st.sampled_from(_FIELDS), value=_json)
def test_any_json_in_any_field_loads_or_is_a_checkpoint_error(field, value, good_bytes, tmp_path_factory):
    data, _ = good_bytes
    tmp = tmp_path_factory.mktemp("meta")
    (tmp / "good.npz").write_bytes(data)
    arrays, meta = contents(tmp / "good.npz")
    meta[field] = value
    path = craft(tmp / "bad.npz", arrays, meta)
    try:
        with deadline(2):
            pbp.load(path)
    except pbp.CheckpointError as exc:
        assert str(path) in str(exc)


@given(key=st.sampled_from(["lr", "beta1", "beta2", "eps", "name", "weight_decay", "slots"]), value=_json)
def test_any_json_in_the_optimizer_record_loads_or_is_a_checkpoint_error(key, value, good_bytes, tmp_path_factory):
    data, _ = good_bytes
    tmp = tmp_path_factory.mktemp("opt")
    (tmp / "good.npz").write_bytes(data)
    arrays, meta = contents(tmp / "good.npz")
    (meta["optimizer"] if key == "slots" else meta["optimizer"]["config"])[key] = value
    path = craft(tmp / "bad.npz", arrays, meta)
    try:
        with deadline(2):
            back = pbp.load(path)
    except pbp.CheckpointError as exc:
        assert str(path) in str(exc)
    else:
        assert back.optimizer.config() == optim.from_config(meta["optimizer"]["config"]).config()
