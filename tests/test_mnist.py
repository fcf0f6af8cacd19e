"""datasets.mnist (LeCun's four IDX files) and datasets.mnist_nielsen (network.py's mnist.pkl.gz), on small
files these tests write: the readers against NumPy written from the formats, the data folder, the
download (a fake URL opener serves local bytes: no test touches the network) with its progress bar,
checksum failures, truncation, offline errors, the pickle's latin1 encoding and its restricted
unpickler, and ``portable-bp train --recipe network_py_mnist``."""

import gzip
import hashlib
import io
import json
import os
import pickle
import struct
import urllib.error

import numpy as np
import pytest

from portable_bp import _fetch, _mnist, cli, datasets

RNG = np.random.default_rng(0)


# -- the files, written from the formats' specifications ----------------------------------------------------
def idx_gz(array, kind):
    """LeCun's IDX format, gzipped: big-endian magic 0x00000803 (images) / 0x00000801 (labels), the sizes,
    then unsigned bytes."""
    array = np.asarray(array, dtype=np.uint8)
    magic = 2051 if kind == "images" else 2049
    header = struct.pack(">i", magic) + b"".join(struct.pack(">i", d) for d in array.shape)
    return gzip.compress(header + array.tobytes())


def small_mnist(n_train=12, n_test=5):
    arrays = {
        "train-images-idx3-ubyte.gz": RNG.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": RNG.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte.gz": RNG.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": RNG.integers(0, 10, n_test),
    }
    files = {name: idx_gz(a, "images" if "images" in name else "labels") for name, a in arrays.items()}
    return arrays, files


def pin(monkeypatch, files, table="IDX"):
    """Checksum the generated files as the real table checksums the real ones (same URLs)."""
    real = getattr(_mnist, table)
    pinned = {name: _fetch.Remote(real[name].urls, hashlib.sha256(data).hexdigest(), len(data))
              for name, data in files.items()}
    monkeypatch.setattr(_mnist, table, pinned)
    return pinned


def write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


class Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2's str (BINSTRING), as the Python 2 pickler that made mnist.pkl.gz did."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj):
        n = len(obj)
        self.write((pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def nielsen_splits(sizes=(30, 8, 10)):
    return tuple((RNG.random((n, 784), dtype=np.float32), RNG.integers(0, 10, n).astype(np.int64)) for n in sizes)


def nielsen_gz(splits):
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(splits)
    # the names Nielsen's file uses (NumPy 1's module; NumPy 2 writes numpy._core)
    return gzip.compress(buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))


@pytest.fixture
def no_network(monkeypatch):
    def refuse(url, *args, **kwargs):
        raise AssertionError(f"a test tried to open {url}")

    monkeypatch.setattr(_fetch, "urlopen", refuse)


# -- the readers ------------------------------------------------------------------------------------------------
def test_mnist_reads_the_four_idx_files(tmp_path, monkeypatch, no_network):
    arrays, files = small_mnist()
    pin(monkeypatch, files)
    write(tmp_path, files)
    (X_train, y_train), (X_test, y_test) = datasets.mnist(data_home=tmp_path, download=False)
    assert X_train.shape == (12, 784) and X_test.shape == (5, 784)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    expect = arrays["train-images-idx3-ubyte.gz"].reshape(12, 784) / 255.0  # rows of the image one after another
    np.testing.assert_allclose(X_train, expect, rtol=1e-7)
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_allclose(X_test, arrays["t10k-images-idx3-ubyte.gz"].reshape(5, 784) / 255.0, rtol=1e-7)
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    assert 0 <= X_train.min() and X_train.max() <= 1


def test_the_real_checksum_table_lists_the_four_files_with_sha256_sums():
    assert list(_mnist.IDX) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    for remote in _mnist.IDX.values():
        assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0 and remote.size > 0
    assert _mnist.NIELSEN["mnist.pkl.gz"].sha256 is None  # no trusted sum known: said, not invented


def test_mnist_nielsen_reads_the_python2_pickle_with_latin1(tmp_path, no_network):
    splits = nielsen_splits()
    data = nielsen_gz(splits)
    assert b"cnumpy.core.multiarray\n_reconstruct" in gzip.decompress(data)
    (tmp_path / "mnist.pkl.gz").write_bytes(data)
    with gzip.open(tmp_path / "mnist.pkl.gz") as f, pytest.raises(UnicodeDecodeError):
        pickle.load(f)  # Python 3's default encoding: the error network.py's readers meet
    out = datasets.mnist_nielsen(data_home=tmp_path, download=False)
    assert len(out) == 3
    for (X, y), (X0, y0) in zip(out, splits):
        assert X.dtype == np.float32 and y.dtype == np.int64 and X.shape == X0.shape
        np.testing.assert_array_equal(X, X0)
        np.testing.assert_array_equal(y, y0)


class Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_the_pickle_may_only_hold_numpy_arrays(tmp_path, monkeypatch, no_network):
    monkeypatch.chdir(tmp_path)
    bad = gzip.compress(pickle.dumps(((Boom(), np.zeros(1)),) * 3, protocol=2))
    (tmp_path / "mnist.pkl.gz").write_bytes(bad)
    with pytest.raises(datasets.DataFileError, match="posix.system is not allowed|os.system is not allowed") as info:
        datasets.mnist_nielsen(data_home=tmp_path, download=False)
    assert "removed, not used" in str(info.value)
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "mnist.pkl.gz").exists()


@pytest.mark.parametrize("damage", ["truncated", "columns", "pixels", "labels"])
def test_a_bad_nielsen_file_is_removed_and_reported(tmp_path, no_network, damage):
    splits = list(nielsen_splits((6, 2, 3)))
    if damage == "columns":
        splits[1] = (splits[1][0][:, :783], splits[1][1])
    elif damage == "pixels":
        splits[2] = (splits[2][0] * 300, splits[2][1])
    elif damage == "labels":
        splits[0] = (splits[0][0], splits[0][1] + 10)
    data = nielsen_gz(tuple(splits))
    (tmp_path / "mnist.pkl.gz").write_bytes(data[: len(data) // 2] if damage == "truncated" else data)
    with pytest.raises(datasets.DataFileError, match="removed, not used"):
        datasets.mnist_nielsen(data_home=tmp_path, download=False)
    assert not (tmp_path / "mnist.pkl.gz").exists()


# -- the folder and the errors without a download ---------------------------------------------------------------
def test_the_data_folder_is_data_home_else_the_variable_else_the_cache(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PORTABLE_BP_DATA", raising=False)
    assert datasets.data_folder() == str(tmp_path / "home" / ".cache" / "portable_bp")
    monkeypatch.setenv("PORTABLE_BP_DATA", str(tmp_path / "env"))
    assert datasets.data_folder() == str(tmp_path / "env")
    assert datasets.data_folder(tmp_path / "given") == str(tmp_path / "given")
    arrays, files = small_mnist()
    pin(monkeypatch, files)
    write(tmp_path / "env", files)
    (X_train, _), _ = datasets.mnist(download=False)  # found through $PORTABLE_BP_DATA
    assert X_train.shape == (12, 784)
    with pytest.raises(TypeError, match="data_home"):
        datasets.mnist(data_home=3)
    with pytest.raises(TypeError, match="download"):
        datasets.mnist(data_home=tmp_path / "env", download="no")


def test_missing_files_without_download_name_the_files_the_folder_and_the_urls(tmp_path, no_network):
    arrays, files = small_mnist()
    write(tmp_path, {"train-images-idx3-ubyte.gz": files["train-images-idx3-ubyte.gz"]})
    with pytest.raises(FileNotFoundError) as info:
        datasets.mnist(data_home=tmp_path, download=False)
    text = str(info.value)
    for name in ("train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert name in text and f"https://ossci-datasets.s3.amazonaws.com/mnist/{name}" in text
    assert str(tmp_path) in text and "download=True" in text and "PORTABLE_BP_DATA" in text
    with pytest.raises(FileNotFoundError, match=r"mnist\.pkl\.gz not found.*github\.com/mnielsen"):
        datasets.mnist_nielsen(data_home=tmp_path, download=False)


# -- the download, through a fake URL opener ---------------------------------------------------------------------
class Response(io.BytesIO):
    def __init__(self, data, announce=None):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data) if announce is None else announce)}


def serve(monkeypatch, by_name, announce=None, opened=None):
    def urlopen(url, timeout=None):
        name = url.rsplit("/", 1)[-1]
        if opened is not None:
            opened.append(url)
        if name not in by_name:
            raise urllib.error.URLError("Name or service not known")
        data = by_name[name]
        return Response(data, announce if announce is None else announce(data))

    monkeypatch.setattr(_fetch, "urlopen", urlopen)


def test_missing_files_are_downloaded_with_a_progress_bar_and_checked(tmp_path, monkeypatch, capsys):
    arrays, files = small_mnist()
    pin(monkeypatch, files)
    opened = []
    serve(monkeypatch, files, opened=opened)
    home = tmp_path / "data" / "nested"
    (X_train, y_train), (X_test, _) = datasets.mnist(data_home=home)
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte.gz"])
    assert sorted(os.listdir(home)) == sorted(files)  # no temporary .part file left
    assert all((home / n).read_bytes() == d for n, d in files.items())
    err = capsys.readouterr().err
    assert "downloading train-images-idx3-ubyte.gz" in err and "100%" in err
    assert len(opened) == 4 and all(u.startswith("https://ossci-datasets.s3.amazonaws.com/") for u in opened)
    datasets.mnist(data_home=home)  # a second call finds the files: no download
    assert len(opened) == 4


def test_a_download_with_the_wrong_checksum_is_removed_never_used(tmp_path, monkeypatch):
    arrays, files = small_mnist()
    pin(monkeypatch, files)
    other = dict(files)
    other["t10k-labels-idx1-ubyte.gz"] = idx_gz(np.zeros(5), "labels")  # a different file, same size class
    serve(monkeypatch, other)
    with pytest.raises(datasets.DataFileError, match=r"t10k-labels-idx1-ubyte\.gz was removed, not used") as info:
        datasets.mnist(data_home=tmp_path)
    assert "SHA-256" in str(info.value) or "bytes" in str(info.value)
    assert "t10k-labels-idx1-ubyte.gz" not in os.listdir(tmp_path)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".part")]


def test_a_cut_off_download_is_removed_and_reported(tmp_path, monkeypatch):
    _, files = small_mnist()
    pin(monkeypatch, files)
    serve(monkeypatch, files, announce=lambda data: len(data) + 100)  # the server promised more than came
    with pytest.raises(datasets.DataFileError, match="stopped after"):
        datasets.mnist(data_home=tmp_path)
    assert not os.listdir(tmp_path)


def test_a_truncated_or_wrong_file_on_disk_is_removed_and_reported(tmp_path, monkeypatch, no_network):
    _, files = small_mnist()
    pin(monkeypatch, files)
    write(tmp_path, files)
    name = "train-images-idx3-ubyte.gz"
    (tmp_path / name).write_bytes(files[name][:-10])
    with pytest.raises(datasets.DataFileError, match="truncated"):
        datasets.mnist(data_home=tmp_path, download=False)
    assert not (tmp_path / name).exists()
    (tmp_path / name).write_bytes(files[name][:-10] + b"0123456789")  # right size, wrong bytes
    with pytest.raises(datasets.DataFileError, match="SHA-256"):
        datasets.mnist(data_home=tmp_path, download=False)
    assert not (tmp_path / name).exists()


def test_offline_the_error_comes_at_once_and_says_where_to_get_the_files(tmp_path, monkeypatch):
    opened = []
    serve(monkeypatch, {}, opened=opened)
    with pytest.raises(OSError, match="download failed") as info:
        datasets.mnist_nielsen(data_home=tmp_path)
    text = str(info.value)
    assert "Name or service not known" in text and str(tmp_path) in text and "github.com/mnielsen" in text
    assert len(opened) == 1 and not os.listdir(tmp_path)


def test_a_downloaded_nielsen_file_is_checked_by_its_gzip_stream(tmp_path, monkeypatch):
    data = nielsen_gz(nielsen_splits((6, 2, 3)))
    serve(monkeypatch, {"mnist.pkl.gz": data[:-40]}, announce=lambda d: len(d))  # a short file, honestly sized
    with pytest.raises(datasets.DataFileError, match="not a whole gzip file"):
        datasets.mnist_nielsen(data_home=tmp_path)
    assert not os.listdir(tmp_path)
    serve(monkeypatch, {"mnist.pkl.gz": data})
    (X, _), _, _ = datasets.mnist_nielsen(data_home=tmp_path)
    assert X.shape == (6, 784)


# -- the CLI recipe ---------------------------------------------------------------------------------------------
def test_the_network_py_mnist_recipe_runs_on_nielsens_file(tmp_path, monkeypatch, capsys, no_network):
    assert cli.RECIPES["network_py_mnist"] == dict(dataset="mnist_nielsen", layers=[784, 30, 10], activation="sigmoid",
                                                   output_activation="sigmoid", loss="mse", init="normal", lr=3.0,
                                                   batch_size=10, epochs=30)
    splits = nielsen_splits((40, 5, 20))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mnist.pkl.gz").write_bytes(nielsen_gz(splits))
    monkeypatch.setenv("PORTABLE_BP_DATA", str(tmp_path / "data"))
    out = tmp_path / "run"
    assert cli.main(["train", "--quiet", "--recipe", "network_py_mnist", "--epochs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "40 train / 20 test samples" in printed, printed
    m = json.loads((out / "metrics.json").read_text())
    assert (m["dataset"], m["sizes"], m["loss"], m["lr"], m["batch_size"], m["init"]) == (
        "mnist_nielsen", [784, 30, 10], "mse", 3.0, 10, "normal")
    assert m["recipe"] == "network_py_mnist" and m["epochs"] == 1 and "Nielsen" in m["test_set"]


def test_the_recipe_offline_fails_with_one_error_and_no_empty_run(tmp_path, monkeypatch, capsys):
    serve(monkeypatch, {})
    monkeypatch.setenv("PORTABLE_BP_DATA", str(tmp_path / "data"))
    out = tmp_path / "runs" / "latest"
    assert cli.main(["train", "--quiet", "--recipe", "network_py_mnist", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "mnist.pkl.gz" in err and "github.com/mnielsen" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_the_cli_reads_the_standard_split_from_the_data_folder(tmp_path, monkeypatch, no_network):
    arrays, files = small_mnist(n_train=12, n_test=5)
    pin(monkeypatch, files)
    write(tmp_path, files)
    monkeypatch.setenv("PORTABLE_BP_DATA", str(tmp_path))
    X_tr, y_tr, X_te, y_te = cli.load_dataset("mnist", seed=3)  # the fixed split, whatever the seed
    assert X_tr.shape == (12, 784) and X_te.shape == (5, 784)
    np.testing.assert_array_equal(y_te, arrays["t10k-labels-idx1-ubyte.gz"])
    assert cli.DEFAULT_LAYERS["mnist"] == cli.DEFAULT_LAYERS["mnist_nielsen"] == "784,30,10"


def test_a_failed_first_download_leaves_no_empty_data_folder(tmp_path):
    home = tmp_path / "cache" / "portable_bp"  # the conftest's opener refuses the network
    with pytest.raises(OSError, match="tests never use the network"):
        datasets.mnist(data_home=home)
    assert not home.exists()
