"""Run the benchmark harness (the ``pbp_bench`` package beside this file; see README.md here) from a checkout:

    pip install -e ".[bench]"                      # once: the library, and jax, scikit-learn, matplotlib, ...
    python benchmarks/run.py --help                # the options
    python benchmarks/run.py --quick --backends numpy

``portable-bp bench [options]`` runs the same thing where portable_bp is an editable install of this checkout.
The harness is not part of the installed package (a wheel has no benchmarks/).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # the script's folder is on sys.path already, unless run with python -P or imported
    sys.path.insert(0, HERE)

from pbp_bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/run.py"))
