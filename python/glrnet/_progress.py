"""Progress on stderr: one kind of tqdm bar and one way to print a line beside it.

In an interactive terminal the bar refreshes ten times a second; in a log (stderr not a TTY) it
prints a line at most every 15 s, so long runs stay readable in CI and batch logs.
"""
from __future__ import annotations

import sys

__all__ = ["progress_bar", "log"]


def progress_bar(total, desc, unit, enabled=True):
    """A tqdm bar over ``total`` units on stderr, or None when not ``enabled``."""
    if not enabled:
        return None
    from tqdm.auto import tqdm          # imported on first use (import glrnet stays light)

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, file=sys.stderr,
                mininterval=0.1 if sys.stderr.isatty() else 15.0)


def log(message):
    """A line on stderr that does not break a running bar."""
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)
