"""One ``backend`` fixture over every backend, as SciPy's ``xp`` fixture does.

Choose backends with ``pytest --backend jax --backend numpy`` or
``PORTABLE_BP_TEST_BACKENDS=jax,numpy``; by default every backend is tried and the ones that
cannot run here are skipped with the reason (CuPy without a GPU, a library not installed).

``--torch-device cuda`` (or ``PORTABLE_BP_TEST_TORCH_DEVICE=cuda``) runs the torch backend on a GPU:
it becomes PyTorch's default device, where every network built with ``device=None`` then lives.
"""

import os

import pytest

from portable_bp import _backend

ALL = list(_backend.BACKENDS)


def pytest_addoption(parser):
    parser.addoption("--backend", action="append", default=None, help=f"backend(s) to test: {ALL}")
    parser.addoption("--torch-device", default=os.environ.get("PORTABLE_BP_TEST_TORCH_DEVICE"),
                     help="PyTorch's default device for the torch backend, e.g. cuda (default: cpu)")


def pytest_configure(config):
    device = config.getoption("--torch-device")
    if device:
        import torch

        try:
            torch.set_default_device(device)
            torch.zeros(1)  # a device that does not exist (or no GPU) fails here, not in every test
        except (RuntimeError, AssertionError) as exc:
            raise pytest.UsageError(f"--torch-device {device!r} is not usable: {str(exc).splitlines()[0]}") from None


def pytest_report_header(config):
    device = config.getoption("--torch-device")
    return f"portable_bp: torch backend on {device}" if device else None


def selected_backends(config):
    chosen = config.getoption("--backend")
    if not chosen and os.environ.get("PORTABLE_BP_TEST_BACKENDS"):
        chosen = os.environ["PORTABLE_BP_TEST_BACKENDS"].split(",")
    return [b.strip() for b in chosen] if chosen else ALL


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", selected_backends(metafunc.config), indirect=True)


@pytest.fixture
def backend(request):
    name = request.param
    if name not in ALL:
        pytest.fail(f"unknown backend {name!r}; expected one of {ALL}")
    reason = _backend.unavailable_reason(name)
    if reason is not None:
        pytest.skip(f"backend {name!r} unavailable here: {reason}")
    return name


@pytest.fixture
def other_backends(request):
    """Every available backend among the selected ones (for cross-backend comparisons)."""
    return [b for b in selected_backends(request.config) if _backend.unavailable_reason(b) is None]


# -- hypothesis profiles (tests/test_properties.py) ---------------------------------------------
# "ci" (the default): derandomized, so every run checks the same cases and CI cannot flake; a few
# tens of seconds in all. "deep": many more random cases, no time limit per example:
#     HYPOTHESIS_PROFILE=deep python -m pytest tests/test_properties.py   (or: nox -s props_deep)
from hypothesis import HealthCheck, settings  # noqa: E402

_SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True, suppress_health_check=_SUPPRESS,
                          print_blob=True)
settings.register_profile("deep", max_examples=400, deadline=None, suppress_health_check=_SUPPRESS, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# -- the summary: skips grouped by reason (pyproject's addopts "-rfE" still lists every failure and error)
from skip_summary import summarize_skips as pytest_terminal_summary  # noqa: E402, F401


# -- no test downloads: portable_bp's data fetcher refuses the network unless a test serves it local bytes
@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    import urllib.error

    from portable_bp import _fetch

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError(f"tests never use the network (asked for {url})")

    monkeypatch.setattr(_fetch, "urlopen", offline)
