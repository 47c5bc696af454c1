"""The huey queue on SQLite (service/queue.py) with its real storage: what it keeps."""
from __future__ import annotations

import sqlite3

from appliance.config import Config
from appliance.service.queue import ScoringQueue, make_huey


def drain(huey) -> None:
    """Run every message in the queue, as the consumer would, in this thread."""
    while (task := huey.dequeue()) is not None:
        huey.execute(task)


def test_a_task_that_raises_leaves_nothing_in_the_queue_database(tmp_path):
    """huey kept each failed task's error and traceback in queue.sqlite3 for ever (results on by
    default), and nothing reads them: the job's own row says why it failed."""
    folder = tmp_path / "service"
    folder.mkdir()
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_bytes(b"")
    queue = ScoringQueue(make_huey(Config(), folder), not_a_folder, tmp_path / "cache")
    queue.submit("0123456789abcdef")  # its JobStore cannot be opened: the task raises
    drain(queue.huey)
    with sqlite3.connect(folder / "queue.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM kv").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM task").fetchone()[0] == 0


class CountingEngine:
    """Stands in for the Engine (models, minutes of scoring): counts the clips it scores."""

    scored: list[str] = []

    def score_to_files(self, clip, options, **outputs):
        self.scored.append(clip.parent.name)


def start_worker(monkeypatch) -> list[str]:
    """`foley worker`'s start (cli.worker_main) for real on this test's state, its consumer
    running the queue's messages in this thread until none is left. Returns the job ids scored."""
    from huey.consumer import Consumer

    from appliance.service import cli
    from appliance.service.queue import ScoringWorker

    scored = []
    monkeypatch.setattr(CountingEngine, "scored", scored)
    monkeypatch.setattr(ScoringWorker, "engine", lambda self, folder=None: CountingEngine())
    monkeypatch.setattr(Consumer, "run", lambda consumer: drain(consumer.huey))
    cli.worker_main(None)
    return scored


def new_job(tmp_path, store) -> str:
    upload = tmp_path / "upload"
    upload.write_bytes(b"clip")
    return store.create("clip.mp4", None, {}, upload).id


def test_queued_jobs_whose_message_was_lost_are_scored_when_the_worker_starts(tmp_path, monkeypatch):
    """A queued job's message lost (the process killed between the job's row and its message;
    a damaged queue.sqlite3 moved aside with its messages) left the job queued for ever, counted
    against queue.max_waiting until every upload got 503. The worker's start queues them again."""
    from appliance.paths import state_dir
    from appliance.service.cli import _queue
    from appliance.service.jobs import JobStore

    store = JobStore(state_dir() / "service")
    never_sent = new_job(tmp_path, store)  # the row committed, the process killed before submit
    in_damaged_queue = new_job(tmp_path, store)
    _queue(Config()).submit(in_damaged_queue)
    (state_dir() / "service" / "queue.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\xff" * 3000)
    assert sorted(start_worker(monkeypatch)) == sorted([never_sent, in_damaged_queue])
    assert store.get(never_sent).state == store.get(in_damaged_queue).state == "done"


def test_a_job_offered_twice_is_scored_once(tmp_path, monkeypatch):
    """Queued jobs offered again at the worker's start may still have their message (a request
    between its row and its message while the worker starts): one claim wins, the other message
    does nothing, nor does one for a job already done. A message still there adds none."""
    from appliance.paths import state_dir
    from appliance.service.cli import _queue
    from appliance.service.jobs import JobStore

    store = JobStore(state_dir() / "service")
    queue = _queue(Config())
    waiting, twice, done = new_job(tmp_path, store), new_job(tmp_path, store), new_job(tmp_path, store)
    for job_id in (waiting, twice, twice, done):
        queue.submit(job_id)
    store.start(done)
    store.finish(done, 1.0)
    assert sorted(start_worker(monkeypatch)) == sorted([waiting, twice])
    assert store.get(waiting).attempts == store.get(twice).attempts == 1
    assert store.get(done).state == "done" and store.get(done).attempts == 1


def test_what_a_killed_worker_left_in_a_job_is_cleared_before_it_is_scored_again(tmp_path, monkeypatch):
    """A worker killed mid-job left its staged outputs and the clip's own sound decoded for the
    mix (230 MB for a 10-minute clip) in the job's folder until the job was deleted; the job
    scored again added another set. They are cleared when it is scored again; the job's upload
    and lock stay."""
    from appliance.paths import state_dir
    from appliance.service.jobs import LOCK_NAME, JobStore, worker_id

    store = JobStore(state_dir() / "service")
    job_id = new_job(tmp_path, store)
    store.start(job_id, worker_id().rpartition(":")[0] + ":999999999")  # a pid no process has
    folder = store.job_dir(job_id)
    (folder / ".audio.wav.k3j2.staged.wav").write_bytes(b"\0" * 1000)
    (folder / ".own-sound-x1").mkdir()
    (folder / ".own-sound-x1" / "own.wav").write_bytes(b"\0" * 1000)
    (folder / ".thumbnail.jpg.x2.tmp").write_bytes(b"jpeg")  # the web process's, being written
    assert start_worker(monkeypatch) == [job_id]
    assert store.get(job_id).attempts == 2
    assert sorted(p.name for p in folder.iterdir()) == sorted(["input", LOCK_NAME, ".thumbnail.jpg.x2.tmp"])


def test_a_broker_that_cannot_be_read_at_the_start_does_not_stop_the_worker(tmp_path, monkeypatch):
    """Reading the broker's messages at the worker's start (a Redis not up yet at boot) raised
    out of the worker's start: the worker died and was restarted up to a minute later. The
    queued jobs are then sent again, the duplicates harmless."""
    from appliance.paths import state_dir
    from appliance.service.jobs import JobStore
    from appliance.service.queue import ScoringQueue

    def unreadable(self):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(ScoringQueue, "waiting", unreadable)
    store = JobStore(state_dir() / "service")
    job_id = new_job(tmp_path, store)
    assert start_worker(monkeypatch) == [job_id]
