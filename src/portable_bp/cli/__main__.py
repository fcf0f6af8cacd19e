"""``python -m portable_bp.cli``: the ``portable-bp`` command."""

import sys

try:  # the console script's Ctrl-C handling (one line, exit 130), also after the command
    from _portable_bp_entry import main
except ImportError:  # pragma: no cover - a tree without it
    from . import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
