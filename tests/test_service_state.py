"""Broken state: damaged databases, a read-only or missing state folder, a full disk, uploads
left by killed requests, and the messages a failed job gets. (The real service on damaged
databases and on a small disk: tests/faults/test_broken_state.py.)"""
from __future__ import annotations

import errno
import io
import logging
import os
import sqlite3
import subprocess
import threading
import time

import pytest

from appliance.config import ServiceConfig
from appliance.service import state
from appliance.service.jobs import JobStore
from tests.conftest import run_foley
from tests.test_service_api import make_client, upload
from tests.test_service_api import clip_bytes  # noqa: F401  (module fixture)
from tests.test_service_server_hardening import empty_folder


def _truncated_db(path):
    JobStore(path.parent).db.close()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE filler (x BLOB)")
    db.executemany("INSERT INTO filler VALUES (?)", [(os.urandom(4000),) for _ in range(50)])
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_jobs_database_is_moved_aside(tmp_path, damage):
    folder = tmp_path / "service"
    folder.mkdir()
    jobs_db = folder / "jobs.sqlite3"
    if damage == "garbage":
        jobs_db.write_bytes(b"this is not a database" * 100)
    else:
        _truncated_db(jobs_db)
    notices = state.recover_databases(folder)
    assert len(notices) == 1 and "jobs.sqlite3" in notices[0] and "moved aside" in notices[0]
    kept = list(folder.glob("jobs.sqlite3.corrupt-*Z"))
    assert len(kept) == 1 and not jobs_db.exists()
    JobStore(folder).db.close()  # a new one is created
    assert state.recover_databases(folder) == []


def test_read_only_or_missing_state_folder_is_one_line(tmp_path):
    with empty_folder(tmp_path / "ro", read_only=True) as ro:
        for target in (ro, ro / "missing" / "state"):
            result = run_foley("serve", "--port", "1", env={"FOLEY_STATE_DIR": str(target)}, timeout=60)
            lines = result.stderr.strip().splitlines()
            assert result.returncode == 2 and len(lines) == 1, result.stderr
            assert str(target) in lines[0] and ("FOLEY_STATE_DIR" in lines[0] or "writable" in lines[0])
            assert "Traceback" not in result.stderr


def test_unreadable_cache_is_rebuilt_once_and_jobs_and_metrics_work(tmp_path, clip_bytes, caplog):  # noqa: F811
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "cache.sqlite3").write_bytes(b"garbage, not a database" * 50)
    client, _, _ = make_client(tmp_path)
    with caplog.at_level(logging.WARNING, logger="foley.state"):
        assert client.get("/metrics").status_code == 200
        job = client.get(f"/api/v1/jobs/{upload(client, clip_bytes).get_json()['id']}").get_json()
        assert job["state"] == "done", job
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "rebuilt" in caplog.records[0].message
    # Damaged again later, while the worker holds it open: the job still succeeds.
    (cache / "cache.sqlite3").write_bytes(b"garbage again" * 100)
    job = client.get(f"/api/v1/jobs/{upload(client, clip_bytes, seed='3').get_json()['id']}").get_json()
    assert job["state"] == "done", job
    assert client.get("/metrics").status_code == 200


def test_disk_space_is_checked_before_accepting_work(tmp_path, clip_bytes, monkeypatch):  # noqa: F811
    client, queue, folder = make_client(tmp_path, run=False, service=ServiceConfig(min_free_mb=50))
    results = tmp_path / "cache" / "results" / "ab"
    results.mkdir(parents=True)
    (results / "audio.wav").write_bytes(b"\0" * 1000)
    monkeypatch.setattr(state, "free_bytes", lambda _folder: 10 * 1024 * 1024)
    refused = upload(client, clip_bytes)
    assert refused.status_code == 507 and refused.is_json
    body = refused.get_json()
    assert body["free_mb"] == pytest.approx(10.0, abs=0.1) and body["needed_mb"] > 50 and "MB free" in body["error"]
    assert queue.submitted == [] and (not (folder / "uploads").exists() or not any((folder / "uploads").iterdir()))
    assert not (results / "audio.wav").exists()  # cached results evicted first
    sound = client.post("/api/v1/library", data={"file": (io.BytesIO(b"x" * 1000), "a.flac"), "category": "knock"},
                        content_type="multipart/form-data")
    assert sound.status_code == 507 and "needed_mb" in sound.get_json()
    monkeypatch.setattr(state, "free_bytes", lambda _folder: 10**12)
    assert upload(client, clip_bytes).status_code == 202


def test_prepare_state_sweeps_uploads(tmp_path, monkeypatch):
    from appliance.service.cli import prepare_state

    uploads = tmp_path / "state" / "service" / "uploads"
    (uploads / "tmpx").mkdir(parents=True)
    (uploads / "tmpx" / "s.flac").write_bytes(b"\0" * 5000)
    (uploads / "upload-zz").write_bytes(b"\0" * 5000)
    assert prepare_state() == []
    assert list(uploads.iterdir()) == []


@pytest.mark.parametrize("exc,expected", [
    (OSError(errno.ENOSPC, "No space left on device"), "disk is full"),
    (AssertionError(), "scoring failed unexpectedly"),
    (OSError(errno.EIO, "Input/output error", "/var/lib/foley/x"), "could not read or write"),
    (MemoryError(), "out of memory"),
])
def test_failed_jobs_get_a_sentence_not_an_exception(tmp_path, clip_bytes, monkeypatch, exc, expected):  # noqa: F811
    client, queue, folder = make_client(tmp_path, run=False)
    job_id = upload(client, clip_bytes).get_json()["id"]

    class Broken:
        def score_to_files(self, *a, **k):
            raise exc

    monkeypatch.setattr(queue.worker, "engine", lambda _folder=None: Broken())
    queue.worker.run(job_id, folder)
    message = client.get(f"/api/v1/jobs/{job_id}").get_json()["error"]
    assert expected in message and "Error" not in message and "/var/lib" not in message and "internal error" not in message


def test_a_zombie_worker_counts_as_dead():
    """A worker that exited but was not reaped (a zombie) holds no job: recover_interrupted must
    re-queue what it was scoring."""
    import time

    from appliance.service.jobs import _process_alive

    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while "Z" not in open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        assert not _process_alive(child.pid)
        assert _process_alive(os.getpid())
    finally:
        child.wait()


def test_a_stale_job_of_a_live_local_worker_is_left_to_it(tmp_path):
    """queue.stale_seconds set low re-queued a job its live worker here was still scoring (a
    stage longer than the setting between two progress reports): two workers on one job. A dead
    worker's job is still queued again, and so is one whose worker id names a live pid of this
    machine's name but another boot: another board flashed from the same image (all named
    `foley`), or this one before a reboot (its pids are anyone's now)."""
    import socket
    import time

    from appliance.service.jobs import QUEUED, this_boot, worker_id

    store = JobStore(tmp_path / "service")

    def running_job(worker: str) -> str:
        upload_file = tmp_path / f"upload-{time.monotonic_ns()}"
        upload_file.write_bytes(b"clip")
        job = store.create("clip.mp4", None, {}, upload_file)
        store.start(job.id, worker)
        store.db.execute("UPDATE jobs SET heartbeat = ? WHERE id = ?", (time.time() - 60, job.id))
        return job.id

    assert worker_id() == f"{this_boot()}:{os.getpid()}" and this_boot().startswith(socket.gethostname() + "/")
    mine = running_job(worker_id())
    dead_child = subprocess.Popen(["true"])
    dead_child.wait()
    dead = running_job(f"{this_boot()}:{dead_child.pid}")
    other_boot = running_job(f"{socket.gethostname()}/00000000:{os.getpid()}")
    assert sorted(store.requeue_stale(max_attempts=3, stale_seconds=5)) == sorted([dead, other_boot])
    assert store.get(mine).state == "running"
    assert store.get(dead).state == store.get(other_boot).state == QUEUED


def _aged(folder, seconds=3600):
    then = time.time() - seconds
    os.utime(folder, (then, then))
    return folder


def test_job_folders_no_job_names_are_removed_at_start(tmp_path):
    """A kill between a job's folder and its row (the upload moved in first), or during a
    delete's rmtree (the row went first), left a folder of up to 200 MB no job names, which
    nothing ever removed. `foley serve`'s start removes them; other folders stay, and so does
    everything while a damaged job history is kept (their rows may be in it)."""
    from appliance.paths import state_dir
    from appliance.service.cli import prepare_state

    service = state_dir() / "service"
    store = JobStore(service)
    upload_file = tmp_path / "upload"
    upload_file.write_bytes(b"clip")
    kept = store.create("clip.mp4", None, {}, upload_file).id
    _aged(store.job_dir(kept))
    orphan = store.job_dir("0123456789abcdef")
    orphan.mkdir()
    (orphan / "input").write_bytes(b"\0" * 5000)
    _aged(orphan)
    other = service / "jobs" / "not-a-job"
    other.mkdir()
    _aged(other)
    damaged = service / "jobs.sqlite3.corrupt-20240101T000000Z"
    damaged.write_bytes(b"")
    prepare_state()
    assert orphan.is_dir()  # a damaged history is kept beside: left for a human
    damaged.unlink()
    prepare_state()
    assert sorted(p.name for p in (service / "jobs").iterdir()) == sorted([kept, "not-a-job"])
    assert (store.job_dir(kept) / "input").read_bytes() == b"clip"


def test_a_job_being_made_keeps_its_folder_and_one_that_fails_leaves_none(tmp_path):
    """The start's sweep runs while another process (the capture daemon filing a recording)
    makes a job: its folder, whose row is not committed yet, is not taken from it. A job whose
    row cannot be written (the database locked past its wait, a full disk) leaves no folder,
    and its upload is given back."""
    from appliance.service.state import sweep_job_folders

    service = tmp_path / "service"
    store, writer = JobStore(service), JobStore(service)
    upload_file = tmp_path / "upload"
    upload_file.write_bytes(b"clip")
    writer.db.execute("BEGIN IMMEDIATE")  # another process writing: the INSERT waits for it
    made = []
    maker = threading.Thread(target=lambda: made.append(store.create("clip.mp4", None, {}, upload_file)))
    maker.start()
    while upload_file.exists():
        time.sleep(0.01)  # until the upload is in its folder, its row on its way
    [folder] = (service / "jobs").iterdir()
    _aged(folder)
    assert sweep_job_folders(service) == 0
    writer.db.execute("COMMIT")
    maker.join(30)
    assert made and made[0].id == folder.name and (folder / "input").read_bytes() == b"clip"

    upload_file.write_bytes(b"clip")
    failing = JobStore(service)
    failing.db.execute("PRAGMA busy_timeout = 50")
    writer.db.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            failing.create("clip.mp4", None, {}, upload_file)
    finally:
        writer.db.execute("COMMIT")
    assert upload_file.read_bytes() == b"clip"
    assert [p.name for p in (service / "jobs").iterdir()] == [folder.name]
