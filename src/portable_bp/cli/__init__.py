"""The ``portable-bp`` command: ``train`` a network, ``check`` that every backend agrees, ``bench``.

The command is a package with one job per module: ``_parser`` (arguments, recipes, defaults), ``_datasets``
(the train/test splits), ``_train`` (the ``train`` command), ``_interrupts`` (Ctrl-C during ``train``),
``_resume`` (``--resume``'s checkpoint metadata), ``_figures`` (figures, stale-figure removal), ``_check``
(the ``check`` command) and ``_bench`` (the ``bench`` entry point); :func:`main` dispatches to them.
"""

from __future__ import annotations

import os
import sys

from . import _launch
from ._bench import BENCH_MISSING, _bench_folder, bench
from ._check import TOLERANCE, check, check_network
from ._datasets import SPLITS, TEST_SETS, load_dataset
from ._figures import FIGURES
from ._interrupts import INTERRUPTED
from ._parser import DEFAULT_ACTIVATION, DEFAULT_LAYERS, DEFAULT_LR, RECIPES, build_parser
from ._resume import _resume_state, _Resumed
from ._train import _train_command, train

__all__ = ["BENCH_MISSING", "DEFAULT_ACTIVATION", "DEFAULT_LAYERS", "DEFAULT_LR", "FIGURES", "INTERRUPTED", "RECIPES",
           "SPLITS", "TEST_SETS", "TOLERANCE", "build_parser", "check", "check_network", "load_dataset", "main",
           "train", "_Resumed", "_bench_folder", "_resume_state"]


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "recipe", None):  # parse again with the recipe's values as the defaults
        parser = build_parser(args.recipe)
        args = parser.parse_args(argv)
    if args.command == "train" and args.resume and (args.recipe or args.layers or args.activation
                                                    or args.output_activation or args.loss):
        parser.error("--resume takes the architecture from the checkpoint: drop --recipe, --layers, --activation, "
                     "--output-activation and --loss")
    if args.command == "train":
        _launch.check_args(args, parser.error)
    try:
        if args.command == "train" and args.processes is not None:  # N local processes of this command
            return _launch.launch(_launch.child_argv(sys.argv[1:] if argv is None else list(argv)), args.processes,
                                  grace=args.heartbeat_timeout + 5)
        if args.command == "train":
            return _train_command(args)
        if args.command == "bench":
            return bench(args.bench_args)
        return check(args)
    except (ValueError, TypeError, OSError, ImportError, FloatingPointError) as exc:
        print(f"portable-bp {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # check, bench (train handles its own, see _train_command)
        print(f"portable-bp {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - no input may end in a traceback (a crafted file's RecursionError, ...)
        if os.environ.get("PORTABLE_BP_TRACEBACK"):
            raise
        first = (str(exc).splitlines() or [""])[0][:500]
        print(f"portable-bp {args.command}: error: {type(exc).__name__}: {first} (set PORTABLE_BP_TRACEBACK=1 for "
              "the traceback)", file=sys.stderr)
        return 1
