"""The cache database when the disk was unlucky: damaged, or on a disk that cannot hold it.

The cache is disposable (everything in it can be computed again), so an unreadable database is
deleted and rebuilt empty, logged once per process. It lives here, beside the Cache, because
every way to a Cache needs it: the service (service/state.py, its queue and metrics) and the
command line (`foley score`, `foley cache`, `foley demo`: engine/cache_cli.py) — the command
line used to stop on a damaged cache with a traceback. A disk too full (or read-only) to open
it on is one line saying so, not a rebuild: deleting the cache would not make it fit.
"""
from __future__ import annotations

import fcntl
import logging
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from appliance.engine.cache import Cache
from appliance.errors import UsageError, disk_reason

log = logging.getLogger("foley.cache")
CACHE_DB = "cache.sqlite3"
_cache_rebuilt_logged: set[str] = set()


def database_problem(path: Path) -> str | None:
    """Why the SQLite database at `path` is unusable, or None when it is fine (or absent)."""
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    if rows != [("ok",)]:
        return "; ".join(str(r[0]) for r in rows[:3])
    return None


def cache_problem(cache_folder: Path) -> str | None:
    """Why the cache database in `cache_folder` is unreadable, or None."""
    return database_problem(Path(cache_folder) / CACHE_DB)


def open_cache(cache_folder: Path) -> Cache:
    """A Cache on `cache_folder`, rebuilt empty when its database is damaged. A UsageError in one
    line when the folder cannot hold it (full, read-only): SQLite says "disk I/O error" or
    "database or disk is full" then, and the database itself is fine — or not there yet."""
    try:
        try:
            return _opened(cache_folder)
        except sqlite3.DatabaseError as exc:
            problem = cache_problem(cache_folder)
            if problem is None and isinstance(exc, sqlite3.OperationalError):
                raise  # the disk, not the database
            rebuild_cache(cache_folder, problem or str(exc))
            return _opened(cache_folder)
    except (sqlite3.OperationalError, OSError) as exc:
        raise UsageError(f"the cache in {cache_folder} cannot be opened: {disk_reason(exc)}") from None


def _opened(cache_folder: Path) -> Cache:
    """A Cache whose database has been read once (a damaged file may open without complaint)."""
    cache = Cache(cache_folder)
    try:
        cache.db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        cache.close()
        raise
    return cache


def rebuild_cache(cache_folder: Path, why: str) -> None:
    """Delete the cache database and its results (disposable: everything in it can be computed
    again), under a lock so the web process and the worker do it once."""
    folder = Path(cache_folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".rebuild.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if database_problem(folder / CACHE_DB) is None and (folder / CACHE_DB).exists():
            return  # another process rebuilt it meanwhile
        for suffix in ("", "-wal", "-shm"):
            (folder / (CACHE_DB + suffix)).unlink(missing_ok=True)
        shutil.rmtree(folder / "results", ignore_errors=True)
    if str(folder) not in _cache_rebuilt_logged:
        _cache_rebuilt_logged.add(str(folder))
        log.warning("the cache database in %s was unreadable (%s); rebuilt empty", folder, why)
