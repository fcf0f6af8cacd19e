"""``python -m portable_bp.cli``: the ``portable-bp`` command."""

import sys

from . import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
