"""Checks at the public entry points: bad input becomes a ValueError/TypeError that says what
was expected, before any backend sees it."""

from __future__ import annotations

import numbers
import sys

import numpy as np

from . import _backend, _checks


class DataError(ValueError):
    """Bad values found in data as it is read during training (out-of-core data is checked block by
    block): the training loop puts the parameters back to the epoch's start and says so."""


def _sparse_kind(x):
    """'scipy' / 'torch' / 'pydata' for a sparse array or matrix of those libraries, else None."""
    scipy_sparse = sys.modules.get("scipy.sparse")  # not imported: x cannot be one of its matrices
    if scipy_sparse is not None and scipy_sparse.issparse(x):
        return "scipy"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor) and x.layout != torch.strided:
        return "torch"
    if type(x).__module__.split(".")[0] == "sparse" and hasattr(x, "todense"):
        return "pydata"
    return None


_DENSIFY = {"scipy": ".toarray()", "torch": ".to_dense()", "pydata": ".todense()"}


def _from_pandas(x, name):
    """A pandas DataFrame/Series with nullable (extension) columns as a float64 array; None when
    ``x`` is not pandas or has only NumPy columns (then ``np.asarray`` converts it as before).

    ``np.asarray`` turns nullable columns (``Int64``, ``Float64``, ``boolean``) into object arrays,
    and their missing values ``pd.NA`` into objects that no float check would name.
    """
    pd = sys.modules.get("pandas")  # not imported: x cannot be a pandas object
    if pd is None or not isinstance(x, (pd.DataFrame, pd.Series)):
        return None
    frame = x if isinstance(x, pd.DataFrame) else x.to_frame()
    nullable = [c for c, dtype in frame.dtypes.items() if not isinstance(dtype, np.dtype)]
    if not nullable:
        return None
    missing = [c for c in nullable if frame[c].isna().any()]
    if missing:
        where = f"column(s) {missing[:5]}" if isinstance(x, pd.DataFrame) else f"the Series {x.name!r}"
        count = int(sum(frame[c].isna().sum() for c in missing))
        raise ValueError(
            f"{name} holds missing values (pd.NA): {count} in {where}; fill them (e.g. {name}.fillna(0)) "
            f"or drop those rows ({name}.dropna()) first"
        )
    try:
        return x.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):  # e.g. a categorical of strings: reported below as non-numeric
        return None


def _object_problem(arr):
    """What makes an object array non-numeric, in words, from its first offending element."""
    pd = sys.modules.get("pandas")
    for item in arr.flat:
        if item is None or (pd is not None and item is pd.NA):
            return f"missing values ({item!r})", "fill or drop them first"
        if isinstance(item, (list, tuple, np.ndarray)) or hasattr(item, "__len__") and not isinstance(item, str):
            return "ragged rows (sequences of different lengths)", "give rows of equal length"
    kinds = sorted({type(item).__name__ for item in arr.flat[:1000]})
    return f"Python objects of type {', '.join(kinds)}", "convert it first, e.g. np.asarray(..., dtype=float)"


def to_host(x, name):
    """An array-like (list, NumPy, or any backend's array) as a NumPy float array, checked.

    ``np.matrix`` becomes a plain ndarray (its ``*`` and 2-D-only indexing would break the
    numerics); a masked array with masked values is refused (its mask would be silently dropped);
    sparse matrices and pandas' nullable columns get a message that says what they are.
    """
    if isinstance(x, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(x)
        if mask.any():
            first = tuple(int(i) for i in np.argwhere(mask)[0])
            raise ValueError(
                f"{name} is a masked array with {int(mask.sum())} masked value(s) (the first at index {first}); "
                f"its mask would be ignored. Fill them ({name}.filled(value)) or drop those samples first"
            )
        x = np.asarray(x.data)  # nothing masked: the data as they are
    elif isinstance(x, np.matrix):
        x = np.asarray(x)
    sparse = _sparse_kind(x)
    if sparse is not None:
        raise TypeError(
            f"{name} is a sparse {type(x).__name__}; sparse input is not supported: densify it with "
            f"{name}{_DENSIFY[sparse]} (the network's products are dense anyway)"
        )
    host = _from_pandas(x, name)
    if host is not None:
        return host
    try:
        arr = _backend.to_numpy(x)
    except Exception as exc:
        raise TypeError(f"{name} must be an array-like of numbers; got {type(x).__name__} ({exc})") from None
    if isinstance(arr, np.matrix):  # e.g. returned by an array-like's __array__
        arr = np.asarray(arr)
    if arr.dtype == object:
        what, fix = _object_problem(arr)
        raise TypeError(f"{name} must be a numeric array; got object data holding {what}: {fix}")
    if arr.dtype.kind in "mM":  # NumPy counts timedelta64 as an integer: it would pass as numbers
        what = "timedelta64 (durations)" if arr.dtype.kind == "m" else "datetime64 (dates)"
        raise TypeError(f"{name} must be numeric; got {what} dtype {arr.dtype}: convert it to numbers first, e.g. "
                        f"{name} / np.timedelta64(1, 's') for seconds")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real-valued; got complex dtype {arr.dtype}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be numeric; got dtype {arr.dtype}")
    return arr


def check_finite_host(arr, name, *, dtype=None):
    """Refuse an empty array and NaN/inf; with ``dtype`` ("float32"/"float64"), also finite values
    that become infinite when cast to that dtype (|x| > its largest finite value)."""
    if arr.size == 0:
        if arr.ndim >= 2 and arr.shape[0] > 0:
            raise ValueError(
                f"{name} has {arr.shape[0]} samples (rows) but 0 columns (shape {arr.shape}); each sample needs "
                f"at least one value"
            )
        raise ValueError(f"{name} is empty (shape {arr.shape}): 0 samples; need at least one sample")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity; clean or impute it first")
    if dtype is not None:
        check_in_range(arr, name, dtype)


def check_in_range(arr, name, dtype):
    """Refuse finite values of ``arr`` beyond the range of ``dtype`` (a name: "float32", "float64"),
    which the cast to the network's dtype would turn into ±inf without a word."""
    try:
        target = np.dtype(dtype)
    except TypeError:
        target = None
    if target is None or target.kind != "f":
        raise ValueError(f"dtype must be a floating dtype such as 'float32' or 'float64'; got {dtype!r}")
    big = np.finfo(target).max
    if arr.dtype.kind in "biu" or arr.dtype == np.bool_:
        source_max = np.iinfo(arr.dtype).max if arr.dtype.kind in "iu" else 1
    elif arr.dtype.kind == "f":
        source_max = np.finfo(arr.dtype).max
    else:
        return
    if source_max <= big or arr.size == 0:  # nothing in this dtype can be out of range
        return
    largest = np.max(np.abs(arr))
    if largest > big:
        wider = " or use dtype='float64'" if target.itemsize < 8 else ""
        shown = np.format_float_scientific(largest, precision=2, unique=False)  # also a longdouble beyond 1e308
        raise ValueError(
            f"{name} holds values up to {shown} in magnitude, beyond the range of {target.name} (±{float(big):.3g}): "
            f"they would become ±inf in the network's dtype {target.name}; rescale them{wider}"
        )


def inputs(X, n_in, name="X", *, dtype=None):
    """X as a NumPy (N, n_in) array (a single sample (n_in,) is accepted as (1, n_in))."""
    arr = to_host(X, name)
    if arr.ndim == 1 and n_in is not None and arr.shape[0] == n_in:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N samples, {n_in} features), batch-first; got shape {arr.shape}")
    if arr.shape[0] > 0 and arr.shape[1] == 0 and n_in is not None:
        raise ValueError(
            f"{name} has {arr.shape[0]} samples and 0 features (shape {arr.shape}); the network's input layer "
            f"has {n_in}: expected shape (N, {n_in})"
        )
    check_finite_host(arr, name, dtype=dtype)
    if n_in is not None and arr.shape[1] != n_in:
        raise ValueError(
            f"{name} has {arr.shape[1]} features per sample but the network's input layer has {n_in}: "
            f"expected shape (N, {n_in}); got {arr.shape}"
        )
    return arr


def targets(Y, n_out, n_samples, output_activation, name="Y", loss=None, *, dtype=None):
    """Y as a NumPy (N, n_out) array; integer class labels (N,) are one-hot encoded."""
    arr = to_host(Y, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must be (N, {n_out}) targets or (N,) class labels; got the scalar {arr!r}")
    check_finite_host(arr, name, dtype=dtype)
    if arr.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} samples but {name} has {arr.shape[0]}: they must match")
    if arr.ndim == 1:
        classifier = output_activation in ("softmax", "sigmoid")
        integral = np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_ or np.all(arr == np.round(arr))
        if n_out == 1:
            arr = arr[:, None]
        elif classifier and integral:
            labels = arr.astype(np.int64)
            if labels.min() < 0 or labels.max() >= n_out:
                raise ValueError(
                    f"class labels in {name} must lie in [0, {n_out - 1}] for {n_out} output units; "
                    f"got values from {labels.min()} to {labels.max()}"
                )
            arr = (labels[:, None] == np.arange(n_out)).astype(np.float64)
        else:
            raise ValueError(
                f"{name} must be (N, {n_out}), or integer class labels (N,) for a softmax/sigmoid output; "
                f"got shape {arr.shape}"
            )
    if arr.ndim != 2 or arr.shape[1] != n_out:
        raise ValueError(f"{name} must have shape (N, {n_out}) to match the output layer; got {arr.shape}")
    if loss == "cross_entropy" and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(target_range_message(name, float(arr.min()), float(arr.max())))
    if loss == "poisson" and arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative for loss='poisson' (counts or rates); got a minimum of "
                         f"{float(arr.min()):g}")
    return arr


def target_range_message(name, lo, hi):
    return (
        f"{name} must lie in [0, 1] for loss='cross_entropy' (one-hot rows, probabilities, or integer class "
        f"labels); got values from {lo:g} to {hi:g}"
    )


def params(weights, biases):
    """``MLP.from_params``'s arguments as checked NumPy float64 lists (biases (n_l, 1) or None)."""
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__") or len(weights) == 0:
        raise TypeError("weights must be a non-empty list of 2-D arrays W^l of shape (n_l, n_{l-1})")
    ws = []
    for l, W in enumerate(weights):
        W = to_host(W, f"weights[{l}]").astype(np.float64)
        if W.ndim != 2:
            raise ValueError(f"weights[{l}] must be 2-D (n_l, n_{{l-1}}); got shape {W.shape}")
        check_finite_host(W, f"weights[{l}]")
        if l > 0 and W.shape[1] != ws[-1].shape[0]:
            raise ValueError(
                f"weights[{l}] has shape {W.shape} but weights[{l - 1}] has {ws[-1].shape}: "
                f"expected {W.shape[0]} x {ws[-1].shape[0]} (n_l, n_{{l-1}})"
            )
        ws.append(W)
    if biases is None:
        biases = [None] * len(ws)
    if len(biases) != len(ws):
        raise ValueError(f"got {len(ws)} weight matrices but {len(biases)} biases")
    bs = []
    for l, (b, W) in enumerate(zip(biases, ws)):
        if b is None:
            bs.append(None)
            continue
        b = to_host(b, f"biases[{l}]").astype(np.float64)
        if b.shape not in ((W.shape[0], 1), (W.shape[0],)):
            raise ValueError(f"biases[{l}] must have shape ({W.shape[0]}, 1) or ({W.shape[0]},); got {b.shape}")
        check_finite_host(b, f"biases[{l}]")
        bs.append(b.reshape(-1, 1))
    return ws, bs


def dropout(rate, n_hidden):
    """``dropout=``: None, one rate for every hidden layer, or one per hidden layer; each in [0, 1)."""
    if rate is None:
        return None
    rates = [rate] * n_hidden if isinstance(_checks._scalar(rate), numbers.Real) else rate
    try:
        if isinstance(rates, (str, bytes)):
            raise TypeError
        rates = [r for r in rates]
    except TypeError:
        raise TypeError(f"dropout must be a rate in [0, 1) or a list of one per hidden layer; got {rate!r}") from None
    if n_hidden == 0:
        raise ValueError("dropout acts on hidden layers, and this network has none")
    if len(rates) != n_hidden:
        raise ValueError(f"dropout lists {len(rates)} rates but the network has {n_hidden} hidden layers")
    return tuple(_checks.probability("dropout" if len(rates) == 1 else f"dropout[{i}]", r) for i, r in enumerate(rates))


def weights(w, n_samples, name="sample_weight", *, dtype="float64"):
    """Per-sample weights: a (N,) array of finite numbers >= 0 with a positive sum that is finite in
    ``dtype`` (the network's), as a NumPy array."""
    arr = to_host(w, name).astype(np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape != (n_samples,):
        raise ValueError(f"{name} must have one weight per sample, shape ({n_samples},); got {arr.shape}")
    big = float(np.finfo(np.dtype(dtype)).max)
    with np.errstate(over="ignore"):
        total = arr.sum()
    if not np.isfinite(arr).all() or (arr < 0).any() or not total > 0:
        raise ValueError(f"{name} must hold finite numbers >= 0 with a positive sum")
    if not total <= big:  # each weight finite, their sum not: every weighted mean would be inf/inf
        raise ValueError(f"{name} sums to {total:.3g}, beyond the largest {np.dtype(dtype).name} ({big:.3g}): the "
                         f"weighted means would overflow; rescale the weights (only their ratios matter), e.g. "
                         f"{name} / {name}.max()")
    return arr
