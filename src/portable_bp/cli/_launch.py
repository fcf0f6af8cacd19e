"""Several processes, one network: ``portable-bp train --processes N`` and ``--coordinator HOST:PORT``.

One process of a multi-process run calls :func:`initialize` before JAX is used: CPU collectives over
gloo, then ``jax.distributed.initialize`` with bounded timeouts, so that the processes form one global
device mesh and ``fit(devices="all")`` all-reduces the gradient sums across them (docs/scale.md). On a
cluster each process is started by the scheduler with ``--coordinator HOST:PORT --num-processes N
--process-id I``; any of these left out is read by ``jax.distributed.initialize()`` itself from the
environment (SLURM, Open MPI, Kubernetes/JobSet, Cloud TPU), ``--distributed`` alone reads them all.

:func:`launch` is the local form: it starts N copies of the same ``portable-bp train`` command on this
machine, the coordinator on loopback (127.0.0.1, a port reserved for the run), waits for them, and ends
every one of them when one fails, so a dead process never leaves the others waiting.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

LOOPBACK = "127.0.0.1"
#: exit code of a process 0 whose coordinator port was taken meanwhile: :func:`launch` tries another
PORT_TAKEN = 75
#: seconds without a heartbeat after which the coordinator declares a process dead and the others fail
HEARTBEAT_SECONDS = 10
#: seconds a process waits for the others to join (jax.distributed.initialize's initialization_timeout)
JOIN_SECONDS = 120
#: seconds ``jax.distributed.shutdown`` waits for the others at exit
SHUTDOWN_SECONDS = 30

MULTI_FLAGS = ("--coordinator", "--num-processes", "--process-id")


def reserve_port(host=LOOPBACK):
    """A bound (not listening) socket on a free port of ``host``, and the port.

    The socket has SO_REUSEPORT, as the coordinator's gRPC server does, so the coordinator can bind
    the port while the caller keeps holding it: no other program is given that port meanwhile (the
    "bind port 0, release, hope" race). Close the socket when the run is over."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, 0))
    return sock, sock.getsockname()[1]


def port_is_free(port, host=LOOPBACK):
    """Whether the coordinator could bind ``port``: free, or held only by a SO_REUSEPORT reservation."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def initialize(coordinator=None, num_processes=None, process_id=None, *, heartbeat_timeout=HEARTBEAT_SECONDS,
               join_timeout=JOIN_SECONDS, shutdown_timeout=SHUTDOWN_SECONDS):
    """Join a multi-process JAX run: gloo CPU collectives, then ``jax.distributed.initialize``.

    Arguments left None are read by JAX from the environment (``JAX_COORDINATOR_ADDRESS``, SLURM,
    Open MPI, ...). A coordinator on loopback binds 127.0.0.1 only (JAX's default binds every
    interface). Process 0 exits with :data:`PORT_TAKEN` when the coordinator's port is taken (JAX
    would crash on it). Call before anything else uses JAX."""
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kw = {}
    if coordinator is not None:
        host, _, port = coordinator.rpartition(":")
        if host in (LOOPBACK, "localhost"):
            kw["coordinator_bind_address"] = f"{LOOPBACK}:{port}"
            if process_id == 0 and not port_is_free(int(port)):
                print(f"portable-bp: the coordinator port {coordinator} is in use by another program",
                      file=sys.stderr)
                sys.exit(PORT_TAKEN)
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id,
                               initialization_timeout=int(join_timeout),
                               heartbeat_timeout_seconds=int(heartbeat_timeout),
                               shutdown_timeout_seconds=int(shutdown_timeout), **kw)


def process_index():
    """This process's index in a multi-process run; 0 when there is none (JAX not even imported)."""
    jax = sys.modules.get("jax")
    if jax is None:
        return 0
    try:  # without jax.distributed, asking jax.process_index() would start a JAX backend for nothing
        from jax._src import distributed

        if distributed.global_state.client is None:
            return 0
    except (ImportError, AttributeError):  # pragma: no cover - another JAX layout: ask JAX
        pass
    return jax.process_index()


def is_primary():
    """True in the process that writes files and prints results: process 0, or the only one."""
    return process_index() == 0


def child_argv(argv):
    """``argv`` of ``portable-bp train ...`` without ``--processes N`` (each child is one process)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--processes":
            skip = True
        elif not a.startswith("--processes="):
            out.append(a)
    return out


def launch(argv, processes, *, python=None, grace=HEARTBEAT_SECONDS + 5, attempts=3, env=None, stdout=None):
    """Run ``portable-bp <argv>`` as ``processes`` local processes of one run; their exit code.

    Each child is ``python -m portable_bp.cli <argv> --coordinator 127.0.0.1:PORT --num-processes N
    --process-id I`` in its own process group. Process 0's output is shown; the others run ``--quiet``
    with their standard output discarded (their errors are shown). When a process fails, the others
    get ``grace`` seconds to fail too (they do, after the coordinator's heartbeat timeout) and are then
    killed; Ctrl-C interrupts them all. The exit code is the first failure's, else 0."""
    python = python or sys.executable
    env = dict(os.environ if env is None else env)
    for attempt in range(attempts):
        sock, port = reserve_port()
        try:
            rc, first = _run_children(python, argv, processes, port, grace, env, stdout)
        finally:
            sock.close()
        if not (rc == PORT_TAKEN and first == 0 and attempt + 1 < attempts):
            break
    if rc not in (0, 130) and first is not None:
        print(f"portable-bp train: process {first} of {processes} failed (exit code {rc}); the others were "
              "stopped", file=sys.stderr)
    return rc


def _run_children(python, argv, n, port, grace, env, stdout):
    procs = []
    try:
        for i in range(n):
            cmd = [python, "-m", "portable_bp.cli", *argv, "--coordinator", f"{LOOPBACK}:{port}",
                   "--num-processes", str(n), "--process-id", str(i)]
            if i:
                cmd.append("--quiet")
            procs.append(subprocess.Popen(cmd, env=env, start_new_session=True,
                                          stdout=stdout if i == 0 else subprocess.DEVNULL))
        return _wait(procs, grace)
    except KeyboardInterrupt:
        for p in procs:
            _signal(p, signal.SIGINT)
        _wait_all(procs, grace)
        return 130, None
    finally:
        stop(procs)


def _wait(procs, grace):
    """Wait for every process; after the first failure give the others ``grace`` seconds, then kill."""
    first, deadline = None, None
    while True:
        codes = [p.poll() for p in procs]
        if first is None:
            failed = [i for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                first = failed[0]
                deadline = time.monotonic() + grace
        if all(c is not None for c in codes):
            break
        if deadline is not None and time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if first is None:
        return 0, None
    code = procs[first].returncode
    return (128 - code if code < 0 else code), first  # killed by signal s: 128 + s, as a shell says


def _wait_all(procs, timeout):
    end = time.monotonic() + timeout
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.0, end - time.monotonic()))


def _signal(proc, sig):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def stop(procs):
    """Kill the process group of every process still running, and reap them."""
    for p in procs:
        if p.poll() is None:
            _signal(p, signal.SIGKILL)
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(10)


# -- the command line ----------------------------------------------------------------------------
def address(text):
    """``HOST:PORT`` (argparse type of --coordinator)."""
    import argparse

    host, sep, port = text.rpartition(":")
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        raise argparse.ArgumentTypeError(f"--coordinator takes HOST:PORT, e.g. 10.0.0.1:8476; got {text!r}")
    return text


def process_id(text):
    import argparse

    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"--process-id takes an integer >= 0; got {text!r}")
    return int(text)


def wanted(args):
    """Whether ``args`` ask this process to join a multi-process run."""
    return bool(getattr(args, "distributed", False)) or any(
        getattr(args, a, None) is not None for a in ("coordinator", "num_processes", "process_id"))


def check_args(args, error):
    """Refuse contradictory multi-process flags with ``error`` (argparse's parser.error)."""
    if args.processes is not None and wanted(args):
        error("--processes starts the processes itself: drop --coordinator, --num-processes, --process-id and "
              "--distributed (those are for one process of a run started elsewhere)")
    if (args.processes is not None or wanted(args)) and args.backend not in (None, "jax"):
        error(f"several processes train with JAX (--backend jax); got --backend {args.backend}")
    if args.num_processes is not None and args.process_id is not None and args.process_id >= args.num_processes:
        error(f"--process-id {args.process_id} must be below --num-processes {args.num_processes}")


def join(args):
    """Join the run ``args`` describe (:func:`initialize`); False when they describe none."""
    if not wanted(args):
        return False
    initialize(args.coordinator, args.num_processes, args.process_id,
               heartbeat_timeout=getattr(args, "heartbeat_timeout", HEARTBEAT_SECONDS))
    return True
