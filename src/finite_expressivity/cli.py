"""The ``fe`` command: parses, calls the package, prints. No numerics live here.

Each subcommand lives beside the code it drives, in a module with a
``register(subparsers)`` function that adds its parser and sets ``func`` (a
callable taking the parsed args and returning an exit code). Errors a user can
cause raise ``ValueError``/``TypeError``/``DataError``/``OSError``; ``main``
prints them as one line on stderr and exits non-zero, with no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

from . import __version__
from .core.argtypes import CLIError

# One entry per module providing ``register(subparsers)``; add yours here.
_COMMANDS = (
    "finite_expressivity.theorem1.theorem_cli",
    "finite_expressivity.data.data_cli",
    "finite_expressivity.randomization.models_cli",
    "finite_expressivity.run_cli",
    "finite_expressivity.section5.kernel_cli",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise CLIError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fe", description="finite-expressivity: Zhang et al. (ICLR 2017) reproduced"
    )
    parser.add_argument("--version", action="version", version=f"fe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    from .data.image_dataset import DataError

    parser = build_parser()
    previous = _sigterm_as_interrupt()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, DataError, OSError, MemoryError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _sigterm_as_interrupt():
    """Treat SIGTERM (kill, a batch system's time limit) like Ctrl-C, so long jobs stop
    through the same cleanup; returns the handler to restore (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


if __name__ == "__main__":
    sys.exit(main())
