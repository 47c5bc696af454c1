"""Fleet mode when its parts fail (an audit's findings): a broker that cannot take a job, jobs a
restarted Redis lost, a worker with a wrong token, a result upload cut by the network. The real
HTTP servers here are small ones on loopback that answer as the front end would, the failures
made for real (a connection closed mid-request, a 401)."""
from __future__ import annotations

import json
import time

import pytest

from appliance.config import Config, QueueConfig
from appliance.errors import UsageError
from appliance.service import remote
from appliance.service.cli import StaleJobReaper
from appliance.service.jobs import JobStore
from appliance.service.remote import RemoteJobs
from tests.conftest import http_server, quiet_handler
from tests.test_service_api import clip_bytes, make_client, upload  # noqa: F401 (fixture)


def test_a_job_the_broker_cannot_take_is_refused_not_kept(tmp_path, clip_bytes, monkeypatch):
    """With Redis down, the upload got a 500 and left a queued job no worker would ever see
    (counted in the queue's room for ever)."""
    client, queue, _ = make_client(tmp_path, run=False)

    def broker_down(job_id):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(queue, "submit", broker_down)
    answer = upload(client, clip_bytes)
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert "queue cannot take jobs right now" in answer.get_json()["error"]
    assert client.get("/api/v1/jobs").get_json()["jobs"] == []


class Offered:
    """Stands in for the broker's queue object: what the reaper offers, and where the jobs are."""

    def __init__(self, folder):
        self.service_folder, self.submitted = folder, []

    def submit(self, job_id):
        self.submitted.append(job_id)


@pytest.mark.parametrize("backend", ["redis", "sqlite"])
def test_jobs_a_restarted_broker_lost_are_offered_again_once_a_period(tmp_path, backend):
    """Redis restarted without its data lost its messages: their jobs stayed queued, 0 attempts,
    for ever. With Redis, a job queued for queue.stale_seconds is offered again, once a period;
    SQLite's queue keeps its messages, so nothing is offered twice there."""
    store = JobStore(tmp_path / "service")
    upload_file = tmp_path / "clip"
    upload_file.write_bytes(b"clip")
    old = store.create("old.mp4", None, {}, upload_file).id
    store.db.execute("UPDATE jobs SET created = ? WHERE id = ?", (time.time() - 600, old))
    upload_file.write_bytes(b"clip")
    store.create("new.mp4", None, {}, upload_file)
    queue = Offered(tmp_path / "service")
    reaper = StaleJobReaper(Config(queue=QueueConfig(backend=backend, stale_seconds=300)), queue)
    reaper.sweep()
    reaper.sweep()
    assert queue.submitted == ([old] if backend == "redis" else [])


class FrontEnd(quiet_handler()):
    """Refuses a wrong token (401) on /api/v1/status; closes the first result upload's connection
    mid-body (the network dropped), takes the next."""

    results: list[int]

    def do_GET(self):
        status = 200 if self.headers.get("Authorization") == "Bearer right" else 401
        body = json.dumps({"ok": True} if status == 200 else {"error": "token"}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        if not self.results:
            self.results.append(0)
            self.rfile.read(min(length, 1000))
            self.connection.close()  # mid-upload
            return
        self.rfile.read(length)
        self.results.append(length)
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def front_end():
    handler = type("Handler", (FrontEnd,), {"results": []})
    with http_server(handler) as url:
        yield url, handler.results


def test_a_worker_with_a_wrong_token_refuses_to_start(tmp_path, front_end):
    """It took each job from the broker and lost it on the refused claim."""
    url, _ = front_end
    RemoteJobs(url, "right", tmp_path).check_token()
    with pytest.raises(UsageError, match="refuses this board's queue.frontend_token"):
        RemoteJobs(url, "wrong", tmp_path).check_token()


def test_a_result_cut_by_the_network_is_sent_again(tmp_path, front_end, monkeypatch):
    """A connection reset mid-upload failed a job that had been scored (and the reason named an
    incident logged on the worker board, not the front end)."""
    url, results = front_end
    monkeypatch.setattr(remote, "RETRY_DEFAULT_S", 0.2)
    jobs = RemoteJobs(url, "right", tmp_path)
    folder = jobs.job_dir("0123456789abcdef")
    folder.mkdir()
    (folder / "audio.wav").write_bytes(b"\0" * 200_000)
    jobs.finish("0123456789abcdef", 1.0)
    assert results[0] == 0 and results[1] > 200_000 and not folder.exists()


class RefusingFrontEnd(quiet_handler()):
    """Claims succeed; the upload cannot be fetched (404) and a result is refused for good (400)."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/claim"):
            body = json.dumps({"id": "0123456789abcdef", "state": "running", "created": 1.0, "started": 2.0,
                               "finished": None, "filename": "a.mp4", "description": None, "options": {},
                               "stage": None, "progress": 0.0, "error": None, "attempts": 1, "worker": "w",
                               "seconds": None, "duration": None, "has_analysis": False}).encode()
            self.send_response(200)
        else:
            body, _ = b'{"error": "no"}', self.send_response(400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_worker_board_keeps_no_files_of_a_job_it_gave_up(tmp_path, monkeypatch):
    """A result the front end refused for good, and an upload that could not be fetched after the
    claim, left the job's folder (its clip, its outputs) in remote-jobs/ for good: the front end's
    reaper gives the job to another worker, and nothing here would use them."""
    monkeypatch.setattr(remote, "DOWNLOAD_RETRY_S", 0.0)
    with http_server(RefusingFrontEnd) as url:
        jobs = RemoteJobs(url, "right", tmp_path)
        with pytest.raises(remote.FrontEndError, match="HTTP 404"):
            jobs.start("0123456789abcdef")
        assert not jobs.job_dir("0123456789abcdef").exists()
        folder = jobs.job_dir("0123456789abcdef")
        folder.mkdir()
        (folder / "audio.wav").write_bytes(b"\0" * 1000)
        with pytest.raises(remote.FrontEndError, match="HTTP 400"):
            jobs.finish("0123456789abcdef", 1.0)
        assert not folder.exists()


def test_a_worker_board_removes_what_a_killed_worker_left_at_its_start(tmp_path):
    import os

    old, young = tmp_path / "00000000000000aa", tmp_path / "00000000000000bb"
    for folder in (old, young):
        folder.mkdir()
        (folder / "input").write_bytes(b"clip")
    os.utime(old, (time.time() - remote.LEFTOVER_AGE_S - 60,) * 2)
    RemoteJobs("http://127.0.0.1:9", None, tmp_path)
    assert not old.exists() and young.exists(), "a young one may be another worker process's, at work"
