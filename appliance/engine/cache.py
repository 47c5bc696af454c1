"""The persistent cache that lets repeated work skip inference (SQLite in the state directory).

Three levels, from finest to coarsest:
- near-duplicate frames → their vision embedding and logits (skips the vision model);
- near-duplicate events (keyframe hash + motion kind) → the template decision made before;
- identical requests (clip bytes + description + options + library + models) → stored result
  (the clip's digest remembered by path, inode, size and mtime, so an unchanged file is not read).

Frames and decisions share one table of "near" entries: a 64-bit perceptual hash, split into
eight 8-bit bands that are indexed, so any entry within Hamming distance 7 shares a band and is
found by an indexed lookup; the exact distance is then checked in Python. Everything is bounded
and evicted least-recently-used. SQLite in WAL mode with a busy timeout makes concurrent scorers
(several processes or threads, each with its own connection) safe; every write is a transaction.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.engine.framehash import BANDS, bands, from_signed, hamming, to_signed
from appliance.inference.manifest import sha256_of

_BAND_COLUMNS = [f"b{i}" for i in range(BANDS)]
_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS near (id INTEGER PRIMARY KEY, scope TEXT NOT NULL, hash INTEGER NOT NULL, "
    + ", ".join(f"{c} INTEGER NOT NULL" for c in _BAND_COLUMNS)
    + ", payload BLOB NOT NULL, last_used REAL NOT NULL)",
    *[f"CREATE INDEX IF NOT EXISTS near_{c} ON near(scope, {c})" for c in _BAND_COLUMNS],
    "CREATE INDEX IF NOT EXISTS near_lru ON near(last_used)",
    "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, folder TEXT NOT NULL, "
    "size_bytes INTEGER NOT NULL, last_used REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, device INTEGER NOT NULL, inode INTEGER NOT NULL, "
    "size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL, last_used REAL NOT NULL)",
]
MAX_DIGESTS = 1000
"""Remembered file digests (a row each, ~150 bytes); the least recently used go first."""


@dataclass(frozen=True)
class CacheLimits:
    """Bounds of the cache; the defaults fit a Pi's SD card and memory comfortably."""

    max_near_entries: int = 20000
    """Frames + decisions kept (each ≈ 4.5 KB for a frame); the least recently used go first."""
    max_results: int = 50
    """Whole results (WAV + MP4 + timeline) kept for identical re-scores."""
    max_result_bytes: int = 500 * 1024 * 1024
    """Total size of stored results."""
    near_distance: int = 6
    """Largest Hamming distance (of 64 bits) at which two frames count as near-duplicates."""


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
        self.db = sqlite3.connect(self.folder / "cache.sqlite3", timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        with self._transaction():
            for statement in _SCHEMA:
                self.db.execute(statement)

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
        st = path.stat()
        identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        row = self.db.execute("SELECT device, inode, size, mtime_ns, sha256 FROM digests WHERE path = ?",
                              (str(path),)).fetchone()
        if row is not None and tuple(row[:4]) == identity:
            self.db.execute("UPDATE digests SET last_used = ? WHERE path = ?", (time.time(), str(path)))
            return row[4]
        digest = sha256_of(path)
        if path.stat().st_mtime_ns != st.st_mtime_ns:  # written while being read: do not remember
            return digest
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (str(path), *identity, digest, time.time()))
            self.db.execute("DELETE FROM digests WHERE path IN (SELECT path FROM digests "
                            "ORDER BY last_used DESC LIMIT -1 OFFSET ?)", (MAX_DIGESTS,))
        return digest

    # -- near-duplicate entries (frames, decisions) ------------------------------------------
    def find_near(self, scope: str, value: int) -> tuple[bytes, int] | None:
        """The payload of the closest entry within `near_distance`, and that distance."""
        band_values = bands(value)
        where = " OR ".join(f"{c} = ?" for c in _BAND_COLUMNS)
        rows = self.db.execute(
            f"SELECT id, hash, payload FROM near WHERE scope = ? AND ({where})", [scope, *band_values]
        ).fetchall()
        best = min(((hamming(from_signed(h), value), i, p) for i, h, p in rows), default=None)
        if best is None or best[0] > self.limits.near_distance:
            self._count(scope.split(":", 1)[0] + "_miss")
            return None
        distance, row_id, payload = best
        with self._transaction():
            self.db.execute("UPDATE near SET last_used = ? WHERE id = ?", (time.time(), row_id))
            self._count(scope.split(":", 1)[0] + "_hit")
        return payload, distance

    def put_near(self, scope: str, value: int, payload: bytes) -> None:
        with self._transaction():
            self.db.execute(
                f"INSERT INTO near (scope, hash, {', '.join(_BAND_COLUMNS)}, payload, last_used) "
                f"VALUES (?, ?, {', '.join('?' * BANDS)}, ?, ?)",
                [scope, to_signed(value), *bands(value), payload, time.time()],
            )
            excess = self.db.execute("SELECT count(*) FROM near").fetchone()[0] - self.limits.max_near_entries
            if excess > 0:
                self.db.execute(
                    "DELETE FROM near WHERE id IN (SELECT id FROM near ORDER BY last_used LIMIT ?)", (excess,)
                )

    def find_frame(self, model: str, value: int) -> dict[str, np.ndarray] | None:
        """Cached vision outputs of a near-duplicate frame for this model version."""
        found = self.find_near(f"frame:{model}", value)
        return unpack_arrays(found[0]) if found else None

    def put_frame(self, model: str, value: int, embedding: np.ndarray, logits: np.ndarray) -> None:
        self.put_near(f"frame:{model}", value, pack_arrays(embedding=embedding, logits=logits))

    def find_decision(self, context: str, value: int) -> dict | None:
        """A template decision made earlier for a near-identical event in the same context."""
        found = self.find_near(f"decision:{context}", value)
        return json.loads(found[0]) if found else None

    def put_decision(self, context: str, value: int, decision: dict) -> None:
        self.put_near(f"decision:{context}", value, json.dumps(decision).encode())

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
        """Copy result files into the cache: written to a temp folder, then renamed whole."""
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.results_folder))
        for name, source in files.items():
            shutil.copyfile(source, staging / name)
            with open(staging / name, "rb") as handle:
                os.fsync(handle.fileno())
        final = self.results_folder / key
        size = sum(p.stat().st_size for p in staging.iterdir())
        with self._transaction():
            if final.exists():
                shutil.rmtree(staging)
                return
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
        scopes = dict(
            self.db.execute(
                "SELECT substr(scope, 1, instr(scope, ':') - 1), count(*) FROM near GROUP BY 1"
            ).fetchall()
        )
        results, result_bytes = self.db.execute(
            "SELECT count(*), coalesce(sum(size_bytes), 0) FROM results"
        ).fetchone()
        db_bytes = sum(p.stat().st_size for p in self.folder.glob("cache.sqlite3*"))
        return {
            "frames": scopes.get("frame", 0),
            "decisions": scopes.get("decision", 0),
            "results": results,
            "result_bytes": result_bytes,
            "database_bytes": db_bytes,
            "counters": dict(self.db.execute("SELECT name, value FROM counters ORDER BY name").fetchall()),
            "limits": self.limits.__dict__,
        }

    def clear(self) -> None:
        with self._transaction():
            self.db.execute("DELETE FROM near")
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
