"""Deleting the recordings of removed sounds once no result in the history uses them.

A sound removed from the library keeps its recording for the results that placed it (their
edits, undo, re-mix and credits read it: library/store.py `remove`). Without an end to that, an
appliance whose user adds and removes sounds fills its card with recordings nothing will ever
play again. So when a job is deleted, and when the service starts, the template ids every kept
job names (its timeline and the versions of its edit history) are read, and the removed sounds
no one names are deleted once they have been out of the library for
`service.keep_removed_sounds_hours` (UserLibrary.purge says why the wait).

A timeline that cannot be read stops the purge: what it names is unknown, and a recording
deleted wrongly cannot be made again. Only the web process purges, one purge at a time, off the
request thread: reading every timeline of a long history takes seconds on a Pi.
"""
from __future__ import annotations

import gzip
import json
import logging
import threading
from pathlib import Path

from appliance.engine.outputs import TIMELINE_NAME
from appliance.library.catalog import read_user_index, user_dir
from appliance.library.store import UserLibrary
from appliance.service.edit_history import HISTORY_DIR

log = logging.getLogger("foley.service")


class UnreadableTimeline(Exception):
    """A kept job's timeline whose sounds cannot be known."""


def _named_in(data: dict) -> set[str]:
    ids = {event.get("template_id") for event in data.get("events", [])}
    ids.add((data.get("ambience") or {}).get("template_id"))
    return {i for i in ids if isinstance(i, str)}


def sounds_in_use(jobs_folder: Path) -> set[str]:
    """The template ids the job folders' timelines and edit versions name."""
    in_use: set[str] = set()
    for folder in sorted(Path(jobs_folder).iterdir()) if Path(jobs_folder).is_dir() else ():
        files = [folder / TIMELINE_NAME, *sorted((folder / HISTORY_DIR).glob("v*.json.gz"))]
        for path in files:
            try:
                raw = path.read_bytes()
                data = json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)
            except FileNotFoundError:  # not scored yet, or deleted while this read
                continue
            except (OSError, ValueError, EOFError) as exc:
                raise UnreadableTimeline(f"{path}: {exc}") from None
            if not isinstance(data, dict):
                raise UnreadableTimeline(f"{path}: not a timeline")
            in_use |= _named_in(data)
    return in_use


def purge_removed_sounds(service_folder: Path, keep_hours: float, library_folder: Path | None = None) -> list[str]:
    """Delete the removed sounds no kept job names (see the module). Returns their ids."""
    library_folder = library_folder or user_dir()
    if not read_user_index(library_folder).get("retired"):
        return []  # the usual case: nothing to read the history for
    try:
        in_use = sounds_in_use(Path(service_folder) / "jobs")
    except UnreadableTimeline as exc:
        log.warning("removed sounds kept: a job's timeline could not be read (%s)", exc)
        return []
    gone = UserLibrary(library_folder).purge(in_use, keep_hours * 3600)
    if gone:
        log.info("deleted %d removed sound(s) no kept result uses: %s", len(gone), ", ".join(t.id for t in gone))
    return [t.id for t in gone]


class RemovedSoundsPurger:
    """Runs `purge_removed_sounds` in a thread of its own; a request while one runs makes it run
    once more after (a job deleted during a purge may free a sound the running one still saw)."""

    def __init__(self, service_folder: Path, keep_hours: float):
        self.service_folder, self.keep_hours = Path(service_folder), keep_hours
        self._lock = threading.Lock()
        self._running = self._again = False

    def request(self) -> None:
        with self._lock:
            if self._running:
                self._again = True
                return
            self._running = True
        threading.Thread(target=self._run, name="purge-removed-sounds", daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                purge_removed_sounds(self.service_folder, self.keep_hours)
            except Exception:  # a purge that fails keeps the sounds; the service goes on
                log.exception("purging removed sounds failed")
            with self._lock:
                if not self._again:
                    self._running = False
                    return
                self._again = False
