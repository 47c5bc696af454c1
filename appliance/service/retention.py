"""Old jobs make room: the history is bounded by the card, not by someone deleting jobs by hand.

Every job keeps its upload, its results and its edit history (a 10 s camera recording ~7 MB;
an upload about twice its size plus its WAV). Nothing else removed them: the history grew until
the state folder's free space fell under `service.min_free_mb`, and from then on every upload got
507 and the camera refused to record until someone deleted jobs. Now, with
`service.old_jobs_make_room` (the default, as a dashcam overwrites its oldest footage), when free
space falls under the floor plus room for one more upload of `service.max_upload_mb`, the cached
results go first (they can be computed again), then the oldest finished or failed jobs, one at a
time, until there is room; and with `service.keep_jobs_days`, jobs ended longer ago than that go
whatever the space. Queued and running jobs are never removed, nor one being re-mixed or
deleted (its folder lock is held: the next oldest goes instead). Checked every CHECK_EVERY_S by
the service, and at once before work would be refused for want of space (shared.py `disk_full`).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from appliance.config import Config
from appliance.service.jobs import JobStore, folder_lock
from appliance.service.state import evict_cached_results, free_bytes

log = logging.getLogger("foley.service")
CHECK_EVERY_S = 60.0
MB = 1024 * 1024


class JobRetention(threading.Thread):
    """`make_room()` and `remove_expired()` on demand; started (serve), both every CHECK_EVERY_S.
    `removed(job_id)` is told of each job removed (the board's player stops its sound), and
    `after(count)` once after each round that removed some (the removed-sound purge)."""

    def __init__(self, config: Config, service_folder: Path, cache_folder: Path,
                 removed: Callable[[str], None] = lambda job_id: None, after: Callable[[int], None] = lambda n: None):
        super().__init__(name="foley-retention", daemon=True)
        self.settings = config.service
        self.floor = max(config.service.min_free_mb, config.capture.min_free_mb) * MB
        self.folder, self.cache_folder = Path(service_folder), Path(cache_folder)
        self.removed, self.after = removed, after
        self.stopping = threading.Event()
        self._lock = threading.Lock()  # one round at a time: a request's and the thread's

    def run(self) -> None:
        while not self.stopping.wait(CHECK_EVERY_S):
            try:
                self.remove_expired()
                self.make_room()
            except Exception:  # a failed round keeps the jobs; the next one tries again
                log.exception("removing old jobs failed")

    def wanted_free(self, needed: int = 0) -> int:
        return needed + self.floor + self.settings.max_upload_mb * MB

    def make_room(self, needed: int = 0) -> int:
        """Free space for `needed` bytes more (plus the floor and one more upload), if
        old_jobs_make_room allows: cached results first, then the oldest ended jobs. Returns the
        number of jobs removed."""
        if not self.settings.old_jobs_make_room:
            return 0
        wanted = self.wanted_free(needed)
        with self._lock:
            if free_bytes(self.folder) >= wanted:
                return 0
            evict_cached_results(self.cache_folder)
            return self._remove(lambda store: store.ended_oldest_first(),
                                lambda: free_bytes(self.folder) >= wanted, "to make room on the disk")

    def remove_expired(self, now: float | None = None) -> int:
        """Remove the jobs that ended more than keep_jobs_days ago; returns how many."""
        days = self.settings.keep_jobs_days
        if days is None:
            return 0
        cutoff = (time.time() if now is None else now) - days * 86_400
        with self._lock:
            return self._remove(lambda store: store.ended_oldest_first(before=cutoff), lambda: False,
                                f"ended over {days:g} days ago (service.keep_jobs_days)")

    def _remove(self, candidates: Callable[[JobStore], list[str]], enough: Callable[[], bool], why: str) -> int:
        store, count = JobStore(self.folder), 0
        try:
            for job_id in candidates(store):
                if enough():
                    break
                with folder_lock(store.job_dir(job_id), wait=False) as held:
                    if not held or not store.delete(job_id):  # in use (a re-mix, a delete): the next one
                        continue
                count += 1
                log.warning("job %s removed %s: %.0f MB free", job_id, why, free_bytes(self.folder) / 1e6)
                self.removed(job_id)
        finally:
            store.close()
        if count:
            self.after(count)
        return count
