"""Checkpoints: exact round trips on every backend, atomic writes, and clear errors for bad files."""

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import portable_bp as pbp
from portable_bp import checkpoint


def bits(a):
    """The raw bytes of an array: equality here is bit-for-bit (NaN payloads, -0.0 included)."""
    a = np.ascontiguousarray(a)
    return a.dtype.str, a.shape, a.tobytes()


def assert_same_params(a, b):
    wa, ba = a.params_numpy()
    wb, bb = b.params_numpy()
    assert len(wa) == len(wb)
    for x, y in zip(wa + ba, wb + bb):
        assert (x is None) == (y is None)
        if x is not None:
            assert bits(x) == bits(y)


def trained(backend, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 3, 30)
    net = pbp.MLP([3, 5, 4, 3], activation="tanh", output_activation="softmax", loss="cross_entropy",
                  backend=backend, dtype=dtype, seed=seed)
    net.fit(X, y, epochs=2, batch_size=7, lr=0.3, seed=1, progress=False)
    return net, X


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_trip_is_bit_exact_across_backends(backend, other_backends, dtype, tmp_path):
    """Save from ``backend``; load into every available backend; the parameters are the same bits."""
    net, X = trained(backend, dtype)
    path = net.save(tmp_path / "model.npz")
    for target in other_backends:
        back = pbp.load(path, backend=target)
        assert back.backend == target and back.dtype_name == dtype
        assert (back.sizes, back.activation, back.output_activation, back.loss, back.kernel) == (
            net.sizes, net.activation, net.output_activation, net.loss, net.kernel)
        assert_same_params(back, net)
        if target == backend:  # same backend, same parameters: the same predictions, exactly
            assert bits(pbp.to_numpy(back.predict(X))) == bits(pbp.to_numpy(net.predict(X)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_extreme_values_survive(backend, dtype, tmp_path):
    """-0.0, subnormals, the largest and smallest normal numbers: still the same bits."""
    info = np.finfo(dtype)
    W = np.array([[-0.0, info.smallest_subnormal, info.max], [info.tiny, -info.max, 1 / 3]], dtype=dtype)
    net = pbp.MLP.from_params([W, np.array([[np.pi, -np.e]])], [None, np.array([np.nextafter(1.0, 2.0)])],
                              activation="identity", backend=backend, dtype=dtype)
    back = pbp.load(net.save(tmp_path / "x.npz"), backend=backend)
    assert back.biases[0] is None and back.biases[1] is not None
    assert_same_params(back, net)
    assert bits(pbp.to_numpy(back.weights[0]))[2] == W.tobytes()


def test_file_is_plain_npz_without_pickles(tmp_path):
    net, _ = trained("numpy")
    path = net.save(tmp_path / "m.npz", metadata={"note": "hello", "epochs": 2})
    with np.load(path, allow_pickle=False) as f:  # readable without portable_bp
        params = ["W1", "W2", "W3", "b1", "b2", "b3"]  # and network.py's SGD: a step count, no state slots
        assert sorted(f.files) == params + ["opt_lr_scale", "opt_step", "portable_bp_meta"]
        meta = json.loads(str(f["portable_bp_meta"][()]))
        np.testing.assert_array_equal(f["W2"], net.weights[1])
        assert int(f["opt_step"]) == 2 * 5  # trained(): 2 epochs of 5 batches (30 samples, 7 a batch)
    assert meta["format"] == "portable_bp.checkpoint" and meta["format_version"] == 3
    assert meta["optimizer"] == {"config": {"name": "sgd", "lr": 0.3}, "slots": 0}
    assert meta["library_version"] == pbp.__version__ and meta["sizes"] == [3, 5, 4, 3]
    assert meta["user"] == {"note": "hello", "epochs": 2}
    assert checkpoint.read_metadata(path) == meta
    with zipfile.ZipFile(path) as z:
        assert all(not n.endswith(".pkl") for n in z.namelist())


def test_load_dtype_and_kernel_override(tmp_path):
    net, X = trained("numpy", "float64")
    path = net.save(tmp_path / "m.npz")
    f32 = pbp.load(path, dtype="float32", kernel="stacked")
    assert f32.dtype_name == "float32" and f32.kernel == "stacked"
    for a, b in zip(f32.params_numpy()[0], net.params_numpy()[0]):
        assert bits(a) == bits(b.astype(np.float32))


def test_resumed_training_equals_uninterrupted(backend, tmp_path):
    """Save after 2 epochs, load, train 2 more with the same Generator: identical to 4 epochs straight."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((24, 2)), rng.uniform(0, 1, (24, 1))
    straight = pbp.MLP([2, 4, 1], backend=backend, seed=3)
    straight.fit(X, Y, epochs=4, batch_size=5, lr=0.5, seed=9, progress=False)

    first = pbp.MLP([2, 4, 1], backend=backend, seed=3)
    gen = np.random.default_rng(9)
    first.fit(X, Y, epochs=2, batch_size=5, lr=0.5, seed=gen, progress=False)
    first.save(tmp_path / "half.npz", metadata={"rng_state": gen.bit_generator.state})
    second = pbp.load(tmp_path / "half.npz", backend=backend)
    gen2 = np.random.default_rng()
    gen2.bit_generator.state = checkpoint.read_metadata(tmp_path / "half.npz")["user"]["rng_state"]
    second.fit(X, Y, epochs=2, batch_size=5, lr=0.5, seed=gen2, progress=False)
    assert_same_params(second, straight)


# -- atomic writes ------------------------------------------------------------------------------
def _partial_then(exc):
    def fake_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip archive")  # some bytes reach the temporary file first
        raise exc

    return fake_savez


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt(), RuntimeError("boom")])
def test_interrupted_write_keeps_previous_file(exc, tmp_path, monkeypatch):
    old, _ = trained("numpy", seed=0)
    path = tmp_path / "model.npz"
    old.save(path)
    before = path.read_bytes()
    new, _ = trained("numpy", seed=1)
    monkeypatch.setattr(checkpoint.np, "savez", _partial_then(exc))
    with pytest.raises(type(exc)):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before  # the previous checkpoint, untouched
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # and no temporary file left behind
    assert_same_params(pbp.load(path), old)


@pytest.mark.parametrize("stage", ["fsync", "replace"])
def test_failure_after_writing_before_rename(stage, tmp_path, monkeypatch):
    old, _ = trained("numpy", seed=0)
    path = tmp_path / "model.npz"
    old.save(path)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(5, f"simulated I/O error in {stage}")

    monkeypatch.setattr(checkpoint.os, stage, fail)
    with pytest.raises(OSError, match="simulated"):
        trained("numpy", seed=1)[0].save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_interrupted_first_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint.np, "savez", _partial_then(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        trained("numpy")[0].save(tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_save_follows_symlink_and_umask(tmp_path):
    real = tmp_path / "real.npz"
    link = tmp_path / "link.npz"
    net, _ = trained("numpy")
    net.save(real)
    link.symlink_to(real)
    other, _ = trained("numpy", seed=5)
    other.save(link)
    assert link.is_symlink()
    assert_same_params(pbp.load(real), other)
    umask = os.umask(0)
    os.umask(umask)
    assert real.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_errors(tmp_path):
    net, _ = trained("numpy")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        net.save(tmp_path / "missing_dir" / "m.npz")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        net.save(tmp_path)
    with pytest.raises(TypeError, match="JSON"):
        net.save(tmp_path / "m.npz", metadata={"f": object()})
    with pytest.raises(TypeError, match="metadata must be a dict"):
        net.save(tmp_path / "m.npz", metadata=[1, 2])
    with pytest.raises(TypeError, match="path must be"):
        net.save(3.5)
    with pytest.raises(TypeError, match="needs a portable_bp.MLP"):
        checkpoint.save("not a net", tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


# -- bad files ----------------------------------------------------------------------------------
def _saved_bytes(tmp_path):
    net, _ = trained("numpy")
    return net.save(tmp_path / "good.npz"), (tmp_path / "good.npz").read_bytes()


def _rewrite(path, mutate):
    """Rewrite a checkpoint's arrays/metadata through ``mutate(arrays, meta)`` (a crafted bad file)."""
    with np.load(path) as f:
        arrays = dict(f)
    meta = json.loads(str(arrays["portable_bp_meta"][()]))
    mutate(arrays, meta)
    arrays["portable_bp_meta"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize("cut", [0, 1, 30, 0.25, 0.5, 0.9, -22, -1])
def test_truncated_file_is_a_clear_error(cut, tmp_path):
    _, data = _saved_bytes(tmp_path)
    n = int(cut * len(data)) if isinstance(cut, float) else (cut if cut >= 0 else len(data) + cut)
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(data[:n])
    with pytest.raises(pbp.CheckpointError, match=f"{bad}.*not a readable portable_bp checkpoint"):
        pbp.load(bad)


@pytest.mark.parametrize("where", [0.1, 0.3, 0.5, 0.7])
def test_flipped_byte_is_caught(where, tmp_path):
    _, data = _saved_bytes(tmp_path)
    corrupt = bytearray(data)
    corrupt[int(where * len(data))] ^= 0x5A
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(corrupt))
    with pytest.raises(pbp.CheckpointError, match=str(bad)):
        pbp.load(bad)


def _foreign_files():
    npy = io.BytesIO()
    np.save(npy, np.ones((2, 2)))
    plain = io.BytesIO()
    np.savez(plain, W1=np.ones((3, 2)), b1=np.ones((3, 1)))  # the old CLI's weights.npz layout
    objects = io.BytesIO()
    np.savez(objects, portable_bp_meta=np.array([{"format": "x"}], dtype=object))
    return {
        "text": (b"just some text\n", "not an .npz"),
        "pickle": (pickle.dumps({"W1": [[1.0]]}), "not an .npz"),
        "npy": (npy.getvalue(), "single .npy array"),
        "plain npz": (plain.getvalue(), "no .portable_bp_meta. entry.*MLP.from_params"),
        "pickled objects": (objects.getvalue(), "pickled Python objects"),
    }


@pytest.mark.parametrize("kind", list(_foreign_files()))
def test_foreign_file_is_a_clear_error(kind, tmp_path):
    data, match = _foreign_files()[kind]
    bad = tmp_path / "foreign.npz"
    bad.write_bytes(data)
    with pytest.raises(pbp.CheckpointError, match=f"{bad}.*{match}"):
        pbp.load(bad)


def _set(key, value):
    return lambda arrays, meta: meta.__setitem__(key, value)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (_set("format_version", 4), "newer portable_bp.*format version 4.*up to 3.*Upgrade"),
        (_set("format_version", "1"), "format_version is '1'"),
        (_set("format", "keras"), "does not name the format"),
        (_set("activation", "swish"), "activation 'swish' is unknown"),
        (_set("dtype", "float16"), "inconsistent"),
        (_set("sizes", [3, 5, 4, 2]), r"W3 has shape \(3, 4\), expected \(2, 4\) for sizes"),
        (_set("sizes", [3, 5, 3]), "inconsistent"),
        (lambda a, m: m.pop("loss"), "incomplete"),
        (lambda a, m: a.__setitem__("W2", np.ones((5, 4))), r"W2 has shape \(5, 4\), expected \(4, 5\)"),
        (lambda a, m: a.__setitem__("W2", np.ones((4, 5), dtype=np.float32)), "W2 has dtype float32"),
        (lambda a, m: a.__setitem__("b1", np.full((5, 1), np.nan)), "NaN or infinity"),
        (lambda a, m: a.pop("b3"), r"missing \['b3'\]"),
        (lambda a, m: a.__setitem__("extra", np.ones(2)), r"unexpected \['extra'\]"),
    ],
)
def test_bad_contents_are_clear_errors(mutate, match, tmp_path):
    path, _ = _saved_bytes(tmp_path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(_rewrite(path, mutate))
    with pytest.raises(pbp.CheckpointError, match=match) as info:
        pbp.load(bad)
    assert str(bad) in str(info.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        pbp.load(tmp_path / "nope.npz")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        pbp.load(tmp_path)
    with pytest.raises(TypeError, match="path must be"):
        pbp.load(None)


def test_load_checks_its_other_arguments(tmp_path):
    path, _ = _saved_bytes(tmp_path)
    with pytest.raises(ValueError, match="unknown backend"):
        pbp.load(path, backend="tensorflow")
    with pytest.raises(ValueError, match="dtype must be one of"):
        pbp.load(path, dtype="float16")
