"""`foley serve` (web page + API, with a scoring worker process) and `foley worker`."""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time

# Before anything imports onnxruntime (appliance.inference.sessions sets it too): no telemetry
# files under ~/.cache, no uploads; inherited by the worker and capture children.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from appliance.config import Config, load_and_apply
from appliance.doctor import bind_problem, service_port
from appliance.engine.cache_recovery import cache_problem, rebuild_cache
from appliance.errors import UsageError
from appliance.folder_hold import hold_folder
from appliance.paths import state_dir
from appliance.service.auth import load_or_create_token
from appliance.service.jobs import JobStore
from appliance.service.queue import ScoringQueue, ScoringWorker, make_huey
from appliance.service.remote import RemoteJobs
from appliance.service.state import ensure_writable, recover_databases, sweep_job_folders, sweep_uploads

log = logging.getLogger("foley.serve")
QUEUE_POLL_S = 0.1
SERVE_LOCK_NAME = "serve.lock"


def _queue(config: Config, worker: ScoringWorker | None = None) -> ScoringQueue:
    folder = state_dir() / "service"
    folder.mkdir(parents=True, exist_ok=True)
    return ScoringQueue(make_huey(config, folder), folder, state_dir() / "cache", worker)


def prepare_state() -> list[str]:
    """Before serving or working: the state folder writable (else one line saying what to do),
    damaged jobs/queue databases moved aside, an unreadable cache rebuilt, uploads left by
    killed requests and job folders no job names removed. Returns the notices for the log and the page."""
    ensure_writable(state_dir())
    folder = ensure_writable(state_dir() / "service", "service folder")
    notices = recover_databases(folder)
    problem = cache_problem(state_dir() / "cache")
    if problem:
        rebuild_cache(state_dir() / "cache", problem)
    sweep_uploads(folder)
    sweep_job_folders(folder)
    return notices


def exit_with_parent(parent_pid: int, interval: float = 0.5) -> threading.Thread:
    """A thread that ends this process once `parent_pid` is gone: a worker started by `foley
    serve` must not outlive it (after a kill -9 of serve it would go on as an orphan, and the
    restarted serve would start another). The job it was scoring is re-queued by the next
    worker (JobStore.recover_interrupted: its pid is dead), as after a kill -9 of the worker."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        logging.getLogger("foley.worker").warning("foley serve (pid %d) is gone; this worker stops", parent_pid)
        os._exit(0)

    thread = threading.Thread(target=watch, name="foley-parent-watch", daemon=True)
    thread.start()
    return thread


def worker_main(config_path: str | None, parent_pid: int | None = None) -> None:
    """Re-queue jobs a dead worker left running, then consume the queue until stopped (or, when
    started by `foley serve`, until serve is gone)."""
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    if parent_pid is not None:
        exit_with_parent(parent_pid)
    config = load_and_apply(config_path)
    ensure_writable(state_dir())
    recover_databases(ensure_writable(state_dir() / "service", "service folder"))
    remote = None
    if config.queue.frontend_url:  # a board without the front end's disk: jobs travel over HTTP
        remote = RemoteJobs(config.queue.frontend_url, config.queue.frontend_token,
                            state_dir() / "service" / "remote-jobs")
        remote.check_token()  # before a job is taken from the broker
    queue = _queue(config, ScoringWorker(state_dir() / "cache", remote))
    if remote is None:
        queue_again(queue, config.queue.max_attempts)
    # huey's idle polling backs off to 10 s by default: a recording's result would wait that
    # long. A poll every 0.1 s is a cheap indexed read and keeps the hand-over under 0.5 s.
    consumer = queue.huey.create_consumer(workers=config.queue.workers, worker_type="thread",
                                          initial_delay=0.05, max_delay=QUEUE_POLL_S)
    consumer.run()


def queue_again(queue: ScoringQueue, max_attempts: int) -> None:
    """At a worker's start: the jobs a dead worker left running queued again (or failed), and
    every queued job the broker holds no message for given one. The jobs table and the broker
    are two databases: a process killed between a job's row and its message, a worker killed
    between taking a message and claiming its job, or a damaged queue.sqlite3 moved aside left
    jobs queued that no worker would ever see, each counted against queue.max_waiting. A message
    sent twice (a request sending its own meanwhile) is harmless: one claim wins (JobStore.start),
    the other message finds the job taken and does nothing."""
    store, worker_log = JobStore(queue.service_folder), logging.getLogger("foley.worker")
    try:
        interrupted = set(store.recover_interrupted(max_attempts))
        queued = store.queued_before(time.time() + 1)  # before the broker is read: fewer sent twice
        try:
            waiting = queue.waiting()
        except Exception as exc:  # a Redis broker not up yet (boot): the consumer waits for it, and so do these
            worker_log.warning("the queue cannot be read (%s): the %d queued jobs are sent again", exc, len(queued))
            waiting = set()
        for job_id in queued:
            if job_id in waiting:
                continue
            if job_id in interrupted:
                worker_log.info("re-queued interrupted job %s", job_id)
            else:
                worker_log.warning("job %s was queued but the queue had lost it; queued again", job_id)
            queue.submit(job_id)
    finally:
        store.db.close()


class StaleJobReaper(threading.Thread):
    """Queues again the jobs whose worker stopped giving signs of life (`queue.stale_seconds`
    without progress): a worker board that lost power, or its network, mid-job. With a Redis
    broker (fleet mode), also the jobs queued that long and not taken: Redis restarted without
    its data loses its messages, and those jobs stayed queued for ever, filling the queue's room.
    Each such job is offered again at most once per `stale_seconds`; a message the broker still
    had is taken by one worker, and the other's claim is refused (409), so it is never scored twice."""

    def __init__(self, config: Config, queue: ScoringQueue):
        super().__init__(name="foley-stale-jobs", daemon=True)
        self.config, self.queue = config, queue
        self.stopping = threading.Event()
        self._offered: dict[str, float] = {}

    def run(self) -> None:
        interval = min(30.0, self.config.queue.stale_seconds / 3)
        while not self.stopping.wait(interval):
            self.sweep()

    def sweep(self) -> None:
        stale = self.config.queue.stale_seconds
        store = JobStore(self.queue.service_folder)
        try:
            for job_id in store.requeue_stale(self.config.queue.max_attempts, stale):
                log.warning("job %s: its worker stopped answering; queued again", job_id)
                self.queue.submit(job_id)
            if self.config.queue.backend == "redis":
                now = time.time()
                waiting = store.queued_before(now - stale)
                self._offered = {job_id: at for job_id, at in self._offered.items() if job_id in waiting}
                for job_id in waiting:
                    if now - self._offered.get(job_id, 0.0) >= stale:
                        log.warning("job %s: queued for %g s and not taken; offered to the workers again", job_id, stale)
                        self._offered[job_id] = now
                        self.queue.submit(job_id)
        finally:
            store.db.close()


class ChildSupervisor(threading.Thread):
    """Keeps one child process alive: the scoring worker (killed mid-job by OOM or kill -9, it
    is restarted and the new one re-queues the interrupted job, JobStore.recover_interrupted),
    and with `--capture` the camera daemon (systemd does this job on the board).

    A child that keeps failing at its start (a camera file that is not there, a socket it cannot
    make) is restarted after a wait that doubles each time, up to MAX_RESTART_WAIT_S, instead of
    every second with a traceback each time; one that ran STEADY_S starts the count again."""

    STEADY_S = 30.0
    MAX_RESTART_WAIT_S = 60.0

    def __init__(self, target, args: tuple, name: str):
        super().__init__(name=f"{name}-supervisor", daemon=True)
        self.target, self.args, self.child_name = target, args, name
        self.stopping = threading.Event()
        self.process = None
        self.starts = 0

    def run(self) -> None:
        context = multiprocessing.get_context("spawn")
        wait, started = 0.5, time.monotonic()
        while not self.stopping.is_set():
            if self.process is None or not self.process.is_alive():
                if self.process is not None:
                    wait = 1.0 if time.monotonic() - started >= self.STEADY_S else min(2 * wait, self.MAX_RESTART_WAIT_S)
                    log.warning("%s exited (code %s); restarting it in %g s", self.child_name,
                                self.process.exitcode, wait)
                    if self.stopping.wait(wait):
                        return
                self.process = context.Process(target=self.target, args=self.args, name=self.child_name)
                self.process.start()
                self.starts, started = self.starts + 1, time.monotonic()
            self.stopping.wait(1.0)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join(10)


def handle_serve(args) -> int:
    from appliance.service.app import create_app
    from appliance.service.server import serve

    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    config = load_and_apply(args.config)
    host = config.service.host if args.host is None else args.host  # an empty one fails the bind check
    port = service_port(args.port, config.service.port)
    problem = bind_problem(host, port)
    if problem is not None:
        raise UsageError(f"cannot listen on {host!r} port {port} ({problem.strerror}); "
                         "see service.host and service.port in the config, or --host and --port")
    # A second serve on the same state swept the first's uploads in progress as a crash's leftovers
    # and ran a second worker beside its own.
    hold_folder(ensure_writable(state_dir()), SERVE_LOCK_NAME, "foley serve", "systemctl stop foley-web")
    notices = prepare_state()
    queue = _queue(config)
    token = load_or_create_token(state_dir())
    supervisors = [] if args.no_worker else [ChildSupervisor(worker_main, (args.config, os.getpid()), "foley-worker")]
    if args.capture:
        from appliance.capture.cli import capture_main, service_url

        url = service_url(config, host, port)  # the address given on the command line, too
        supervisors.append(ChildSupervisor(capture_main, (args.config, url), "foley-capture"))
    StaleJobReaper(config, queue).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # systemd stop: unwind and stop the worker
    shown = [f"http://{socket.gethostname()}:{port}/", f"http://127.0.0.1:{port}/"] if host in ("0.0.0.0", "::") \
        else [f"http://{host}:{port}/"]
    print(f"foley: open {' or '.join(shown)}  (state in {state_dir()})", file=sys.stderr)
    print(f"foley: API token for other machines: {token}", file=sys.stderr, flush=True)
    try:
        for supervisor in supervisors:
            supervisor.start()
        app = create_app(config, queue, queue.service_folder, token, notices=notices)
        app.extensions["foley"].retention.start()  # old jobs make room, and expire, while it serves
        serve(app, config, host, port)
    finally:
        for supervisor in supervisors:
            supervisor.stop()
    return 0


def handle_worker(args) -> int:
    worker_main(args.config)
    return 0


def register(subparsers) -> None:
    serve = subparsers.add_parser("serve", help="run the web page and API (and a scoring worker)")
    serve.add_argument("--host", help="address to listen on (config: service.host)")
    serve.add_argument("--port", type=int, help="port (config: service.port)")
    serve.add_argument("--config", help="config file (default /etc/foley/config.yaml if present)")
    serve.add_argument("--no-worker", action="store_true", help="serve only; workers run elsewhere (fleet)")
    serve.add_argument("--capture", action="store_true",
                       help="also run the camera daemon (`foley capture`) as a child; the board runs it as its own unit")
    serve.set_defaults(handler=handle_serve)
    worker = subparsers.add_parser("worker", help="run a scoring worker for the queue")
    worker.add_argument("--config", help="config file (default /etc/foley/config.yaml if present)")
    worker.set_defaults(handler=handle_worker)
