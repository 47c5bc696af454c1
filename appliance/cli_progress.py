"""Progress bars for the command line's long work (score, eval, bench, library teach), with tqdm.

Shown on stderr only when stderr is a terminal (tqdm's `disable=None`): piped or redirected
output stays exactly what it was, with no bar characters in logs. tqdm was chosen over rich for
this one job: pure Python, a ~80 kB wheel with no dependencies of its own (docs/dependencies.md).
Lines printed while a bar runs go through `say`, so they do not tear the bar.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

from tqdm import tqdm

from appliance.engine.stages import overall

T = TypeVar("T")
BAR_FORMAT = "{desc}: {percentage:3.0f}% |{bar}| {elapsed} elapsed, {remaining} left"


def say(line: str) -> None:
    """Print a line on stderr above any running bar."""
    tqdm.write(line, file=sys.stderr)


@contextmanager
def stage_bar(what: str) -> Iterator[Callable[[str, float], None]]:
    """A 0–100 % bar for one scoring; yields the engine's `progress(stage, fraction)` callback,
    which shows the stage in words (appliance.engine.stages)."""
    with tqdm(total=100, desc=what, file=sys.stderr, disable=None, bar_format=BAR_FORMAT, leave=False) as bar:
        def progress(stage: str, fraction: float) -> None:
            words, done = overall(stage, fraction)
            bar.set_description_str(f"{what}: {words}", refresh=False)
            bar.update(round(100 * done, 1) - bar.n)

        yield progress


def counted(items: Iterable[T], what: str, total: int | None = None) -> Iterator[T]:
    """`items` with a bar counting them (e.g. clips analysed, configurations timed)."""
    yield from tqdm(items, desc=what, total=total, file=sys.stderr, disable=None, leave=False)
