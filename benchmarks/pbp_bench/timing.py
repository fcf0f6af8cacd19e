"""Timing: warm-up, a calibrated inner loop, the median of repeats with min and max.

Every call is followed by ``sync(result)``, which waits for asynchronous work (JAX's
``block_until_ready``, a CUDA stream synchronisation for CuPy and PyTorch on a GPU) before the
clock is read, so a time is the time of finished work, never of a queued launch. JAX's compile
time falls in the warm-up calls, which are not timed.
"""

from __future__ import annotations

import gc
import os
import statistics
import time

from portable_bp import _backend


def syncer(backend, gpu=False):
    """A function that waits for all work behind a result of ``backend`` (any pytree for JAX)."""
    if backend == "jax":
        import jax

        return jax.block_until_ready
    if backend == "cupy" or (backend == "torch" and gpu):
        return lambda out: _backend.block(out, backend)
    return lambda out: out


def measure(fn, sync, *, repeats=5, min_time=0.02, warmup=2, slow=1.0):
    """Time ``fn()`` (each call synchronised); a dict of seconds per call.

    ``warmup`` untimed calls come first (JAX compiles there). One more call calibrates the
    inner loop: each repeat runs ``fn`` as many times as fill ``min_time`` seconds, and its mean
    per-call time is one sample. A call slower than ``slow`` seconds is repeated at most 3
    times. The garbage collector is off while the clock runs, as in ``timeit``.
    """
    for _ in range(warmup):
        sync(fn())
    t0 = time.perf_counter()
    sync(fn())
    first = time.perf_counter() - t0
    number = max(1, int(min_time / max(first, 1e-9)))
    if first > slow:
        repeats = min(repeats, 3)
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(number):
                sync(fn())
            samples.append((time.perf_counter() - t0) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return _summary(samples, number)


def _summary(samples, number):
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "repeats": len(samples),
        "number": number,
    }


def measure_many(entries, *, repeats=5, min_time=0.02, warmup=2, slow=1.0, busy=0.25, extra_rounds=4):
    """Time several ``(fn, sync)`` pairs side by side; a list of dicts as ``measure`` gives.

    The repeats are interleaved — round r times every entry once before round r + 1 starts —
    so a burst of load from elsewhere on the machine lands on all of them alike and the ratios
    between them stay honest. Warm-up and calibration are as in ``measure``, except that an entry
    whose first call takes more than ``slow`` seconds gets no further warm-up and 3 repeats.

    The CPU other processes use is measured over every round. A round during which they used more
    than ``busy`` cores does not count while enough quiet rounds exist: an entry with fewer than
    3 quiet repeats gets up to ``extra_rounds`` more, and if it still has too few, its quietest
    repeats are used. Each result says how many repeats were dropped as busy.
    """
    numbers, rounds, errors = [], [], {}
    for i, (fn, sync) in enumerate(entries):
        try:
            sync(fn())  # the first call compiles (JAX) and warms caches
            t0 = time.perf_counter()
            sync(fn())
            first = time.perf_counter() - t0
            if first <= slow:  # a slow call needs no more warming up: time it as it is
                for _ in range(warmup - 2):
                    sync(fn())
                t0 = time.perf_counter()
                sync(fn())
                first = time.perf_counter() - t0
        except Exception as exc:  # a failing entry is reported, the others still run
            errors[i] = f"failed: {type(exc).__name__}: {exc}"
            first = 0.0
        numbers.append(max(1, int(min_time / max(first, 1e-9))))
        rounds.append(0 if i in errors else min(repeats, 3) if first > slow else repeats)
    wanted = [min(3, n) for n in rounds]
    samples = [[] for _ in entries]  # (seconds per call, round)
    loads = []  # other processes' cores during each round (None: unknown, counts as quiet)

    def quiet(i):
        return sum(1 for _, r in samples[i] if loads[r] is None or loads[r] < busy)

    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(max(rounds, default=0) + extra_rounds):
            todo = [i for i in range(len(entries)) if r < rounds[i]
                    or (rounds[i] and r < rounds[i] + extra_rounds and quiet(i) < wanted[i])]
            if not todo:
                break
            start = cpu_counters()
            for i in todo:
                fn, sync = entries[i]
                t0 = time.perf_counter()
                for _ in range(numbers[i]):
                    sync(fn())
                samples[i].append(((time.perf_counter() - t0) / numbers[i], r))
            loads.append(others_cpu(start))
    finally:
        if gc_was_enabled:
            gc.enable()
    out = []
    for i, n in enumerate(numbers):
        if i in errors:
            out.append({"error": errors[i]})
            continue
        calm = [t for t, r in samples[i] if loads[r] is None or loads[r] < busy]
        quiet_enough = quiet(i) >= wanted[i]
        if not quiet_enough:  # too few quiet rounds: the quietest ones
            calm = [t for t, r in sorted(samples[i], key=lambda tr: loads[tr[1]] or 0.0)[:wanted[i]]]
        out.append(dict(_summary(calm, n), repeats_run=len(samples[i]),
                        busy_repeats_dropped=len(samples[i]) - len(calm), quiet=quiet_enough))
    return out


def cpu_counters():
    """(busy seconds of all CPUs, CPU seconds of this process, wall clock), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait
    own = os.times()
    return busy, own.user + own.system, time.monotonic()


def others_cpu(since):
    """Cores' worth of CPU used by OTHER processes between ``since`` (from ``cpu_counters``) and
    now: the load that competes with the benchmark. None where /proc/stat is not available."""
    now = cpu_counters()
    if since is None or now is None or now[2] <= since[2]:
        return None
    return max(0.0, ((now[0] - since[0]) - (now[1] - since[1])) / (now[2] - since[2]))


def wait_until_idle(max_seconds, threshold=0.25, log=print):  # threshold: cores used by others
    """Wait (at most ``max_seconds``) until other processes use less than ``threshold`` cores over
    a one-second window; returns what they used in the last window (None: cannot tell)."""
    deadline = time.monotonic() + max_seconds
    used = None
    while True:
        start = cpu_counters()
        time.sleep(1.0)
        used = others_cpu(start)
        if used is None or used < threshold or time.monotonic() >= deadline:
            return used
        log(f"  waiting for the machine to quieten (other processes use {used:.1f} cores)")


def measure_family(entries, *, retries=0, wait_idle=0.0, busy=0.25, log=print, label="", **measure_kwargs):
    """``measure_many(entries, busy=busy, **measure_kwargs)`` for one thread-pool family, timed again (up to
    ``retries`` more times) while some entry got fewer than 3 quiet repeats; the attempt with the fewest
    such entries is kept. Returns (cores other processes used meanwhile, timings)."""
    best = None
    for attempt in range(1 + retries):
        if wait_idle > 0:
            wait_until_idle(wait_idle, threshold=busy, log=log)
        if attempt:
            log(f"  {label}: {best[2]} variants had too few quiet repeats (other processes used "
                f"{best[0]:.2f} cores on average); measuring again")
        time.sleep(0.2)  # let the previous family's spinning worker threads park
        start = cpu_counters()
        timings = measure_many(entries, busy=busy, **measure_kwargs)
        load = others_cpu(start)
        noisy = sum(1 for t in timings if not t.get("quiet", True))
        if best is None or noisy < best[2]:
            best = (load, timings, noisy)
        if not noisy:
            break
    return best[0], best[1]
