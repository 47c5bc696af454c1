"""The persistent cache that lets repeated work skip inference (SQLite in the state directory).

It only ever skips work whose result would be identical, so a result does not depend on what was
scored before (the same clip, options and seed give the same WAV with the cache off, cold or warm):
- frames → their vision embedding and logits, keyed by the frame's exact pixels (a sha256,
  Keyframe.digest) and the model file (skips the vision model; near-duplicate frames *within*
  a clip share one inference in appliance.engine.visual, the same way with or without a cache);
- identical requests (clip bytes + description + options + library + models + engine code) →
  stored result (the clip's digest remembered by path, inode, size and mtime, so an unchanged
  file is not read).

Everything is bounded and evicted least-recently-used. SQLite in WAL mode with a busy timeout
makes concurrent scorers (several processes or threads, each with its own connection) safe;
every write is a transaction.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.inference.manifest import sha256_of
from appliance.os_text import display_name

log = logging.getLogger("foley.cache")

_SCHEMA = [
    "DROP TABLE IF EXISTS near",  # near-duplicate frames and decisions of earlier versions: never read now
    "CREATE TABLE IF NOT EXISTS frames (model TEXT NOT NULL, digest TEXT NOT NULL, payload BLOB NOT NULL, "
    "last_used REAL NOT NULL, PRIMARY KEY (model, digest))",
    "CREATE INDEX IF NOT EXISTS frames_lru ON frames(last_used)",
    "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, folder TEXT NOT NULL, "
    "size_bytes INTEGER NOT NULL, last_used REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, device INTEGER NOT NULL, inode INTEGER NOT NULL, "
    "size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL, last_used REAL NOT NULL)",
]
_CANNOT_WRITE = ("disk is full", "readonly database", "unable to open database file", "disk I/O error")
"""SQLite's words for a write the disk refused (full, read-only, no inode for the journal)."""
MAX_DIGESTS = 1000
"""Remembered file digests (a row each, ~150 bytes); the least recently used go first."""
INCOMING_STALE_S = 3600
"""A result copy (`.incoming-*`) this old is a killed process's, never one being made."""


@dataclass(frozen=True)
class CacheLimits:
    """Bounds of the cache; the defaults fit a Pi's SD card and memory comfortably."""

    max_frames: int = 20000
    """Frames' vision outputs kept (each ≈ 4.5 KB); the least recently used go first."""
    max_results: int = 50
    """Whole results (WAV + MP4 + timeline) kept for identical re-scores."""
    max_result_bytes: int = 500 * 1024 * 1024
    """Total size of stored results."""


def pack_arrays(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{k: v.astype(np.float16) for k, v in arrays.items()})
    return buffer.getvalue()


def unpack_arrays(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob)) as data:
        return {k: data[k].astype(np.float32) for k in data.files}


class Cache:
    """One connection to the cache database; create one per thread or process."""

    def __init__(self, folder: Path, limits: CacheLimits = CacheLimits()):
        self.folder = Path(folder)
        self.results_folder = self.folder / "results"
        self.results_folder.mkdir(parents=True, exist_ok=True)
        self.limits = limits
        self._said_cannot_write = False
        self.db = sqlite3.connect(self.folder / "cache.sqlite3", timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        with self._transaction():
            for statement in _SCHEMA:
                self.db.execute(statement)
        self._sweep_incoming()

    def _sweep_incoming(self) -> None:
        """Remove the copies a process killed in `put_result` left (`.incoming-*`). Only old ones:
        another process sharing the cache may be filling one now (a copy takes seconds)."""
        stale = time.time() - INCOMING_STALE_S
        for leftover in self.results_folder.glob(".incoming-*"):
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < stale:
                    shutil.rmtree(leftover, ignore_errors=True)

    def close(self) -> None:
        self.db.close()

    def _transaction(self):
        return _Transaction(self.db)

    # -- file digests --------------------------------------------------------------------------
    def file_digest(self, path: Path) -> str:
        """sha256 of the file's bytes, remembered by (path, device, inode, size, mtime_ns): a
        5-minute clip scored again from the same file is answered without reading it (83 ms of
        hashing before). Any write to the file changes its mtime_ns or size, and a replaced
        file has another inode, so a stale digest is never used — the rule make and rsync use."""
        path = Path(path).resolve()
        # SQLite text is UTF-8: a name's undecodable bytes are replaced, and two names that then
        # read alike share a row, which the identity keeps from answering for the other file.
        key = display_name(str(path))
        st = path.stat()
        identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        row = self.db.execute("SELECT device, inode, size, mtime_ns, sha256 FROM digests WHERE path = ?",
                              (key,)).fetchone()
        if row is not None and tuple(row[:4]) == identity:
            self.db.execute("UPDATE digests SET last_used = ? WHERE path = ?", (time.time(), key))
            return row[4]
        digest = sha256_of(path)
        if path.stat().st_mtime_ns != st.st_mtime_ns:  # written while being read: do not remember
            return digest
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (key, *identity, digest, time.time()))
            self.db.execute("DELETE FROM digests WHERE path IN (SELECT path FROM digests "
                            "ORDER BY last_used DESC LIMIT -1 OFFSET ?)", (MAX_DIGESTS,))
        return digest

    # -- frames -------------------------------------------------------------------------------
    def find_frame(self, model: str, digest: str) -> dict[str, np.ndarray] | None:
        """Cached vision outputs of the frame with exactly these pixels, for this model version."""
        row = self.db.execute("SELECT payload FROM frames WHERE model = ? AND digest = ?", (model, digest)).fetchone()
        if row is None:
            self._or_skip(lambda: self._count("frame_miss"))
            return None

        def used() -> None:
            with self._transaction():
                self.db.execute("UPDATE frames SET last_used = ? WHERE model = ? AND digest = ?",
                                (time.time(), model, digest))
                self._count("frame_hit")
        self._or_skip(used)
        return unpack_arrays(row[0])

    def put_frame(self, model: str, digest: str, embedding: np.ndarray, logits: np.ndarray) -> None:
        def store() -> None:
            with self._transaction():
                self.db.execute("INSERT OR REPLACE INTO frames (model, digest, payload, last_used) VALUES (?, ?, ?, ?)",
                                (model, digest, pack_arrays(embedding=embedding, logits=logits), time.time()))
                excess = self.db.execute("SELECT count(*) FROM frames").fetchone()[0] - self.limits.max_frames
                if excess > 0:
                    self.db.execute("DELETE FROM frames WHERE rowid IN "
                                    "(SELECT rowid FROM frames ORDER BY last_used LIMIT ?)", (excess,))
        self._or_skip(store)

    def _or_skip(self, write) -> None:
        """Run `write`, a write of the frame cache that only saves work later: on a full or
        read-only disk it is skipped (its transaction rolled back), said once. It made a cache
        miss, a read, fail the live session's choice of sounds with a traceback."""
        try:
            write()
        except sqlite3.OperationalError as exc:
            if not any(words in str(exc) for words in _CANNOT_WRITE):
                raise
            if not self._said_cannot_write:
                log.warning("the cache cannot be written (%s): frames are not remembered for now", exc)
                self._said_cannot_write = True

    # -- whole results ------------------------------------------------------------------------
    def find_result(self, key: str) -> Path | None:
        """The folder of a stored result for this request key (files inside are complete)."""
        row = self.db.execute("SELECT folder FROM results WHERE key = ?", (key,)).fetchone()
        if row is None or not (self.results_folder / row[0]).is_dir():
            self._count("result_miss")
            return None
        with self._transaction():
            self.db.execute("UPDATE results SET last_used = ? WHERE key = ?", (time.time(), key))
            self._count("result_hit")
        return self.results_folder / row[0]

    def put_result(self, key: str, files: dict[str, Path]) -> None:
        """Copy result files into the cache: written to a temp folder, then renamed whole. A copy
        the disk has no room for is dropped (logged): the cache is disposable, and the job whose
        files these are has them already."""
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.results_folder))
        try:
            for name, source in files.items():
                shutil.copyfile(source, staging / name)
                with open(staging / name, "rb") as handle:
                    os.fsync(handle.fileno())
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            log.warning("result not cached: %s", exc.strerror or exc)
            return
        final = self.results_folder / key
        size = sum(p.stat().st_size for p in staging.iterdir())
        with self._transaction():
            if final.exists():
                if self.db.execute("SELECT 1 FROM results WHERE key = ?", (key,)).fetchone():
                    shutil.rmtree(staging)
                    return
                # Renamed in by a process that died before its row was committed: never found
                # (no row) and never stored again (the folder was there), for good.
                shutil.rmtree(final)
            staging.rename(final)
            self.db.execute(
                "INSERT OR REPLACE INTO results (key, folder, size_bytes, last_used) VALUES (?, ?, ?, ?)",
                (key, key, size, time.time()),
            )
            self._evict_results()

    def _evict_results(self) -> None:
        rows = self.db.execute("SELECT key, size_bytes FROM results ORDER BY last_used DESC").fetchall()
        total, kept = 0, 0
        for key, size in rows:
            total += size
            kept += 1
            if kept > self.limits.max_results or total > self.limits.max_result_bytes:
                self.db.execute("DELETE FROM results WHERE key = ?", (key,))
                shutil.rmtree(self.results_folder / key, ignore_errors=True)

    # -- bookkeeping --------------------------------------------------------------------------
    def _count(self, name: str, by: int = 1) -> None:
        self.db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )

    def stats(self) -> dict:
        results, result_bytes = self.db.execute(
            "SELECT count(*), coalesce(sum(size_bytes), 0) FROM results"
        ).fetchone()
        db_bytes = sum(p.stat().st_size for p in self.folder.glob("cache.sqlite3*"))
        return {
            "frames": self.db.execute("SELECT count(*) FROM frames").fetchone()[0],
            "results": results,
            "result_bytes": result_bytes,
            "database_bytes": db_bytes,
            "counters": dict(self.db.execute("SELECT name, value FROM counters ORDER BY name").fetchall()),
            "limits": self.limits.__dict__,
        }

    def clear(self) -> None:
        with self._transaction():
            self.db.execute("DELETE FROM frames")
            self.db.execute("DELETE FROM results")
            self.db.execute("DELETE FROM counters")
            self.db.execute("DELETE FROM digests")
        for child in self.results_folder.iterdir():
            shutil.rmtree(child, ignore_errors=True)
        self.db.execute("VACUUM")


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error): writers queue on the lock, never interleave."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
