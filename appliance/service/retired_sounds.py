"""Deleting the recordings of removed sounds once no result in the history uses them.

A sound removed from the library keeps its recording for the results that placed it (their
edits, undo, re-mix and credits read it: library/store.py `remove`). Without an end to that, an
appliance whose user adds and removes sounds fills its card with recordings nothing will ever
play again. So when a job is deleted, and when the service starts, the removed sounds that have
been out of the library for `service.keep_removed_sounds_hours` are deleted unless a kept job
names them (its timeline or a version of its edit history).

What could still place a removed sound, or name it in a result not written yet, keeps them all:
a job running (it may have read the library before the removal), a live session (it keeps the
library it loaded at its start: store.hold_library), and the wait (a clock set forward after
the removal, as a Pi without a real-time clock does at boot, shortens it; the running jobs are
checked anyway). A timeline that cannot be read stops the purge: what it names is unknown, and
a recording deleted wrongly cannot be made again. Each job folder is read under its lock (a
first edit replaces timeline.json before it writes the version as scored). Only the web process
purges, one purge at a time, off the request thread; the history is read only when a removed
sound is past its wait.
"""
from __future__ import annotations

import gzip
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

from appliance.engine.outputs import TIMELINE_NAME
from appliance.engine.timeline import Timeline
from appliance.library.catalog import read_user_index
from appliance.library.store import RETIRED_AT, UserLibrary
from appliance.service.edit_history import HISTORY_DIR
from appliance.service.jobs import RUNNING, JobStore, folder_lock

log = logging.getLogger("foley.service")


class UnreadableTimeline(Exception):
    """A kept job's timeline whose sounds cannot be known."""


def _job_sounds(folder: Path) -> set[str]:
    named: set[str] = set()
    with folder_lock(folder, shared=True):
        for path in [folder / TIMELINE_NAME, *sorted((folder / HISTORY_DIR).glob("v*.json.gz"))]:
            try:
                raw = path.read_bytes()
                timeline = Timeline.from_json(json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw))
            except FileNotFoundError:  # not scored yet, or deleted while this read
                continue
            except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError) as exc:
                raise UnreadableTimeline(f"{path}: {exc!r}") from None
            named |= timeline.template_ids()
    return named


def sounds_in_use(jobs_folder: Path) -> set[str]:
    """The template ids the job folders' timelines and edit versions name."""
    if not Path(jobs_folder).is_dir():
        raise UnreadableTimeline(f"{jobs_folder}: no jobs folder")
    return set().union(*(_job_sounds(folder) for folder in sorted(Path(jobs_folder).iterdir()) if folder.is_dir()))


def _running_jobs(service_folder: Path) -> int:
    store = JobStore(service_folder)
    try:
        return store.count(RUNNING)
    finally:
        store.db.close()


def purge_removed_sounds(service_folder: Path, keep_hours: float, library_folder: Path) -> list[str]:
    """Delete the removed sounds no kept job names (see the module). Returns their ids."""
    now, keep_s = time.time(), keep_hours * 3600
    retired = read_user_index(library_folder).get("retired", [])
    if not any(RETIRED_AT not in r or now - r[RETIRED_AT] >= keep_s for r in retired):
        return []  # the usual case: none to date or delete, so the history is not read
    try:
        if _running_jobs(service_folder):
            return []  # the next delete or start purges
    except sqlite3.Error as exc:  # busy beyond its timeout, or damaged: whether a job runs is unknown
        log.warning("removed sounds kept: the job history could not be read (%s)", exc)
        return []
    try:
        in_use = sounds_in_use(Path(service_folder) / "jobs")
    except UnreadableTimeline as exc:
        log.warning("removed sounds kept: a job's timeline could not be read (%s)", exc)
        return []
    gone = UserLibrary(library_folder).purge(in_use, keep_s, now)  # `now`: none removed since counts
    if gone:
        log.info("deleted %d removed sound(s) no kept result uses: %s", len(gone), ", ".join(t.id for t in gone))
    return [t.id for t in gone]


class RemovedSoundsPurger:
    """Runs `purge_removed_sounds` in a thread of its own; a request while one runs makes it run
    once more after (a job deleted during a purge may free a sound the running one still saw).
    The library is the one beside the service folder in the state folder, as the cache is."""

    def __init__(self, service_folder: Path, keep_hours: float):
        self.service_folder, self.keep_hours = Path(service_folder), keep_hours
        self.library_folder = self.service_folder.parent / "library"
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
                purge_removed_sounds(self.service_folder, self.keep_hours, self.library_folder)
            except Exception:  # a purge that fails keeps the sounds; the service goes on
                log.exception("purging removed sounds failed")
            with self._lock:
                if not self._again:
                    self._running = False
                    return
                self._again = False
