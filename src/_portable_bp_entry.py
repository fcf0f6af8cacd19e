"""The ``portable-bp`` console script, outside the ``portable_bp`` package on purpose.

Importing anything inside ``portable_bp`` first runs the package's ``__init__``, which imports NumPy
and the library (most of a second, the backends more): a Ctrl-C in that time used to end the process
with a KeyboardInterrupt traceback. This module imports nothing heavy, so Ctrl-C is handled from its
first line on (while importing, parsing, running, even during interpreter shutdown): always one line
on stderr and exit code 130. Only the interpreter's own start-up, before this module runs (some tens
of milliseconds), is out of its reach.
"""

import os
import signal
import sys

_said = []  # whether the one line was printed


def _say(when):
    if not _said:
        _said.append(when)
        try:
            print(f"portable-bp: interrupted (Ctrl-C) {when}".rstrip(), file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - stderr closed: the exit code still says it
            pass
    return 130


def _exit_130(signum, frame):
    """Ctrl-C once the command is over (its clean-up, flushing, atexit handlers): 130 at once."""
    _say("while exiting")
    os._exit(130)


def _late_handler():
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where SIGINT is ignored
            signal.signal(signal.SIGINT, _exit_130)
    except (ValueError, OSError):  # not the main thread: Python's behaviour stays
        pass


def main(argv=None):
    try:
        try:
            from portable_bp.cli import main as command  # the heavy imports
        except KeyboardInterrupt:
            _late_handler()
            return _say("while starting: nothing was run")
        return command(argv)  # the commands handle their own Ctrl-C (train: saves the last epoch)
    except KeyboardInterrupt:  # Ctrl-C around them (parsing the arguments, ...)
        _late_handler()
        return _say("")
    finally:
        _late_handler()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
