"""Data-parallel placement on a JAX device mesh: the backend layer behind ``fit(devices=...)``.

Like ``_backend``, this module knows a particular library (JAX) and nothing in the numerics
knows about it.  Data parallelism here is only *placement*:

* a one-axis ``jax.sharding.Mesh`` over the chosen devices, axis name ``"batch"``;
* the parameters W^l, b^l are **replicated** on every device of the mesh;
* each mini-batch's sample dimension is **sharded** over the mesh (``PartitionSpec("batch")``):
  with 4 devices and a batch of 64, each device holds 16 rows of X_b and Y_b.

The training step is then the very same ``backprop.sgd_step`` (forward, BP1–BP4, the update),
compiled by ``jax.jit``.  XLA's sharding propagation partitions it: the forward pass and BP1/BP2
run on each device's rows, and the batch sums of BP3 (Σ_x δ) and BP4 (Δᵀ A) become a local
sum per device followed by an all-reduce that XLA inserts.  ``lr / X.shape[0]`` sees the global
batch size, so the update is network.py's p ← p − (η/m) Σ_x ∇C_x over the whole batch.

Arrays are built with ``jax.make_array_from_callback``, which asks each process only for the
slices its own devices hold, so the same code is written for one host or several
(``jax.distributed.initialize()``; every process then runs the same script on the same data
with the same seed).  With several processes, :meth:`DataParallel.local_rows` tells the streaming
input layer which rows of a batch this process's devices hold, so each process reads only those
(``tests/test_multihost.py`` runs 2 and 4 processes on loopback).
"""

from __future__ import annotations

import numbers

import numpy as np

AXIS = "batch"
CPU_HINT = (
    "on a CPU, JAX shows N virtual devices when XLA_FLAGS=--xla_force_host_platform_device_count=N "
    "is set before JAX is imported"
)


def data_parallel(backend, devices, jittable=True):
    """A :class:`DataParallel` plan for ``devices`` (list of jax devices, a count, or ``"all"``)."""
    if backend != "jax":
        raise ValueError(
            f"devices= (data-parallel training over a device mesh) needs backend='jax'; this network "
            f"uses backend={backend!r}. Use MLP(..., backend='jax') or net.to(backend='jax'), or leave "
            "devices=None"
        )
    if not jittable:
        raise ValueError(
            "devices= runs the training step under jax.jit, and kernel='loop' is not jitted (it would "
            "unroll every sample); use kernel='matmul', 'einsum' or 'stacked'"
        )
    return DataParallel(resolve_devices(devices))


def resolve_devices(devices):
    """The list of JAX devices meant by ``devices``: a list of devices, a count, or ``"all"``."""
    import jax

    available = jax.devices()
    if isinstance(devices, str):
        if devices.strip().lower() != "all":
            raise ValueError(f"devices must be a list of JAX devices, a count, or 'all'; got {devices!r}")
        return list(available)
    if isinstance(devices, numbers.Integral) and not isinstance(devices, bool):
        if devices < 1:
            raise ValueError(f"devices must be a count >= 1; got {devices}")
        if devices > len(available):
            raise ValueError(
                f"devices={devices} but JAX sees {len(available)} device(s) here: {available}; {CPU_HINT}"
            )
        return list(available[:devices])
    if isinstance(devices, jax.Device):
        devices = [devices]
    try:
        devs = list(devices)
    except TypeError:
        raise TypeError(
            f"devices must be a list of JAX devices (e.g. jax.devices()), a count, or 'all'; got {devices!r}"
        ) from None
    if not devs:
        raise ValueError("devices is empty: give at least one JAX device, a count, or 'all'")
    for d in devs:
        if not isinstance(d, jax.Device):
            raise TypeError(
                f"devices must hold JAX devices (from jax.devices()); got {type(d).__name__} {d!r}"
            )
    if len(set(devs)) != len(devs):
        raise ValueError(f"devices lists a device more than once: {devs}")
    platforms = {d.platform for d in devs}
    if len(platforms) > 1:
        raise ValueError(f"devices must all be of one platform for a mesh; got {sorted(platforms)}")
    return devs


class DataParallel:
    """A one-axis mesh over ``devices``: parameters replicated, batches sharded by sample."""

    def __init__(self, devices):
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        self.devices = tuple(devices)
        self.mesh = Mesh(np.array(self.devices, dtype=object), (AXIS,))
        self.batch_sharding = NamedSharding(self.mesh, PartitionSpec(AXIS))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())

    @property
    def size(self):
        return len(self.devices)

    def __repr__(self):
        return f"DataParallel({self.size} devices: {list(self.devices)})"

    def check_batches(self, n, batch_size):
        """Every mini-batch (the last, shorter one too) must split evenly over the devices."""
        k = self.size
        last = n % batch_size
        if batch_size % k:
            raise ValueError(
                f"data-parallel training over {k} devices splits every mini-batch evenly over them: "
                f"batch_size={batch_size} is not a multiple of {k}. Choose a multiple of {k} "
                "(padding is not done: padded samples would change the gradient sums)"
            )
        if last % k:
            raise ValueError(
                f"data-parallel training over {k} devices splits every mini-batch evenly over them, and "
                f"the last mini-batch of the {n} samples has {n} % {batch_size} = {last}, not a multiple "
                f"of {k}. Choose a batch_size that divides {n}, or drop {last % k} samples "
                "(padding is not done: padded samples would change the gradient sums)"
            )

    def local_rows(self, m):
        """The rows of an m-row batch (or evaluation piece) that this process's devices hold, as a sorted
        int64 array; None when they are all of them (one process, or a piece that is replicated)."""
        import jax

        if jax.process_count() == 1 or m % self.size:
            return None
        cache = self.__dict__.setdefault("_local_rows", {})
        if m not in cache:
            index = self.batch_sharding.addressable_devices_indices_map((m,))
            rows = np.unique(np.concatenate([np.arange(m)[i[0]] for i in index.values()]))
            cache[m] = None if rows.size == m else rows
        return cache[m]

    def _make(self, host, sharding, dtype):
        import jax

        host = np.asarray(host, dtype=dtype)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    def replicate(self, arr):
        """A copy of ``arr`` (any array) on every device of the mesh."""
        host = np.asarray(arr)
        return self._make(host, self.replicated, host.dtype)

    def shard(self, host, dtype):
        """A host (N, ...) array as a jax.Array whose rows are split over the mesh (N divisible)."""
        if host.shape[0] % self.size:
            raise ValueError(f"{host.shape[0]} rows do not split over {self.size} devices")
        return self._make(host, self.batch_sharding, dtype)

    def place(self, host, dtype):
        """Sharded when the rows split evenly over the mesh, else replicated (small remainders)."""
        if host.shape[0] % self.size == 0:
            return self.shard(host, dtype)
        return self._make(host, self.replicated, dtype)
