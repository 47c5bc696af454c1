"""Old jobs make room: the history is bounded by the card, not by someone deleting jobs by hand.

Every job keeps its upload, its results and its edit history (a 10 s camera recording ~7 MB;
an upload about twice its size plus its WAV). Nothing else removed them: the history grew until
the state folder's free space fell under `service.min_free_mb`, and from then on every upload got
507 and the camera refused to record until someone deleted jobs. Now, with
`service.old_jobs_make_room` (the default, as a dashcam overwrites its oldest footage), when free
space falls under the floor (`service.min_free_mb` or `capture.min_free_mb`, the larger) plus room
for one more upload of `service.max_upload_mb`, the cached results go first (they can be computed
again), then the oldest finished or failed jobs, one at a time, until there is room; and with
`service.keep_jobs_days`, jobs ended longer ago than that go whatever the space.

What is never removed: queued and running jobs, a job being re-mixed or deleted (its folder lock
is held: the next oldest goes instead), and a job that ended less than SPARE_RECENT_S ago (its
result may not have been fetched yet). When removing every job it may remove would still not
make the room (something else fills the disk), none is removed: the history is not emptied for
nothing. The check is a thread of `foley serve`, every CHECK_EVERY_S; requests do not remove jobs
(an upload is judged by its declared length before its body is checked: junk would have cost a
job), they get 507 while the disk is short, as before.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

from appliance.config import MB, Config
from appliance.service.jobs import JobStore, folder_lock
from appliance.service.state import evict_cached_results, free_bytes

log = logging.getLogger("foley.service")
CHECK_EVERY_S = 10.0
SPARE_RECENT_S = 600.0


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under `folder` (0 if it is gone)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


class JobRetention(threading.Thread):
    """`make_room()` and `remove_expired()`, both every CHECK_EVERY_S once started. `removed(job_id)`
    is told of each job removed (the board's player stops its sound), and `after(count)` once
    after each round that removed some (the removed-sound purge)."""

    def __init__(self, config: Config, service_folder: Path, cache_folder: Path,
                 removed: Callable[[str], None] = lambda job_id: None, after: Callable[[int], None] = lambda n: None):
        super().__init__(name="foley-retention", daemon=True)
        self.settings = config.service
        self.floor = max(config.service.min_free_mb, config.capture.min_free_mb) * MB
        self.folder, self.cache_folder = Path(service_folder), Path(cache_folder)
        self.removed, self.after = removed, after
        self.stopping = threading.Event()
        self._short_said = False  # the "cannot make room" warning, once until there is room again
        self._unreachable: tuple[int, tuple[str, ...]] | None = None  # (MB short, candidates) of such a round
        self.removed_total = 0
        """Jobs removed since the service started (for the page: its history is shorter)."""

    def run(self) -> None:
        while not self.stopping.wait(CHECK_EVERY_S):
            for step in (self.remove_expired, self.make_room):
                try:
                    step()
                except Exception:  # a failed round keeps the jobs; the next one tries again
                    log.exception("removing old jobs failed")

    def wanted_free(self) -> int:
        """The free space kept: the floor, and room for one more upload."""
        return self.floor + self.settings.max_upload_mb * MB

    def make_room(self, now: float | None = None) -> int:
        """Free `wanted_free()` if old_jobs_make_room allows: cached results first, then the oldest
        ended jobs, if removing them can reach it. Returns the number of jobs removed."""
        wanted = self.wanted_free()
        if not self.settings.old_jobs_make_room or free_bytes(self.folder) >= wanted:
            self._short_said = False
            return 0
        try:
            evict_cached_results(self.cache_folder)
        except OSError as exc:  # a disk too full to open the cache: the jobs still make room
            log.warning("cached results could not be evicted: %s", exc)
        short = wanted - free_bytes(self.folder)
        if short <= 0:
            return 0
        cutoff = (time.time() if now is None else now) - SPARE_RECENT_S
        store = JobStore(self.folder)
        try:
            candidates = store.ended_oldest_first(cutoff)
            situation = (short // MB, tuple(candidates))
            if situation == self._unreachable:  # as short as last round, the same jobs: not walked again
                return 0
            reachable = 0
            for job_id in candidates:  # their sizes, until they are enough
                reachable += folder_bytes(store.job_dir(job_id))
                if reachable >= short:
                    break
        finally:
            store.close()
        if reachable < short:
            if not self._short_said:
                log.warning("the disk is short of %.0f MB for the floor and one more upload, and removing every old "
                            "job would not free it: none removed; free space on the card", short / MB)
                self._short_said = True
            self._unreachable = situation
            return 0
        self._unreachable = None
        return self._remove(candidates, lambda: free_bytes(self.folder) >= wanted, "to make room on the disk")

    def remove_expired(self, now: float | None = None) -> int:
        """Remove the jobs that ended more than keep_jobs_days ago; returns how many."""
        days = self.settings.keep_jobs_days
        if days is None:
            return 0
        cutoff = (time.time() if now is None else now) - days * 86_400
        store = JobStore(self.folder)
        try:
            expired = store.ended_oldest_first(cutoff)
        finally:
            store.close()
        return self._remove(expired, lambda: False, f"ended over {days:g} days ago (service.keep_jobs_days)")

    def _remove(self, job_ids: list[str], enough: Callable[[], bool], why: str) -> int:
        store, count = JobStore(self.folder), 0
        try:
            for job_id in job_ids:
                if enough():
                    break
                with folder_lock(store.job_dir(job_id), wait=False) as held:
                    if not held or not store.delete(job_id, ended_only=True):  # in use, or changed meanwhile
                        continue
                count += 1
                self.removed_total += 1
                log.warning("job %s removed %s: %.0f MB free", job_id, why, free_bytes(self.folder) / MB)
                self.removed(job_id)
        finally:
            store.close()
        if count:
            self.after(count)
        return count
