"""``python -m portable_bp``: the ``portable-bp`` command (the same as ``python -m portable_bp.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
