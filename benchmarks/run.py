"""``python benchmarks/run.py [options]`` is ``portable-bp bench [options]`` (see README.md here)."""

import sys

from portable_bp.bench import main

if __name__ == "__main__":
    sys.exit(main())
