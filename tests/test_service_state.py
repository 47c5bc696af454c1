"""Broken state: damaged databases, a read-only or missing state folder, a full disk, uploads
left by killed requests, and the messages a failed job gets."""
from __future__ import annotations

import errno
import io
import logging
import os
import sqlite3
import subprocess

import pytest

from appliance.config import Config, ServiceConfig
from appliance.service import state
from appliance.service.jobs import JobStore
from tests.conftest import run_foley, start_server
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


def test_serve_starts_with_garbage_databases_and_says_so(tmp_path):
    service = tmp_path / "state" / "service"
    service.mkdir(parents=True)
    (service / "jobs.sqlite3").write_bytes(b"\x00garbage" * 500)
    (service / "queue.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\xff" * 3000)
    (tmp_path / "state" / "cache").mkdir()
    (tmp_path / "state" / "cache" / "cache.sqlite3").write_bytes(b"nonsense" * 100)
    (service / "uploads" / "tmpdead").mkdir(parents=True)
    (service / "uploads" / "tmpdead" / "big.flac").write_bytes(b"\0" * 100_000)
    (service / "uploads" / "upload-abc123").write_bytes(b"\0" * 100_000)
    served = start_server(tmp_path, args=("--no-worker",))
    try:
        from tests.conftest import get_json

        notices = get_json(f"{served.base}/api/v1/version")["notices"]
        assert len(notices) == 2 and all("moved aside" in n for n in notices), notices
        assert get_json(f"{served.base}/api/v1/jobs")["jobs"] == []
        metrics = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", f"{served.base}/metrics"],
                                 capture_output=True, text=True, timeout=30).stdout
        assert metrics.endswith("\n200")
    finally:
        assert served.stop() == 0
    assert len(list(service.glob("jobs.sqlite3.corrupt-*Z"))) == 1
    assert len(list(service.glob("queue.sqlite3.corrupt-*Z"))) == 1
    assert list((service / "uploads").iterdir()) == []
    log = served.log_path.read_text()
    assert "Traceback" not in log and "moved aside" in log and "cache database" in log, log[-3000:]


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
    assert body["free_mb"] == pytest.approx(10.5, abs=0.1) and body["needed_mb"] > 52 and "MB free" in body["error"]
    assert queue.submitted == [] and not (folder / "uploads").exists() or not any((folder / "uploads").iterdir())
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


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MB file system for the state folder (tmpfs, where root can mount)."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_small_disk_refuses_work_or_fails_jobs_with_a_sentence(tmp_path, small_disk):
    """The real service on a 6 MB disk, clips submitted until it is full: every answer is 202 or
    507 JSON (never a 500), every job ends done or failed saying the disk is full, the service
    keeps answering, and deleting jobs makes room again."""
    import json
    import time
    import urllib.error
    import urllib.request

    from appliance.video.synthetic import render_scene
    from tests.conftest import get_json

    clip = render_scene("stick", tmp_path / "clip.mp4", width=320, height=240, seconds=3, seed=8).path
    config = tmp_path / "config.yaml"
    config.write_text("service:\n  min_free_mb: 1\n")
    served = start_server(tmp_path, env={"FOLEY_STATE_DIR": str(small_disk / "state")}, args=("--config", str(config)))
    try:
        statuses, ids = [], []
        for seed in range(12):
            result = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "-F", f"video=@{clip}", "-F", f"seed={seed}",
                                     f"{served.base}/api/v1/score"], capture_output=True, text=True, timeout=60)
            body, status = result.stdout.rsplit("\n", 1)
            statuses.append(int(status))
            assert int(status) in (202, 507), (status, body)
            if status == "202":
                ids.append(json.loads(body)["id"])
            else:
                assert {"free_mb", "needed_mb"} <= set(json.loads(body))
            deadline = time.monotonic() + 120
            while ids and get_json(f"{served.base}/api/v1/jobs/{ids[-1]}")["state"] in ("queued", "running"):
                assert time.monotonic() < deadline
                time.sleep(0.2)
        print("small disk:", statuses, [get_json(f"{served.base}/api/v1/jobs/{i}")["state"] for i in ids])
        assert 507 in statuses, statuses
        for job_id in ids:
            job = get_json(f"{served.base}/api/v1/jobs/{job_id}")
            assert job["state"] == "done" or "disk is full" in (job["error"] or ""), job
        assert urllib.request.urlopen(f"{served.base}/metrics", timeout=10).status == 200
        for job_id in ids:
            urllib.request.urlopen(urllib.request.Request(f"{served.base}/api/v1/jobs/{job_id}", method="DELETE"),
                                   timeout=10)
        again = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-F", f"video=@{clip}",
                                f"{served.base}/api/v1/score"], capture_output=True, text=True, timeout=60)
        assert again.stdout == "202", again.stdout
    finally:
        assert served.stop() == 0
    log = served.log_path.read_text()
    assert "internal error" not in log


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
