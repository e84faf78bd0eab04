"""Argument types for the ``fe`` commands: numbers checked at parse time, with the flag's
name in the one-line error."""

from __future__ import annotations

import argparse

__all__ = ["nonnegative", "positive"]


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
                f"{name} must be a positive {kind.__name__}, got {text!r}") from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"{name} must be > 0, got {text}")
        return v
    return parse
