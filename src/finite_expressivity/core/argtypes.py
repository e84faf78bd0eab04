"""Argument types for the ``fe`` commands: numbers checked at parse time, with the flag's
name in the one-line error."""

from __future__ import annotations

import argparse

__all__ = ["CLIError", "nonnegative", "positive", "add_data_dir"]


class CLIError(Exception):
    """A problem with the command line itself: ``fe`` prints it and exits with status 2."""


def nonnegative(name: str):
    """An argparse ``type`` for a float >= 0 given to flag ``name``."""

    def parse(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not v >= 0:
            raise argparse.ArgumentTypeError(f"{name} must be >= 0, got {text}")
        return v

    return parse


def positive(name: str, kind=float):
    """An argparse ``type`` for a ``kind`` (float or int) > 0 given to flag ``name``."""

    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a positive {kind.__name__}, got {text!r}"
            ) from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"{name} must be > 0, got {text}")
        return v

    return parse


class _Renamed(argparse.Action):
    """An old spelling of a flag: refused with the one to use instead."""

    def __init__(self, option_strings, dest, new="", **kw):
        self.new = new
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is now {self.new}")


def add_data_dir(parser) -> None:
    """The one flag for where datasets live: ``--data-dir DIR`` (every command).

    It holds the registry cache (MNIST, Fashion-MNIST) and is searched for
    ``cifar-10-batches-py/``; default ``$FE_DATA_DIR``, then
    ``~/.cache/finite-expressivity``. The earlier spellings ``--data-path`` and
    ``--path`` are refused with a one-line pointer to it.
    """
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="where datasets live: the registry cache, and the folder holding "
        "cifar-10-batches-py/ (default $FE_DATA_DIR or "
        "~/.cache/finite-expressivity)",
    )
    parser.add_argument(
        "--data-path", "--path", dest="_renamed_data_dir", action=_Renamed, new="--data-dir"
    )
