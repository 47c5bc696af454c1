"""A finished job's edit history: the versions of its timeline, for undo and redo.

Kept in the job's folder (`edits/`), so it survives restarts and goes with the job when it is
deleted. `edits/v{k}.json.gz` is the timeline after k edits (v0, as scored, is saved at the first
edit); `edits/state.json` says which version the outputs show (`current`, also the number of
edits applied), the newest one redo reaches (`last`), the oldest kept (`first`: undo goes at
most MAX_UNDO steps back, so a long session does not fill the disk) and the number the next
added event gets (`next_n`: a deleted event's number is never given again, even after undo)
and `version`, which every write of the outputs (an edit, an undo, a redo) moves on by one: two
tabs showing the same count of edits may show different timelines (one undid an edit and made
another), so an edit names the version it was worked out from (`based_on`) rather than a count.
The versions are compact gzipped JSON (a 2-minute clip's timeline of 218 events is 220 KB as
timeline.json, 10 KB so). Every file is written atomically; the caller holds the job's lock
(shared.job_lock) and writes the outputs of a version before moving `current` to it, so a crash
in between leaves the history one step behind the outputs, never pointing at outputs that were
not written.
"""
from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from appliance.atomic import atomic_open, write_json_atomic
from appliance.engine.timeline import Timeline

HISTORY_DIR, STATE_NAME = "edits", "state.json"
MAX_UNDO = 50


@dataclass(frozen=True)
class HistoryState:
    first: int = 0
    current: int = 0
    last: int = 0
    next_n: int = 0
    version: int = 0


def _next_n(*timelines: Timeline) -> int:
    return max((event.n + 1 for timeline in timelines for event in timeline.events), default=0)


class EditHistory:
    """The `edits/` folder of one job folder."""

    def __init__(self, job_folder: Path):
        self.folder = Path(job_folder) / HISTORY_DIR

    def state(self) -> HistoryState:
        try:
            data = json.loads((self.folder / STATE_NAME).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return HistoryState()
        counts = {name: int(data[name]) for name in ("first", "current", "last", "next_n")}
        return HistoryState(**counts, version=int(data.get("version", counts["current"])))  # older: no version

    def edits(self) -> int:
        """How many edits the job's outputs carry (0: as scored)."""
        return self.state().current

    def steps(self) -> dict[str, int]:
        """How far undo and redo can go now: the page offers Undo and Redo only when they would do
        something (pressed at an end they only said "nothing to undo"). With the edits applied
        (`edits`) and the `version` an edit names as its `based_on`, from one read of the state:
        the job list asks it of every job it shows."""
        state = self.state()
        return {"edits": state.current, "undo_steps": state.current - state.first,
                "redo_steps": state.last - state.current, "version": state.version}

    def next_number(self, timeline: Timeline) -> int:
        """The `n` for an event added to `timeline` (the job's current one)."""
        return max(self.state().next_n, _next_n(timeline))

    def _path(self, k: int) -> Path:
        return self.folder / f"v{k}.json.gz"

    def _version(self, k: int) -> Timeline:
        return Timeline.from_json(json.loads(gzip.decompress(self._path(k).read_bytes())))

    def _write_version(self, k: int, timeline: Timeline) -> None:
        data = json.dumps(timeline.to_json(), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        self.folder.mkdir(exist_ok=True)
        with atomic_open(self._path(k), binary=True) as handle:
            handle.write(gzip.compress(data, compresslevel=6, mtime=0))

    def _write_state(self, state: HistoryState) -> None:
        write_json_atomic(self.folder / STATE_NAME, asdict(state))

    def push(self, before: Timeline, after: Timeline) -> int:
        """Record an edit from `before` (the current version) to `after`, whose outputs are
        written: it becomes the current version and the redo branch is dropped. Returns the
        count of edits applied."""
        state = self.state()
        if not self._path(state.current).is_file():  # the first edit: keep the scored version
            self._write_version(state.current, before)
        current = state.current + 1
        self._write_version(current, after)
        first = max(state.first, current - MAX_UNDO)
        self._write_state(HistoryState(first=first, current=current, last=current,
                                       next_n=max(state.next_n, _next_n(before, after)), version=state.version + 1))
        for k in [*range(state.first, first), *range(current + 1, state.last + 1)]:
            self._path(k).unlink(missing_ok=True)
        return current

    def step(self, delta: int) -> tuple[int, Timeline] | None:
        """(version number, its timeline) one undo (-1) or redo (+1) away; None at either end."""
        state = self.state()
        target = state.current + delta
        if not state.first <= target <= state.last or target == state.current:
            return None
        return target, self._version(target)

    def settle(self, k: int) -> int:
        """Version `k` (from step()) is now the one the outputs show. Returns the edits applied."""
        state = self.state()
        self._write_state(replace(state, current=k, version=state.version + 1))
        return k
