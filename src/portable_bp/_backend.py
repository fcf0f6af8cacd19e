"""The one module that knows about particular backends.

Everything backend-specific lives here: which libraries can be used, how their
array namespace is obtained, float64 on JAX, device placement, ``jit``, each
library's own ``einsum`` (the array API standard has none) and conversion back
to NumPy.  The numerics (``activations``, ``losses``, ``kernels``, ``backprop``)
only ever call the namespace of the arrays they are given.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys

import numpy as np

ENV_VAR = "PORTABLE_BP_BACKEND"

#: name -> (pip extra / install hint, short description)
BACKENDS = {
    "numpy": ("pip install numpy", "NumPy on the CPU (always available)"),
    "array_api_strict": (
        'pip install "portable_bp[strict]"',
        "array-api-strict, the standard's reference namespace, with its strictest flags",
    ),
    "jax": ('pip install "portable_bp[jax]"', "JAX (CPU, or GPU with jax[cuda12]); steps run under jax.jit"),
    "torch": ('pip install "portable_bp[torch]"', "PyTorch through array-api-compat"),
    "cupy": ('pip install "portable_bp[cupy]"', "CuPy through array-api-compat; needs an NVIDIA GPU"),
}

DTYPES = ("float32", "float64")

#: backends whose arithmetic is NumPy's, with its floating-point warnings
NUMPY_BASED = ("numpy", "array_api_strict")


def _strict_namespace():
    import array_api_strict

    # The strictest flags: no boolean-mask indexing, no data-dependent output shapes.
    array_api_strict.set_array_api_strict_flags(boolean_indexing=False, data_dependent_shapes=False)
    return array_api_strict


def _load(name):
    """Import backend ``name`` and return its array-API namespace (raises on failure)."""
    if name == "numpy":
        import array_api_compat.numpy as xp
    elif name == "array_api_strict":
        xp = _strict_namespace()
    elif name == "jax":
        import jax
        import jax.numpy as xp  # jax.numpy is an array-API namespace itself (jax >= 0.4.32)

        # On GPUs JAX multiplies float32 matrices in TF32 by default (errors ~1e-3); the promise
        # is float32 agreement to ~1e-5, so ask for full precision unless the user chose already.
        if jax.config.jax_default_matmul_precision is None:
            jax.config.update("jax_default_matmul_precision", "highest")
    elif name == "torch":
        import array_api_compat.torch as xp
    elif name == "cupy":
        import array_api_compat.cupy as xp
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("CuPy imported but sees no CUDA device")
    else:  # pragma: no cover - guarded by callers
        raise KeyError(name)
    return xp


@functools.cache
def _probe(name):
    """(namespace, None) if backend ``name`` works here, else (None, reason)."""
    try:
        xp = _load(name)
        x = xp.asarray([1.0, 2.0])
        float(xp.sum(x))
        return xp, None
    except Exception as exc:  # any failure means "not available here"
        return None, f"{type(exc).__name__}: {exc}"


def available_backends():
    """Names of the backends that import and work on this machine, e.g. ``['numpy', 'jax']``."""
    return [name for name in BACKENDS if _probe(name)[0] is not None]


def unavailable_reason(name):
    """Why backend ``name`` cannot be used here (None when it can)."""
    return _probe(name)[1]


def resolve_backend(name=None):
    """Validate a backend name (default: $PORTABLE_BP_BACKEND, else 'numpy')."""
    if name is None:
        name = os.environ.get(ENV_VAR, "") or "numpy"
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string, one of {list(BACKENDS)}; got {name!r}")
    name = name.strip().lower().replace("-", "_")
    if name == "strict":
        name = "array_api_strict"
    if name not in BACKENDS:
        raise ValueError(
            f"unknown backend {name!r}: expected one of {list(BACKENDS)} "
            f"(available here: {available_backends()})"
        )
    if _probe(name)[0] is None:
        raise ValueError(
            f"backend {name!r} is not available here ({unavailable_reason(name)}). "
            f"Install it with: {BACKENDS[name][0]}. Available here: {available_backends()}"
        )
    return name


def namespace(name):
    """The array-API namespace of a (validated) backend name."""
    return _probe(resolve_backend(name))[0]


def compute_namespace(xp):
    """The namespace the numerics compute with (``Spec.xp``): ``xp`` itself, except for NumPy, where
    :func:`lean_numpy` calls the float reductions straight on the ufunc."""
    return lean_numpy() if xp is _probe("numpy")[0] else xp


@functools.cache
def lean_numpy():
    """array-api-compat's NumPy namespace with ``sum`` and ``max`` over an axis of a float array
    computed by ``np.add.reduce`` / ``np.maximum.reduce`` directly — the same ufunc loop, the same
    numbers — instead of through ``np.sum``/``np.max``'s dispatch, which costs about 1.3 µs a call:
    at batch 10 half the price of a reduction, and a training step makes four. Every other function,
    and every other call of these two, is array-api-compat's own."""
    import types

    import array_api_compat.numpy as base

    lean = types.ModuleType("portable_bp.lean_numpy", lean_numpy.__doc__)
    lean.__dict__.update({k: v for k, v in vars(base).items() if not k.startswith("__")})
    add, maximum = np.add.reduce, np.maximum.reduce

    def sum(x, /, *, axis=None, dtype=None, keepdims=False):  # noqa: A001 - the standard's name
        if axis is not None and dtype is None and type(x) is np.ndarray and x.dtype.kind == "f":
            return add(x, axis=axis, keepdims=keepdims)
        return base.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)

    def max(x, /, *, axis=None, keepdims=False):  # noqa: A001
        if axis is not None and type(x) is np.ndarray and x.dtype.kind == "f":
            return maximum(x, axis=axis, keepdims=keepdims)
        return base.max(x, axis=axis, keepdims=keepdims)

    lean.sum, lean.max = sum, max
    return lean


def resolve_dtype(xp, name, backend):
    """The namespace's float dtype for ``'float32'`` / ``'float64'``; turns on JAX x64 if needed."""
    name = getattr(name, "name", name)  # accept numpy dtypes too
    name = str(name)
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}; got {name!r}")
    if backend == "jax" and name == "float64":
        import jax

        # JAX computes in float32 unless x64 is switched on; portable_bp does it for you.
        jax.config.update("jax_enable_x64", True)
    return getattr(xp, name)


def dtype_name(dtype):
    for name in DTYPES:
        if name in str(dtype):
            return name
    return str(dtype)


def default_device(backend, device):
    """Device to place arrays on; None means the backend's default."""
    if device is None:
        return None
    if backend == "jax" and isinstance(device, str):
        import jax

        return jax.devices(device)[0]
    if backend == "array_api_strict" and isinstance(device, str):
        import array_api_strict

        return array_api_strict.Device(device)
    return device


def device_of(x):
    """A printable name for the device array ``x`` lives on."""
    import array_api_compat

    try:
        return str(array_api_compat.device(x))
    except Exception:  # pragma: no cover
        return "?"


def device_key(x):
    """What ``x``'s device compares equal by: the standard's ``x.device`` where the array has a
    single one (an attribute read; ``device_of`` costs several microseconds on JAX), else
    ``device_of``'s name (arrays sharded over several devices, libraries without ``.device``)."""
    try:
        return x.device
    except Exception:
        return device_of(x)


def is_backend_array(x):
    """True for arrays of any supported library (not lists, scalars or NumPy scalars)."""
    import array_api_compat

    return array_api_compat.is_array_api_obj(x) and not isinstance(x, np.generic)


_NAMESPACE_OF_TYPE = {}  # type(x) -> its array-API namespace (None: not an array); filled on first sight


def same_namespace(x, xp):
    """True when ``x`` is an array of namespace ``xp``. On the hot path of every call, so the
    answer of ``array_namespace`` (which depends only on the array's type) is remembered per type."""
    kind = type(x)
    try:
        return _NAMESPACE_OF_TYPE[kind] is xp
    except KeyError:
        pass
    import array_api_compat

    if issubclass(kind, (np.matrix, np.ma.MaskedArray)):  # NumPy's, but never used as they are:
        _NAMESPACE_OF_TYPE[kind] = None  # matrix's * and 2-D-only indexing, a mask: the input checks convert or refuse
        return False
    try:
        ns = array_api_compat.array_namespace(x)
    except TypeError:
        ns = None
    if ns is not None:  # non-arrays (lists, scalars) are rare here and not worth a cache entry
        _NAMESPACE_OF_TYPE[kind] = ns
    return ns is xp


def detached(x):
    """``x`` without autograd history: a torch tensor that requires grad would pull the weights into
    its graph, which then grows with every step."""
    return x.detach() if getattr(x, "requires_grad", False) else x


def is_strided(x):
    """False for a sparse torch tensor (a layout other than ``torch.strided``), True otherwise."""
    layout = getattr(x, "layout", None)
    return layout is None or layout == sys.modules["torch"].strided


def for_backend(a, backend):
    """A host (NumPy) array as ``backend`` takes it without complaint: PyTorch warns about, and would
    share memory with, a read-only array (a JAX array seen through NumPy, a broadcast), so torch gets
    a copy of those. Anything else is returned as it is."""
    if backend == "torch" and isinstance(a, np.ndarray) and not a.flags.writeable:
        return a.copy()
    return a


def to_numpy(x):
    """Any backend's array (or an array-like) as a ``numpy.ndarray``."""
    if isinstance(x, np.ndarray):
        return x
    import array_api_compat

    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_jax_array(x):
        return np.asarray(x)
    if is_backend_array(x):
        try:
            return np.asarray(x)
        except Exception:
            return np.from_dlpack(x)
    return np.asarray(x)


def jit(fn, backend):
    """Compile ``fn`` where the backend has a tracer (JAX); otherwise return it unchanged."""
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


def scan_steps(step, backend):
    """``steps(params, state, batches, l2c)``: ``step(params, state, batch, l2c)`` over the leading axis
    of the arrays in the tuple ``batches`` (k mini-batches stacked; None entries stay None), carrying
    (params, state); a generator of the (params, state) reached, so the caller always holds the
    last completed step.

    On JAX the k steps are ONE compiled call (``lax.scan`` under ``jax.jit``), yielding once: an
    epoch's batches run without per-step dispatch or host synchronisation, compiled once per
    (group length, batch shape, optimizer, dtype). A step that also returns a record (params, state,
    record) yields (params, state, records): on JAX the group's records stacked, else the step's own.
    Parameters are not donated: fit keeps the
    epoch's starting parameters for the exact divergence replay, and EarlyStopping the best ones.
    Elsewhere a Python loop over the stacked batches (views on NumPy), yielding after every step.
    """
    if backend == "jax":
        import jax

        def body(carry, batch, l2c):
            out = step(*carry, batch, l2c)
            return out[:2], (out[2] if len(out) > 2 else None)  # a step's record, if it makes one

        def scan(params, state, batches, l2c):
            carry, records = jax.lax.scan(lambda c, b: body(c, b, l2c), (params, state), batches)
            return carry if records is None else (*carry, records)

        compiled = jax.jit(scan)

        def scanned(params, state, batches, l2c):
            yield compiled(params, state, batches, l2c)

        return scanned

    def looped(params, state, batches, l2c):
        for i in range(batches[0].shape[0]):
            out = step(params, state, tuple(None if a is None else a[i, ...] for a in batches), l2c)
            params, state = out[0], out[1]
            yield out

    return looped


def to_bool(x, backend):
    """A 0-d boolean array as a Python bool. JAX's ``__bool__`` runs tracer checks that cost about
    as much as a small compiled step; a fresh result read through NumPy skips them."""
    if backend == "jax":
        return bool(np.asarray(x))
    return bool(x)


def has_jit(backend):
    """True where ``jit`` really compiles (JAX)."""
    return backend == "jax"


def block(x, backend):
    """Wait for asynchronous work on ``x`` (for honest timings)."""
    if backend == "jax":
        import jax

        return jax.block_until_ready(x)
    if backend == "cupy":
        import cupy

        cupy.cuda.get_current_stream().synchronize()
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    return x


def native_einsum(xp):
    """The backend's own einsum for the namespace ``xp`` (the standard has none)."""
    name = xp.__name__
    if name.endswith("numpy") and name.startswith(("array_api_compat", "numpy", "portable_bp.lean")):
        return np.einsum
    if name == "jax.numpy":
        return xp.einsum
    if name.endswith("torch"):
        import torch

        return torch.einsum
    if name.endswith("cupy"):
        import cupy

        return cupy.einsum
    raise ValueError(
        f"kernel='einsum' needs the backend's own einsum, and {name} has none "
        "(the array API standard defines no einsum); use kernel='matmul' or 'stacked'"
    )


def is_supported_namespace(xp):
    return any(_probe(n)[0] is xp for n in BACKENDS if _probe(n)[0] is not None)


def backend_of_array(x):
    """The backend name of an array, or None for a non-array / unknown library."""
    import array_api_compat

    if not is_backend_array(x):
        return None
    try:
        xp = array_api_compat.array_namespace(x)
    except TypeError:
        return None
    for name in BACKENDS:
        if _probe(name)[0] is xp:
            return name
    return None


def quiet_floating_point(backend):
    """A context in which NumPy (and NumPy-based namespaces) do not warn about overflow or NaN:
    ``update()`` computes first and checks one flag after, raising its own clear error. The other
    backends never warn, and skip the context (a microsecond a step)."""
    return np.errstate(all="ignore") if backend in NUMPY_BASED else contextlib.nullcontext()


def device_from_name(backend, name):
    """The device of ``backend`` that a pickled name stands for — ``str(device)`` as ``MLP`` pickles
    it ("cuda:0", "cpu:0", "<CUDA Device 1>", "array_api_strict.Device('CPU_DEVICE')"), or the
    estimators' token (a JAX platform "gpu", a CuPy index) — if this machine has it; else ValueError
    saying why. The backend itself must be available."""
    import re

    text = str(name).strip()
    if backend == "torch":
        import torch

        device = torch.device(text)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("PyTorch sees no CUDA device here")
        try:
            torch.empty(0, device=device)
        except Exception as exc:  # noqa: BLE001 - any failure: the device is not usable here
            raise ValueError(f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}") from None
        return device
    if backend == "jax":
        import jax

        m = re.fullmatch(r"([A-Za-z]+)(?:[:_]?(\d+))?", text)  # "cuda:0", "gpu", "cpu:1" (str(device), a platform)
        if m is None:  # older spellings: "TFRT_CPU_0", "CpuDevice(id=0)", "CudaDevice(id=1)"
            m = re.search(r"(cpu|gpu|cuda|rocm|tpu|metal)\D*(\d*)", text.lower())
        if m is None:
            raise ValueError(f"cannot read a JAX device from {text!r}")
        platform, index = m.group(1).lower(), int(m.group(2) or 0)
        try:
            devices = jax.devices(platform)
        except Exception as exc:  # noqa: BLE001 - that platform is not here
            raise ValueError(f"JAX has no {platform!r} devices here ({type(exc).__name__})") from None
        if index >= len(devices):
            raise ValueError(f"JAX has {len(devices)} {platform!r} device(s) here, not device {index}")
        return devices[index]
    if backend == "cupy":
        import cupy

        m = re.search(r"(\d+)", text)
        index = int(m.group(1)) if m else 0
        count = cupy.cuda.runtime.getDeviceCount()
        if index >= count:
            raise ValueError(f"CuPy sees {count} CUDA device(s) here, not device {index}")
        return cupy.cuda.Device(index)
    if backend == "array_api_strict":
        import array_api_strict

        m = re.fullmatch(r"(?:array_api_strict\.)?Device\(['\"](.+)['\"]\)", text)
        try:
            return array_api_strict.Device(m.group(1) if m else text)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(str(exc)) from None
    if text.lower() in ("cpu", "cpu:0"):
        return None  # NumPy's one device
    raise ValueError(f"{backend} has no device {text!r}")
