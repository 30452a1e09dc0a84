"""Argument types for the command line: every number is checked when it is parsed.

argparse names the option in its message (``argument --max-steps: ...``) and exits with
status 2 before anything is made, so ``--max-steps -1``, ``--script-timeout nan`` or
``--memory-limit 0`` never reach a run.
"""
from __future__ import annotations

import argparse
import math
from typing import Callable

MAX_SECONDS = 10 * 365 * 24 * 3600.0  # ten years: any longer limit is a typo (and overflows timers)


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number in ``[low, high]``."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            where = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {where}, got {value}")
        return value
    parse.__name__ = "whole number"
    return parse


def number(low: float, high: float, *, low_inclusive: bool = False) -> Callable[[str], float]:
    """A finite number above ``low`` (or equal to it with ``low_inclusive``), at most ``high``."""
    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if value < low or (value == low and not low_inclusive) or value > high:
            bound = f"{'at least' if low_inclusive else 'more than'} {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bound} and at most {high:g}, got {value:g}")
        return value
    parse.__name__ = "number"
    return parse


STEPS = whole(1, 1_000_000)
SECONDS = number(0, MAX_SECONDS)
COST_USD = number(0, 1e9)
COUNT = whole(1, 10**9)
MEMORY_MB = whole(1, 1 << 30)
HISTORY = whole(0, 1000)
TREE_DRAFTS = whole(1, 1_000_000)  # nodes, like --max-steps
PROBABILITY = number(0, 1, low_inclusive=True)
TREE_DEBUG_DEPTH = whole(0, 1_000_000)
SPLITS = whole(0, 99)  # --tree-revalidate-splits: seeds other than the script's own
TRIALS = whole(1, 1000)  # runs per task (benchmarks/agent_suite.py --trials)
