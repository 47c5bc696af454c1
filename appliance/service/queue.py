"""The persistent job queue on huey: SQLite storage on one board, Redis for a fleet.

The queue carries only job ids; the jobs table (appliance.service.jobs) holds state and
progress. Workers run in their own process (`foley worker`, started by `foley serve`), so a
crash while scoring never takes the web page down, and huey's storage keeps waiting jobs across
restarts.
"""
from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from huey import RedisHuey, SqliteHuey

from appliance.config import Config
from appliance.engine.analysis_file import load_analysis
from appliance.engine.cache_recovery import cache_problem, open_cache, rebuild_cache
from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import CREDITS_NAME, MIX_NAME, MP4_NAME, TIMELINE_NAME, WAV_NAME, Engine
from appliance.engine.stages import overall
from appliance.errors import UsageError
from appliance.service.jobs import ANALYSIS_NAME, INPUT_NAME, JobStore, clear_leftovers
from appliance.service.remote import FrontEndError, RemoteJobs
from appliance.video import probe

log = logging.getLogger("foley.worker")
CLAIM_RETRY_S = 10.0
"""A fleet worker whose claim of a job failed (not "taken": the front end unreachable) puts the
job back on the broker after this long."""


def make_huey(config: Config, service_folder: Path):
    """The broker, with huey's result store off: a job's outcome is its row in the jobs table,
    nothing reads a task's return value, and with it on every task that raised kept its error
    and traceback in the broker (queue.sqlite3's kv table) for ever."""
    if config.queue.backend == "redis":
        return RedisHuey("foley", url=config.queue.redis_url, results=False)
    return SqliteHuey("foley", filename=str(service_folder / "queue.sqlite3"), results=False)


def failure_reason(exc: BaseException, incident: str) -> str:
    """What a user is told when a job fails for a reason that is not their clip's: a sentence,
    never an exception's bare name or text (it may hold paths, reprs or nothing at all)."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "the appliance's disk is full: delete old jobs or sounds and try again"
    if isinstance(exc, MemoryError):
        return "the appliance ran out of memory scoring this clip: try a shorter or smaller clip"
    if isinstance(exc, OSError):
        return (f"the appliance could not read or write its files ({(exc.strerror or 'input/output error').lower()}); "
                f"logged as incident {incident}")
    return f"scoring failed unexpectedly; logged as incident {incident} on the appliance"


class ScoringWorker:
    """Scores jobs: claims one, runs the Engine into its folder, records the outcome in the jobs
    table — or, on a board without the front end's disk (`remote`), does the same over the
    front end's worker API with this board's own cache. One Engine (models, library, cache
    connection) per worker thread and cache folder, kept for reuse. The queue's task closes over
    one of these; nothing is kept in module globals."""

    def __init__(self, cache_folder: Path, remote: RemoteJobs | None = None):
        self.cache_folder = Path(cache_folder)
        self.remote = remote
        self._local = threading.local()

    def engine(self, cache_folder: Path | None = None) -> Engine:
        folder = Path(cache_folder or self.cache_folder)
        engines = self._local.__dict__.setdefault("engines", {})
        if folder not in engines:
            engines[folder] = Engine(open_cache(folder))
            engines[folder].prepare()
        return engines[folder]

    def drop_engine(self, cache_folder: Path) -> None:
        engine = self._local.__dict__.setdefault("engines", {}).pop(Path(cache_folder), None)
        if engine is not None:
            try:
                engine.cache.close()
            except (AttributeError, sqlite3.Error):
                pass

    def run(self, job_id: str, service_folder: str | Path, cache_folder: str | Path | None = None) -> None:
        """Score one job into its folder; every outcome is recorded in the jobs table (through the
        front end's API on a worker board that does not share its disk)."""
        if self.remote is not None:
            self._run(self.remote, job_id, self.cache_folder)
            return
        store = JobStore(Path(service_folder))
        try:
            self._run(store, job_id, self.cache_folder if cache_folder is None else Path(cache_folder))
        finally:  # its connection closed now, not at a garbage collection some jobs later
            store.close()

    def _run(self, store: JobStore | RemoteJobs, job_id: str, cache: Path) -> None:
        job = store.start(job_id)
        if job is None:  # deleted while waiting, or already taken by another worker
            return
        folder = store.job_dir(job_id)
        if job.attempts > 1:  # scored before by a worker that died: its half-written files go
            clear_leftovers(folder)
        started = time.perf_counter()

        def progress(stage: str, fraction: float) -> None:
            store.progress(job_id, *overall(stage, fraction))

        def score() -> None:
            clip = folder / INPUT_NAME
            analysis = None
            if (folder / ANALYSIS_NAME).is_file():
                analysis = load_analysis(folder / ANALYSIS_NAME, probe(clip, max_seconds=job.options["max_seconds"]))
            options = ScoreOptions(**job.options)
            self.engine(cache).score_to_files(
                clip, options, wav=folder / WAV_NAME, mp4=folder / MP4_NAME,
                timeline=folder / TIMELINE_NAME, progress=progress, analysis=analysis,
                mix=folder / MIX_NAME if options.keep_audio else None, credits=folder / CREDITS_NAME,
                clip_name=job.filename)

        try:
            try:
                score()
            except sqlite3.DatabaseError as exc:
                problem = cache_problem(cache)
                if problem is None:
                    raise
                # The cache database went bad under this worker: rebuilt (it is disposable), job re-run.
                self.drop_engine(cache)
                rebuild_cache(cache, problem or str(exc))
                score()
        except UsageError as exc:
            store.fail(job_id, str(exc) or "the clip could not be scored")
            return
        except Exception as exc:  # a bug must fail this job with a reason, not kill the worker
            incident = uuid.uuid4().hex[:8]
            log.exception("job %s failed (incident %s)", job_id, incident)
            store.fail(job_id, failure_reason(exc, incident))
            return
        try:
            store.finish(job_id, time.perf_counter() - started)
        except FrontEndError as exc:  # scored, but the front end could not take it: not a failed job
            log.error("job %s: scored, but the result could not be delivered (%s); the front end queues it again "
                      "once queue.stale_seconds pass", job_id, exc)


class ScoringQueue:
    """The huey queue of job ids: `submit(job_id)` for the web app; in a worker process its task
    runs `worker.run` (the queued arguments stay (job id, service folder, cache folder), so jobs
    queued by an older version still run)."""

    def __init__(self, huey, service_folder: Path, cache_folder: Path, worker: ScoringWorker | None = None):
        self.huey = huey
        self.service_folder = service_folder
        self.cache_folder = cache_folder
        self.worker = worker or ScoringWorker(cache_folder)

        def score_job(job_id: str, service_folder: str, cache_folder: str) -> None:
            try:
                self.worker.run(job_id, service_folder, cache_folder)
            except FrontEndError as exc:  # the claim failed (the front end restarting, the network)
                # The broker's message is taken: without this the job stayed queued for ever.
                log.warning("job %s could not be claimed (%s); queued again in %.0f s", job_id, exc, CLAIM_RETRY_S)
                time.sleep(CLAIM_RETRY_S)
                self.submit(job_id)

        self.task = huey.task(name="score_job")(score_job)
        # Each worker thread loads its engine (models, library, zero-shot table) when it starts,
        # not when the first job arrives: a recording right after boot is then as quick as any.
        huey.on_startup(name="load_engine")(lambda: self.worker.engine())

    def submit(self, job_id: str) -> None:
        self.task(job_id, str(self.service_folder), str(self.cache_folder))

    def waiting(self) -> set[str]:
        """The ids of the jobs the broker holds a message for."""
        return {task.args[0] for task in self.huey.pending() if task.args}
