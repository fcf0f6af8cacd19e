"""Arrays from other libraries: X given as a torch / JAX / CuPy / array-api-strict array is checked
where it lives and trained on there; y and sample_weight come to the host; answers go back to X's
library and device."""

from __future__ import annotations

from typing import NamedTuple

import array_api_compat
import numpy as np
import scipy.sparse
from sklearn.base import is_classifier
from sklearn.utils.validation import validate_data

from .. import _backend, _validation

_NO_Y = "no_validation"  # scikit-learn's marker for "X only"


class _Input(NamedTuple):
    """X's library when it is a torch / JAX / CuPy / array-api-strict array: the estimator trains on
    that library and answers with its arrays, on X's device."""

    lib: str
    xp: object
    device: object


_LIBRARIES = (("torch", array_api_compat.is_torch_array), ("jax", array_api_compat.is_jax_array),
              ("cupy", array_api_compat.is_cupy_array))


def _input_of(X):
    if isinstance(X, np.ndarray) or not array_api_compat.is_array_api_obj(X):
        return None  # NumPy, lists, pandas, sparse: validated and used as NumPy
    for lib, test in _LIBRARIES:
        if test(X):
            return _Input(lib, array_api_compat.array_namespace(X), array_api_compat.device(X))
    xp = array_api_compat.array_namespace(X)
    if array_api_compat.is_array_api_strict_namespace(xp):
        return _Input("array_api_strict", xp, array_api_compat.device(X))
    return None  # another library (Dask, ...): through NumPy


def _host(a):
    """y or sample_weight as NumPy (they may come from any library, as scikit-learn allows)."""
    return a if (a is None or isinstance(a, np.ndarray) or _input_of(a) is None) else _backend.to_numpy(a)


def _take(X, idx):
    if isinstance(X, np.ndarray):
        return X[idx]
    xp = array_api_compat.array_namespace(X)
    return xp.take(X, xp.asarray(idx, device=array_api_compat.device(X)), axis=0)



def _validate_X(est, X, reset, y=_NO_Y):
    """(X, y) checked: NumPy (dense: sparse X is densified) through scikit-learn's
    validate_data, or an array of another library checked where it lives (no host copy)."""
    inp = _input_of(X)
    if inp is None or y is None:
        kwargs = dict(accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32), reset=reset)
        if y is _NO_Y:
            X = validate_data(est, X, **kwargs)
        else:
            X, y = validate_data(est, X, y, multi_output=True, y_numeric=not is_classifier(est), **kwargs)
        if scipy.sparse.issparse(X):
            X = X.toarray()
        return X, y, None
    xp = inp.xp
    sparse = _validation._sparse_kind(X)
    if sparse is not None:
        raise TypeError(f"X is a sparse {inp.lib} array; sparse input from {inp.lib} is not supported: densify it "
                        f"with X{_validation._DENSIFY.get(sparse, '.to_dense()')} (SciPy sparse matrices are accepted)")
    if xp.isdtype(X.dtype, "complex floating"):  # astype below would drop the imaginary part without a word
        raise ValueError(f"Complex data not supported: X is a {inp.lib} array of dtype {X.dtype}")
    if not xp.isdtype(X.dtype, ("real floating", "integral", "bool")):
        raise TypeError(f"X must be numeric; got a {inp.lib} array of dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D array, got a {X.ndim}D array of {inp.lib} instead")
    if X.shape[0] < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a minimum of 1 is required.")
    if not xp.isdtype(X.dtype, "real floating"):
        X = xp.astype(X, xp.float64)
    if reset:
        est.n_features_in_ = X.shape[1]
        if hasattr(est, "feature_names_in_"):
            del est.feature_names_in_
    elif X.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
                         f"{est.n_features_in_} features as input.")
    if y is not _NO_Y:
        y = np.asarray(y)
        if np.iscomplexobj(y):
            raise ValueError(f"Complex data not supported: y has dtype {y.dtype}")
        if y.ndim == 0 or y.shape[0] != X.shape[0]:
            raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                             f"[{X.shape[0]}, {y.shape[0] if y.ndim else 'y is a scalar'}]")
        if not is_classifier(est):
            y = y.astype(np.float64)
    return X, y, inp


def _as_output(arr, inp):
    """``arr`` in the library and on the device of the X given (NumPy for NumPy-like inputs)."""
    if inp is None:
        return _backend.to_numpy(arr)
    if isinstance(arr, np.ndarray) and not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
        return arr  # string class labels stay NumPy (as scikit-learn keeps classes_)
    same = _input_of(arr)
    if same is not None and same.xp is inp.xp:
        return arr if same.device == inp.device else array_api_compat.to_device(arr, inp.device)
    return inp.xp.asarray(_backend.to_numpy(arr), device=inp.device)
