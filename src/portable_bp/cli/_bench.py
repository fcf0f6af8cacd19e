"""``portable-bp bench``: a thin entry point to the checkout's benchmark harness (benchmarks/)."""

from __future__ import annotations

import os
import sys

BENCH_MISSING = ("the benchmark harness is not part of the installed package; it lives in the repository's "
                 "benchmarks/ folder: git clone <portable_bp repository> && cd portable_bp && "
                 "pip install -e '.[bench]' && python benchmarks/run.py --help")


def _bench_folder():
    """The benchmarks/ folder of the source checkout this package runs from (an editable install, or
    PYTHONPATH=src): two levels above src/portable_bp. None when there is none (a wheel install)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # src/portable_bp (this is cli/_bench.py)
    root = os.path.dirname(os.path.dirname(package))
    folder = os.path.join(root, "benchmarks")
    return folder if os.path.isfile(os.path.join(folder, "pbp_bench", "__init__.py")) else None


def bench(argv):
    """``portable-bp bench ARGS``: the checkout's ``python benchmarks/run.py ARGS``; exit code 2 without one."""
    folder = _bench_folder()
    if folder is None:
        print(f"portable-bp bench: error: {BENCH_MISSING}", file=sys.stderr)
        return 2
    if folder not in sys.path:
        sys.path.insert(0, folder)
    from pbp_bench import main as bench_main

    return bench_main(argv)
