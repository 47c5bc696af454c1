"""The service's state on disk when the board was unlucky: damaged databases, a read-only or
missing state folder, a full disk, uploads left by a killed request.

- The jobs and queue databases are checked when the service (or a worker) starts; a damaged one
  is moved aside as `NAME.corrupt-<UTC time>` (kept for a human to look at), a new empty one is
  created, and the service says so in its log and on the page (`/api/v1/version` notices).
- The cache database is disposable: when unreadable it is deleted and rebuilt empty, logged
  once per process (engine/cache_recovery.py, shared with the command line).
- A state folder that cannot be created or written is one line naming the path and the fix.
- Work is accepted only with enough free disk (507 below `service.min_free_mb` plus what the
  job needs), after the cache's results have been evicted to make room.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path

from appliance.config import MB
from appliance.engine.cache_recovery import database_problem, open_cache
from appliance.errors import UsageError
from appliance.service.jobs import JobStore

log = logging.getLogger("foley.state")
CHECKED_DATABASES = ("jobs.sqlite3", "queue.sqlite3")


def ensure_writable(folder: Path, what: str = "state folder") -> Path:
    """`folder`, created if needed and proven writable; else UsageError in one line naming it
    and what to do (a raw traceback helps nobody at a board's console)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        fix = ("the disk is full: free some space" if exc.errno == errno.ENOSPC else
               f"make it writable by user {_user()} (e.g. sudo chown -R {_user()} {folder}), or choose another "
               "folder with FOLEY_STATE_DIR or state_dir in the config")
        raise UsageError(f"the {what} {folder} cannot be written ({reason}): {fix}") from None
    return folder


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


def move_aside(path: Path) -> Path:
    """Rename a damaged database (and its -wal/-shm) to NAME.corrupt-<UTC time>."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    return target


def recover_databases(service_folder: Path) -> list[str]:
    """Check the jobs and queue databases; move a damaged one aside. Returns the notices (one
    sentence each) for the log and the page."""
    notices = []
    lock_path = Path(service_folder) / ".recover.lock"
    with open(lock_path, "a") as lock:  # serve and its worker start together
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in CHECKED_DATABASES:
            path = Path(service_folder) / name
            problem = database_problem(path)
            if problem is None:
                continue
            kept = move_aside(path)
            what = "job history" if name.startswith("jobs") else "queue of waiting jobs"
            notice = (f"the {what} ({name}) was damaged ({problem}) and has been moved aside as {kept.name}; "
                      f"the service started with an empty one")
            log.warning("%s", notice)
            notices.append(notice)
    return notices


def sweep_uploads(service_folder: Path) -> int:
    """Remove the uploads in progress a killed request left behind (only the web process writes
    there, and this runs before it serves). Returns the bytes freed."""
    uploads = Path(service_folder) / "uploads"
    freed = 0
    if not uploads.is_dir():
        return 0
    for entry in uploads.iterdir():
        try:
            if entry.is_dir() and not entry.is_symlink():
                freed += sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
                shutil.rmtree(entry, ignore_errors=True)
            else:
                freed += entry.lstat().st_size
                entry.unlink(missing_ok=True)
        except OSError:
            continue
    if freed:
        log.info("removed %.1f MB of uploads left by interrupted requests", freed / MB)
    return freed


def sweep_job_folders(service_folder: Path) -> int:
    """Remove the job folders no job names (JobStore.remove_orphan_folders): up to 200 MB each,
    invisible to the API. Not while a damaged job history is kept beside (`move_aside`): their
    rows may be in it, for a human to recover. Returns the folders removed."""
    if any(Path(service_folder).glob("jobs.sqlite3.corrupt-*")):
        return 0
    store = JobStore(service_folder)
    try:
        removed = store.remove_orphan_folders()
    finally:
        store.db.close()
    if removed:
        log.info("removed %d job folders no job names (left by a crash while a job was made or deleted)", len(removed))
    return len(removed)


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def room_for(folder: Path, needed: int, floor_mb: int, cache_folder: Path | None = None) -> tuple[bool, int, int]:
    """(enough, free bytes, bytes needed including the floor) for writing `needed` bytes under
    `folder`. When short, the cache's stored results are evicted first (they can be computed
    again) and the space measured again."""
    wanted = needed + floor_mb * MB
    free = free_bytes(folder)
    if free < wanted and cache_folder is not None and evict_cached_results(cache_folder):
        free = free_bytes(folder)
    return free >= wanted, free, wanted


def evict_cached_results(cache_folder: Path) -> bool:
    """Delete the cache's stored results (they can be computed again); False if it had none."""
    results = Path(cache_folder) / "results"
    if not results.is_dir() or not any(results.iterdir()):
        return False
    try:
        cache = open_cache(cache_folder)
        try:
            cache.db.execute("DELETE FROM results")
        finally:
            cache.close()
    except (OSError, sqlite3.Error, UsageError):  # a disk too full to open it: the files go all the same
        pass
    for child in results.iterdir():
        shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
    log.warning("disk nearly full: cached results evicted")
    return True
