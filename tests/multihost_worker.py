"""One process of a multi-process JAX run on loopback; started N times by test_multihost.py.

    python tests/multihost_worker.py MODE PORT N I WORKDIR

Every process runs this same script: ``portable_bp.cli._launch.initialize`` (gloo CPU collectives,
``jax.distributed.initialize`` on 127.0.0.1:PORT with a short heartbeat timeout), then
``fit(..., devices="all")`` in float64 over the memory-mapped WORKDIR/X.npy and y.npy.

MODE ``fit`` writes WORKDIR/report{I}.json: the parameters after an uninterrupted fit; the rows of X
and y this process read (counted by a np.memmap subclass, the library untouched); the files it wrote
(counted at portable_bp._atomic.write, the one path of every checkpoint); and the parameters of a
resumed run (fit, checkpoint by process 0, every process loads it, fit on). MODE ``kill`` trains until
killed, printing ``epoch E`` after each epoch (the test kills one process and times the others).
"""

import json
import os
import sys

MODE, PORT, N, I, WORKDIR = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.pop("XLA_FLAGS", None)  # one CPU device per process: the mesh is one device per process

from portable_bp.cli import _launch  # noqa: E402

_launch.initialize(f"127.0.0.1:{PORT}", N, I, heartbeat_timeout=float(os.environ.get("HEARTBEAT", "5")),
                   join_timeout=60, shutdown_timeout=10)

import jax  # noqa: E402
import numpy as np  # noqa: E402

import portable_bp as pbp  # noqa: E402
from portable_bp import _atomic, checkpoint  # noqa: E402

#: the run test_multihost.py compares with one process: keep in step with it
FIT = dict(batch_size=16, optimizer="adam", lr=0.01, progress=False, devices="all")
EPOCHS, STREAM_ROWS, SEED = 3, 64, 5


def make():
    return pbp.MLP([5, 8, 3], activation="tanh", output_activation="softmax", loss="cross_entropy",
                   backend="jax", dtype="float64", seed=1)


class Counting(np.memmap):
    """A memory map that counts how often each row is read through it (its own indexing only)."""

    def __getitem__(self, index):
        counts = self.__dict__.get("counts")
        if counts is not None:
            first = index[0] if isinstance(index, tuple) else index
            np.add.at(counts, np.arange(self.shape[0])[first], 1)
        return super().__getitem__(index)


def mapped(name):
    arr = np.load(os.path.join(WORKDIR, name), mmap_mode="r").view(Counting)
    arr.counts = np.zeros(arr.shape[0], dtype=np.int64)
    return arr


writes = []
_write = _atomic.write


def recording_write(path, write):
    writes.append(os.path.relpath(os.path.realpath(path), os.path.realpath(WORKDIR)))
    return _write(path, write)


_atomic.write = recording_write
X, y = mapped("X.npy"), mapped("y.npy")
assert isinstance(X, np.memmap)


def params(net):
    w, b = net.params_numpy()
    return [p.tolist() for p in w + b]


if MODE == "kill":
    net = make()
    net.stream_rows = STREAM_ROWS
    net.fit(X, y, epochs=10**6, seed=SEED, callback=lambda epoch, net, h: print(f"epoch {epoch}", flush=True), **FIT)
    sys.exit(0)

out = {"process_index": jax.process_index(), "process_count": jax.process_count(),
       "n_devices": len(jax.devices()), "n_local_devices": len(jax.local_devices())}

# 1. uninterrupted: EPOCHS epochs, process 0 saves a checkpoint after each
ckpt = os.path.join(WORKDIR, "ckpt.npz")


def save_each_epoch(epoch, net, history):
    if _launch.is_primary():
        net.save(ckpt, metadata={"epochs_done": epoch + 1})


net = make()
net.stream_rows = STREAM_ROWS
history = net.fit(X, y, epochs=EPOCHS, seed=SEED, callback=save_each_epoch, **FIT)
out["params"], out["cost"] = params(net), [float(c) for c in history["cost"]]
out["rows_read_X"], out["rows_read_y"] = X.counts.tolist(), y.counts.tolist()

# 2. resumed: EPOCHS - 1 epochs, a checkpoint with the shuffling state (process 0), every process loads it
#    and trains one more epoch
rng = np.random.default_rng(SEED)
first = make()
first.stream_rows = STREAM_ROWS
first.fit(X, y, epochs=EPOCHS - 1, seed=rng, **FIT)
resume = os.path.join(WORKDIR, "resume.npz")
if _launch.is_primary():
    first.save(resume, metadata={"rng_state": rng.bit_generator.state})
from jax.experimental import multihost_utils  # noqa: E402

multihost_utils.sync_global_devices("resume checkpoint written")
again = pbp.load(resume, backend="jax")
rng2 = np.random.default_rng(0)
rng2.bit_generator.state = checkpoint.read_metadata(resume)["user"]["rng_state"]
again.stream_rows = STREAM_ROWS
go_on = {k: v for k, v in FIT.items() if k not in ("optimizer", "lr")}  # the loaded Adam state goes on
again.fit(X, y, epochs=1, seed=rng2, **go_on)
out["resumed_params"] = params(again)
out["writes"] = writes
with open(os.path.join(WORKDIR, f"report{I}.json"), "w") as f:
    json.dump(out, f)
multihost_utils.sync_global_devices("reports written")
