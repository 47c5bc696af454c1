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
