"""Jobs: one scoring request each, kept in SQLite so they survive restarts and crashes.

The queue (huey) only carries job ids; everything a user sees — state, stage, progress, error,
history — lives here. A job's files (the upload and its results) live in its own folder under
the state directory and are written atomically, so a `kill -9` leaves either a finished result
or none. A job that was running when its worker died is re-queued (or failed with the reason
once it has been started `max_attempts` times) by `recover_interrupted`.
"""
from __future__ import annotations

import fcntl
import functools
import json
import logging
import os
import re
import shutil
import socket
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from appliance.atomic import durable_move, fsync_folder
from appliance.errors import UsageError

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
INPUT_NAME, ANALYSIS_NAME, LOCK_NAME = "input", "analysis.npz", ".lock"
"""A job folder's upload, and the live analysis that comes with a recording (foley capture)."""
log = logging.getLogger("foley.serve")
JOB_ID = re.compile(r"[0-9a-f]{16}")
"""A job's id, its folder's name (`create`)."""
ORPHAN_MIN_AGE_S = 30.0
"""A job folder without a row is removed only once this old: its maker takes the folder's lock
just after making it, and holds it until the row is in."""
_SCHEMA = """CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, created REAL NOT NULL, started REAL, finished REAL,
    filename TEXT NOT NULL, description TEXT, options TEXT NOT NULL, stage TEXT, progress REAL NOT NULL,
    error TEXT, attempts INTEGER NOT NULL, worker TEXT, heartbeat REAL, seconds REAL, duration REAL)"""
_ADDED_COLUMNS = {"duration": "REAL"}
"""Columns added since the first schema, added to an older jobs table when it is opened."""
SCHEMA_VERSION = 2
"""jobs.sqlite3's format, kept in its `PRAGMA user_version`: 1 (or 0, unstamped) the first table,
2 with `duration`. Older is brought up to date when opened; newer (a downgrade) is refused in one
line: the older code read a newer table's rows wrong and answered 500 to every job request."""


@dataclass
class Job:
    id: str
    state: str
    created: float
    started: float | None
    finished: float | None
    filename: str
    description: str | None
    options: dict
    stage: str | None
    progress: float
    error: str | None
    attempts: int
    worker: str | None
    heartbeat: float | None
    seconds: float | None
    """How long scoring took (time taken), once done."""
    duration: float | None = None
    """The clip's length in seconds, as its header states (None when it does not)."""

    def public(self) -> dict:
        data = asdict(self)
        data.pop("heartbeat")
        data["progress"] = round(100 * self.progress, 1)
        return data


_JOB_FIELDS = tuple(Job.__dataclass_fields__)


@contextmanager
def folder_lock(folder: Path, shared: bool = False, wait: bool = True):
    """A job folder's lock: exclusive for a re-mix or a delete of the job, shared for reading its
    timeline and edit versions together (a first edit replaces timeline.json before it writes the
    version as scored). A no-op when the folder is already gone. Yields whether it is held: with
    `wait` False, a lock someone holds is not waited for (False) — a request re-mixing a job
    holds its lock while it asks for disk room, and room made by removing that job would wait
    on it for ever (flock locks of one process exclude each other too)."""
    try:
        handle = open(Path(folder) / LOCK_NAME, "a")
    except (FileNotFoundError, NotADirectoryError):
        yield True
        return
    with handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


SCORING_LEFTOVERS = (".*.staged*", ".store-*", ".own-sound-*")
"""What scoring writes in a job's folder under temporary names (engine/outputs.py, pipeline.py,
own_sound.py). Other hidden files there are other processes' (a thumbnail being written, a fleet
worker's result being received) and stay."""


def clear_leftovers(folder: Path) -> None:
    """Remove from a job's folder what a worker killed while scoring it left (its staged outputs,
    the clip's own sound decoded for a mix, a result being stored: a 10-minute clip's own sound
    alone 230 MB), before the job is scored again."""
    for leftover in (path for pattern in SCORING_LEFTOVERS for path in Path(folder).glob(pattern)):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def worker_id() -> str:
    """HOST/BOOT:PID — the machine's name, its boot (the first 8 characters of the kernel's
    random boot id) and the process. The boot tells this machine's live processes from another
    board's with the same name (boards flashed from one image are all `foley`) and from this
    machine's before a reboot (whose pids are anyone's now), without comparing wall clocks (a
    Pi's jumps when NTP first sets it)."""
    return f"{this_boot()}:{os.getpid()}"


def this_boot() -> str:
    return f"{socket.gethostname()}/{_boot_id()}"


@functools.cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()[:8]
    except OSError:  # not Linux: the name alone, as before
        return "-"


class JobStore:
    """One SQLite connection (per thread or process) to the jobs table and the job folders."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        (self.folder / "jobs").mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.folder / "jobs.sqlite3", timeout=60, isolation_level=None,
                                  check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self.db.close()
            raise UsageError(f"{self.folder / 'jobs.sqlite3'} was written by a newer version of the appliance (format "
                             f"{version}; this version reads up to {SCHEMA_VERSION}): install that version again")
        self.db.execute(_SCHEMA)
        present = {row[1] for row in self.db.execute("PRAGMA table_info(jobs)")}
        for column, kind in _ADDED_COLUMNS.items():
            if column not in present:
                try:
                    self.db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
                except sqlite3.OperationalError as exc:  # another process added it first
                    if "duplicate column" not in str(exc):
                        raise
        if version < SCHEMA_VERSION:
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def job_dir(self, job_id: str) -> Path:
        return self.folder / "jobs" / job_id

    def close(self) -> None:
        self.db.close()

    def create(self, filename: str, description: str | None, options: dict, upload: Path,
               analysis: Path | None = None, duration: float | None = None, worker: str | None = None) -> Job:
        """A new queued job owning `upload` (moved into the job's folder) and, for a recording
        analysed while it was made, its analysis file. Both are on disk to stay, their data, their
        names and the folder's own name, before the row that names the job is committed: a
        power cut after a plain rename left a queued job whose upload was empty or gone.
        With `worker`, the job is made running, claimed by it, in the same INSERT: a live
        recording filed by the process that made it is never a queued job a worker could take."""
        job_id = uuid.uuid4().hex[:16]
        folder = self.job_dir(job_id)
        folder.mkdir(parents=True)
        try:
            # Its lock until its row is in: remove_orphan_folders leaves a job being made alone.
            with open(folder / LOCK_NAME, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                durable_move(upload, folder / INPUT_NAME)  # a live recording's picture may be on another disk
                if analysis is not None:
                    durable_move(analysis, folder / ANALYSIS_NAME)
                fsync_folder(folder.parent)
                now = time.time()
                claim = (RUNNING, now, 1, worker, now) if worker else (QUEUED, None, 0, None, None)
                self.db.execute(
                    "INSERT INTO jobs (id, state, started, attempts, worker, heartbeat, created, filename, "
                    "description, options, progress, duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                    (job_id, *claim, now, filename, description, json.dumps(options), duration),
                )
        except BaseException:  # the row not written either (database locked, disk full): no folder left
            give_back([(upload, folder / INPUT_NAME), (analysis, folder / ANALYSIS_NAME)])
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._job(row) if row else None

    def list(self, limit: int = 50, before: Job | None = None) -> list[Job]:
        """Newest first, at most `limit`; `before`: only the jobs listed after that one (the next
        page: created earlier, or at the same moment with a smaller id)."""
        if before is None:
            rows = self.db.execute("SELECT * FROM jobs ORDER BY created DESC, id DESC LIMIT ?", (limit,)).fetchall()
        else:
            rows = self.db.execute("SELECT * FROM jobs WHERE created < ? OR (created = ? AND id < ?) "
                                   "ORDER BY created DESC, id DESC LIMIT ?",
                                   (before.created, before.created, before.id, limit)).fetchall()
        return [self._job(r) for r in rows]

    def queued_before(self, cutoff: float) -> list[str]:
        """The ids of the jobs queued since before `cutoff` (time.time()), oldest first."""
        return [row[0] for row in self.db.execute("SELECT id FROM jobs WHERE state = ? AND created < ? ORDER BY created",
                                                  (QUEUED, cutoff))]

    def ended_oldest_first(self, before: float | None = None) -> list[str]:
        """The ids of the finished and failed jobs (ended before `before`, time.time(), if given),
        the oldest first: those the history may lose first (service/retention.py)."""
        return [row[0] for row in self.db.execute(
            "SELECT id FROM jobs WHERE state IN (?, ?) AND COALESCE(finished, created) < ? ORDER BY created",
            (DONE, FAILED, float("inf") if before is None else before))]

    def count(self, state: str) -> int:
        return self.db.execute("SELECT count(*) FROM jobs WHERE state = ?", (state,)).fetchone()[0]

    def start(self, job_id: str, worker: str | None = None) -> Job | None:
        """Claim a queued job for `worker` (default: this process); None if it is gone or taken."""
        now = time.time()
        claimed = self.db.execute(
            "UPDATE jobs SET state = ?, started = ?, attempts = attempts + 1, worker = ?, heartbeat = ?, "
            "stage = 'starting', progress = 0 WHERE id = ? AND state = ?",
            (RUNNING, now, worker or worker_id(), now, job_id, QUEUED),
        ).rowcount
        return self.get(job_id) if claimed else None

    def progress(self, job_id: str, stage: str, fraction: float) -> None:
        self.db.execute("UPDATE jobs SET stage = ?, progress = ?, heartbeat = ? WHERE id = ?",
                        (stage, max(0.0, min(1.0, fraction)), time.time(), job_id))

    def finish(self, job_id: str, seconds: float, worker: str | None = None) -> bool:
        """Mark the job done; with `worker`, only while that worker holds it running (a fleet
        worker's report: a job failed, or taken over, meanwhile is not marked done by it)."""
        return self._end(job_id, worker, "state = ?, finished = ?, stage = 'done', progress = 1, seconds = ?",
                         (DONE, time.time(), seconds))

    def fail(self, job_id: str, reason: str, worker: str | None = None) -> bool:
        """Mark the job failed with `reason`; `worker` as for `finish`."""
        return self._end(job_id, worker, "state = ?, finished = ?, error = ?", (FAILED, time.time(), reason))

    def _end(self, job_id: str, worker: str | None, assignments: str, values: tuple) -> bool:
        held = " AND state = ? AND worker = ?" if worker is not None else ""
        return bool(self.db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?{held}",
                                    (*values, job_id, *((RUNNING, worker) if worker is not None else ()))).rowcount)

    def forget(self, job_id: str) -> None:
        """Remove a job whatever its state, with its folder: one its maker could not complete
        (a live recording that could not be filed), which no worker holds."""
        self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def delete(self, job_id: str, ended_only: bool = False) -> bool:
        """Delete a job that is not running (with `ended_only`, one that finished or failed)."""
        if ended_only:
            deleted = self.db.execute("DELETE FROM jobs WHERE id = ? AND state IN (?, ?)", (job_id, DONE, FAILED)).rowcount
        else:
            deleted = self.db.execute("DELETE FROM jobs WHERE id = ? AND state != ?", (job_id, RUNNING)).rowcount
        if deleted:
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        return bool(deleted)

    def remove_orphan_folders(self, min_age: float = ORPHAN_MIN_AGE_S) -> list[str]:
        """Remove the job folders no row names (a kill between a job's folder and its row, or
        during a delete's rmtree, which follows its row's DELETE); returns their ids. A folder
        whose job is being made (by another process: the capture daemon's recordings) is left:
        `create` holds its lock until the row is in, and a folder younger than `min_age` may not
        have taken its lock yet."""
        removed = []
        for folder in sorted((self.folder / "jobs").iterdir()):
            if not JOB_ID.fullmatch(folder.name) or folder.is_symlink() or not folder.is_dir() or self.get(folder.name):
                continue
            try:
                if time.time() - folder.stat().st_mtime < min_age:
                    continue
                handle = open(folder / LOCK_NAME, "a")
            except OSError:  # removed meanwhile
                continue
            with handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # being made
                    continue
                if self.get(folder.name) is None:  # made meanwhile, its lock since released
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder.name)
        return removed

    def recover_interrupted(self, max_attempts: int, alive=None) -> list[str]:
        """Jobs left `running` by a worker of this host that no longer exists: re-queue them, or
        fail them once they have been started `max_attempts` times. Returns the re-queued ids.

        Called when a worker starts, so a job carrying this very worker id is orphaned too (its
        pid was reused after a reboot): nothing can be running here yet."""
        alive = alive or _process_alive
        host, me = socket.gethostname(), worker_id()
        requeued = []
        for job in [self._job(r) for r in self.db.execute("SELECT * FROM jobs WHERE state = ?", (RUNNING,))]:
            owner_host, _, pid = (job.worker or ":").rpartition(":")
            if owner_host.partition("/")[0] != host or (job.worker != me and pid.isdigit() and alive(int(pid))):
                continue
            if self._requeue_or_fail(job, max_attempts, "the worker stopped"):
                requeued.append(job.id)
        return requeued

    def requeue_stale(self, max_attempts: int, stale_seconds: float, alive=None) -> list[str]:
        """Jobs `running` with no sign of life (progress) for `stale_seconds`: their worker, on
        another board perhaps, is gone. Re-queued, or failed after `max_attempts` starts, as in
        `recover_interrupted`. Returns the re-queued ids (for the caller to submit again).

        A job whose worker is a live process of this machine (this boot) is left to it: a stage
        may run longer than a low `queue.stale_seconds` between two progress reports, and a second
        worker on the same job would write its results twice (a local worker that dies is
        `recover_interrupted`'s)."""
        alive = alive or _process_alive
        cutoff, boot = time.time() - stale_seconds, this_boot()
        stale = [self._job(r) for r in self.db.execute(
            "SELECT * FROM jobs WHERE state = ? AND coalesce(heartbeat, started) < ?", (RUNNING, cutoff))]
        return [job.id for job in stale if not _runs_here(job, boot, alive)
                and self._requeue_or_fail(job, max_attempts, "its worker stopped answering")]

    def _requeue_or_fail(self, job: Job, max_attempts: int, why: str) -> bool:
        if job.attempts >= max_attempts:
            self.fail(job.id, f"interrupted {job.attempts} times ({why} while scoring)")
            return False
        return bool(self.db.execute("UPDATE jobs SET state = ?, stage = 'queued again after an interruption', "
                                    "progress = 0 WHERE id = ? AND state = ?", (QUEUED, job.id, RUNNING)).rowcount)

    @staticmethod
    def _job(row: sqlite3.Row) -> Job:
        """The Job of a row, by the columns this version knows (a column added by a later version,
        of the same format, is left to it)."""
        present = set(row.keys())
        fields = {name: row[name] for name in _JOB_FIELDS if name in present}
        fields["options"] = json.loads(fields["options"])
        return Job(**fields)


def give_back(moves: list[tuple[Path | None, Path]]) -> None:
    """Move files back where they came from (source, where it was moved): what a job that could
    not be made had taken (a camera's recording is nobody else's copy). Best effort: it runs while
    another error is on its way."""
    for source, moved in reversed(moves):
        if source is not None and moved.exists() and not source.exists():
            try:
                durable_move(moved, source)
            except OSError as exc:
                log.error("could not move %s back to %s: %s", moved, source, exc)


def _runs_here(job: Job, boot: str, alive) -> bool:
    """Whether `job`'s worker is a live process of this machine, since its last boot (`this_boot`)."""
    owner, _, pid = (job.worker or ":").rpartition(":")
    return owner == boot and pid.isdigit() and alive(int(pid))


def _process_alive(pid: int) -> bool:
    """Whether process `pid` runs. A zombie does not: a worker that exited after its `foley
    serve` was killed stays one until something reaps it (in a container whose PID 1 does not
    reap, for ever), and its job must still be re-queued."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
