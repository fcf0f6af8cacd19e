"""The ``portable-bp`` console script, outside the ``portable_bp`` package on purpose.

Importing anything inside ``portable_bp`` first runs the package's ``__init__``, which imports NumPy
and the library (most of a second, the backends more): a Ctrl-C in that time used to end the process
with a KeyboardInterrupt traceback and death by SIGINT. This module imports nothing that the
interpreter has not loaded at start-up, and takes over SIGINT in its first lines, so from then on
Ctrl-C (while importing, parsing, running, even during interpreter shutdown) is always one line on
stderr and exit code 130. Only the interpreter's own start-up and the import of this module, before
its first line runs (some milliseconds), are out of its reach.
"""

import _signal  # the signal module's C part: loaded at start-up (``import signal`` would import enum)
import os
import sys

_pending = []  # a Ctrl-C that came before main() could raise it
_said = []  # whether the one line was printed


def _early(signum, frame):
    """Ctrl-C between this module's import and main's ``try``: remembered, raised inside it."""
    _pending.append(signum)


_ours = _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler  # not where SIGINT is ignored (nohup)
if _ours:
    _signal.signal(_signal.SIGINT, _early)


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
    os._exit(130)  # no clean-up left to wait for: the command's results are written or were never started


def _late_handler():
    if _ours:
        try:
            _signal.signal(_signal.SIGINT, _exit_130)
        except (ValueError, OSError):  # not the main thread: Python's behaviour stays
            pass


def main(argv=None):
    try:
        try:
            if _ours:  # Python's own handler again: Ctrl-C raises KeyboardInterrupt, caught below
                _signal.signal(_signal.SIGINT, _signal.default_int_handler)
            if _pending:
                raise KeyboardInterrupt
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
