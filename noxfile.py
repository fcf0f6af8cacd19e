"""Test matrix: one session per backend, a lint session, and the benchmarks.

    nox                      # every CPU backend (numpy, array_api_strict, jax, torch) + lint
    nox -s "tests(backend='jax')"
    nox -s tests_gpu         # cupy, jax and torch (cuda) on an NVIDIA machine
    nox -s bench -- --help   # the benchmark harness (benchmarks/run.py)
    nox -s fit_bench -- --quick  # benchmarks/fit_bench.py: fit against hand-written training loops
    nox -s tests_multidevice # fit(devices=...) on 4 virtual CPU devices (JAX)
    nox -s tests_multihost   # the multi-process tests alone (jax.distributed on loopback, Dask's LocalCluster)
    nox -s scaling -- --quick  # benchmarks/scaling.py: throughput against the device count
    nox -s props_deep        # property-based tests, hypothesis "deep" profile
    nox -s notebooks         # notebooks/ executed by a Jupyter kernel, on every CPU backend
"""

import os

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

CPU_BACKENDS = ["numpy", "array_api_strict", "jax", "torch"]
# torch==2.13.0 is a CPU build where a wheel of it lies on disk (our CI); elsewhere choose your own
TORCH = os.environ.get("PORTABLE_BP_TORCH_SPEC", "torch==2.13.0")
EXTRA_PACKAGES = {"torch": [TORCH], "cupy": ["cupy-cuda12x>=13"]}


def _run_tests(session, backend, **env):
    session.install("-e", ".[test]", *EXTRA_PACKAGES.get(backend, []))
    session.run("pytest", "--backend", backend, *session.posargs,
                env={"PORTABLE_BP_TEST_BACKENDS": backend, **env})


@nox.session
@nox.parametrize("backend", CPU_BACKENDS)
def tests(session, backend):
    """The whole suite with the backend fixture narrowed to one backend."""
    _run_tests(session, backend)


@nox.session
@nox.parametrize("backend", ["cupy", "jax", "torch"])
def tests_gpu(session, backend):
    """CuPy, JAX and PyTorch on a CUDA machine (install jax[cuda12] yourself for a GPU JAX; for torch set
    PORTABLE_BP_TORCH_SPEC to a CUDA build, e.g. "torch", which then runs with cuda as its default device)."""
    _run_tests(session, backend, **({"PORTABLE_BP_TEST_TORCH_DEVICE": "cuda"} if backend == "torch" else {}))


# 4 virtual CPU devices for JAX; XLA reads these when JAX starts. NPROC: more XLA CPU threads than
# devices, or its collectives can wait forever on a 2-core machine (docs/scale.md).
MULTI_DEVICE_ENV = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "NPROC": "16"}


@nox.session
def tests_multidevice(session):
    """Data-parallel training (fit(devices=...)) with 4 virtual CPU devices in the pytest process too."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/test_sharding.py", "tests/test_streaming.py", "--backend", "jax", *session.posargs,
                env={**MULTI_DEVICE_ENV, "PORTABLE_BP_TEST_BACKENDS": "jax"})


@nox.session
def tests_multihost(session):
    """The tests that start several processes (-m multiprocess), with the costlier cases too: 4 JAX processes
    on loopback and killing the coordinator (PORTABLE_BP_TEST_MULTIHOST=full)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "multiprocess", *session.posargs, env={"PORTABLE_BP_TEST_MULTIHOST": "full"})


@nox.session
def scaling(session):
    """benchmarks/scaling.py (devices x throughput; --what processes,streaming for jax.distributed processes and
    memmap vs Dask distributed); arguments after -- go to it, --out defaults to runs/."""
    session.install("-e", ".[jax,distributed]")
    args = session.posargs if "--out" in session.posargs else ["--out", "runs/scaling", *session.posargs]
    session.run("python", "benchmarks/scaling.py", *args, env=MULTI_DEVICE_ENV)


@nox.session
def props_deep(session):
    """The property-based tests with hypothesis' "deep" profile (hundreds of cases per property)."""
    session.install("-e", ".[test]", TORCH)
    session.run("pytest", "tests/test_properties.py", "tests/test_fuzz_params.py", "tests/test_checkpoint_bounds.py",
                "tests/test_save_load_invariant.py", "tests/test_threads.py", "--hypothesis-show-statistics",
                *session.posargs,
                env={"HYPOTHESIS_PROFILE": "deep"})


@nox.session
@nox.parametrize("backend", CPU_BACKENDS)
def notebooks(session, backend):
    """notebooks/*.py executed by a real Jupyter kernel, with the notebooks' BACKEND set to ``backend``."""
    session.install("-e", ".[test]", *EXTRA_PACKAGES.get(backend, []))
    session.run("pytest", "-m", "notebook", "tests/test_notebooks.py", *session.posargs,
                env={"PORTABLE_BP_NOTEBOOK_BACKEND": backend})


@nox.session
def lint(session):
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "benchmarks", "examples", "noxfile.py")


@nox.session
def bench(session):
    """Benchmark harness, benchmarks/run.py (see benchmarks/README.md); arguments after -- go to it."""
    session.install("-e", ".[bench]", TORCH)
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session
def fit_bench(session):
    """benchmarks/fit_bench.py, fit against hand-written training loops (benchmarks/README.md); arguments
    after -- go to it, --out defaults to runs/fit-bench."""
    session.install("-e", ".[bench]", TORCH)
    args = session.posargs if "--out" in session.posargs else ["--out", "runs/fit-bench", *session.posargs]
    session.run("python", "benchmarks/fit_bench.py", *args)
