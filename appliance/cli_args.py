"""Readers of numeric command-line options, for argparse's `type=`: the option's value, or a
UsageError naming the option and what it may be (appliance/cli.py prints it as one line, exit
code 2, as it does a command's own). Checked as the command line is read, so a bad value is
refused before any work: an unchecked one ran forever (`foley live --duration 0`), crashed in
numpy (`--seed -1`), or failed only after the models were loaded (`foley bench models --repeat 0`).
"""
from __future__ import annotations

import math
from typing import Callable

from appliance.config import Range
from appliance.errors import UsageError


def _read(kind: type, text: str, option: str, allowed: str) -> int | float:
    """`text` as `kind`, or a UsageError saying what `option` takes (a word is no number)."""
    try:
        return kind(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise UsageError(f"{option} must be {noun} {allowed}, not {text!r}") from None


def within(option: str, bound: Range, kind: type = int) -> Callable[[str], int | float]:
    """`option`'s value inside `bound`: the Range of the config key or request field it stands
    for, so one bound serves all of them (NaN and infinity lie in none)."""
    return lambda text: bound.check(_read(kind, text, option, f"between {bound.low} and {bound.high}"), option)


def at_least(option: str, low: int = 1) -> Callable[[str], int]:
    """`option`'s value as a whole number from `low` up: a count (recordings, matches, threads),
    where 0 or less meant no work, an empty answer or a traceback."""
    def read(text: str) -> int:
        value = _read(int, text, option, f"of at least {low}")
        if value < low:
            raise UsageError(f"{option} must be at least {low}, not {value}")
        return value
    return read


MOST_SECONDS = 365 * 24 * 3600.0
"""A year: past about 9.2e9 s a timer's wait is out of range for the platform (OverflowError in a
thread: `foley live --duration 1e10` ran on with a traceback)."""


def positive_seconds(option: str) -> Callable[[str], float]:
    """`option`'s value as a finite number of seconds above 0, at most MOST_SECONDS: 0 meant "no
    limit" to a timer, NaN never timed out, and a negative number stopped at once."""
    def read(text: str) -> float:
        value = _read(float, text, option, "of seconds above 0")
        if not 0 < value < math.inf:
            raise UsageError(f"{option} must be a finite number of seconds above 0, not {text}")
        if value > MOST_SECONDS:
            raise UsageError(f"{option} must be at most {MOST_SECONDS:.0f} seconds (a year), not {text}")
        return value
    return read
