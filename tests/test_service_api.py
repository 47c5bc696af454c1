"""The HTTP API through Flask's test client, with the real engine and a real JobStore.

`InlineQueue` runs each job right away in the request thread with the real worker function, so
these tests cover API + jobs + engine without a worker process; the real server and worker are
covered in test_service_server.py."""
from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from appliance.config import Config, QueueConfig, ServiceConfig
from appliance.engine.analysis import analyse_clip
from appliance.engine.analysis_file import save_analysis
from appliance.service.app import create_app
from appliance.service.queue import ScoringWorker
from appliance.service.jobs import ANALYSIS_NAME, INPUT_NAME, JobStore
from appliance.video.synthetic import render_scene
from tests.conftest import trace_durability

TOKEN = "test-token-123"
LAN = {"REMOTE_ADDR": "192.168.1.50"}


class InlineQueue:
    def __init__(self, folder: Path, cache: Path, run: bool = True):
        self.folder, self.cache, self.run, self.submitted = folder, cache, run, []
        self.worker = ScoringWorker(cache)

    def submit(self, job_id: str) -> None:
        self.submitted.append(job_id)
        if self.run:
            self.worker.run(job_id, self.folder)


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory):
    clip = render_scene("steps", tmp_path_factory.mktemp("c") / "steps.mp4", width=320, height=240, seconds=4, seed=4)
    return clip.path.read_bytes()


def make_client(tmp_path, run=True, **config):
    folder = tmp_path / "service"
    folder.mkdir(exist_ok=True)
    queue = InlineQueue(folder, tmp_path / "cache", run)
    app = create_app(Config(**config), queue, folder, TOKEN)
    return app.test_client(), queue, folder


def upload(client, data: bytes, name="clip.mp4", **form):
    return client.post("/api/v1/score", data={"video": (io.BytesIO(data), name), **form},
                       content_type="multipart/form-data")


def test_health_and_version(tmp_path):
    client, _, _ = make_client(tmp_path)
    assert client.get("/healthz").get_json() == {"status": "ok"}
    version = client.get("/api/v1/version").get_json()
    assert {"text-encoder", "vision-encoder"} <= set(version["models"]) and version["library_version"]


def test_score_job_lifecycle(tmp_path, clip_bytes):
    client, _, folder = make_client(tmp_path)
    response = upload(client, clip_bytes, description="a stick knocks on wood")
    assert response.status_code == 202
    job_id = response.get_json()["id"]
    assert response.headers["Location"] == f"/api/v1/jobs/{job_id}"
    job = client.get(f"/api/v1/jobs/{job_id}").get_json()
    assert job["state"] == "done" and job["progress"] == 100.0 and job["description"] == "a stick knocks on wood"
    wav = client.get(f"/api/v1/jobs/{job_id}/audio.wav")
    assert wav.status_code == 200 and wav.mimetype == "audio/wav" and wav.data[:4] == b"RIFF"
    assert client.get(f"/api/v1/jobs/{job_id}/video.mp4").mimetype == "video/mp4"
    timeline = json.loads(client.get(f"/api/v1/jobs/{job_id}/timeline.json").data)
    assert timeline["request"]["description"] == "a stick knocks on wood"
    assert [j["id"] for j in client.get("/api/v1/jobs").get_json()["jobs"]] == [job_id]
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 404
    assert not (folder / "jobs" / job_id).exists()


def test_wait_returns_the_wav(tmp_path, clip_bytes):
    client, _, _ = make_client(tmp_path)
    response = client.post("/api/v1/score?wait=1", data={"video": (io.BytesIO(clip_bytes), "c.mp4")},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and response.mimetype == "audio/wav" and response.data[:4] == b"RIFF"


def test_an_upload_is_durable_before_its_job_is_committed(tmp_path, clip_bytes, monkeypatch):
    """After a power cut no queued job may name an upload whose data or name was lost. The clip
    and a recording's analysis were renamed into the job's folder with nothing fsynced: each is
    now fsynced before its rename and the job's folder after it, then the folder of job folders
    (the new folder's own name), all before the job's row is in the database."""
    client, _, folder = make_client(tmp_path, run=False)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(clip_bytes)
    save_analysis(analyse_clip(clip, 600, 2), tmp_path / "analysis.npz")
    analysis = (tmp_path / "analysis.npz").read_bytes()

    def jobs_committed() -> int:
        with sqlite3.connect(folder / "jobs.sqlite3") as db:
            return db.execute("SELECT count(*) FROM jobs").fetchone()[0]

    steps = trace_durability(monkeypatch, jobs_committed)
    response = client.post("/api/v1/score", data={"video": (io.BytesIO(clip_bytes), "clip.mp4"),
                                                  "analysis": (io.BytesIO(analysis), "analysis.npz")},
                           content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    for name, temporary in ((INPUT_NAME, "upload-"), (ANALYSIS_NAME, "analysis-")):
        renamed = steps.index(("replace", name, 0))
        step, written, committed = steps[renamed - 1]
        assert step == "fsync" and written.startswith(temporary) and committed == 0, steps
        assert steps[renamed + 1] == ("fsync", job_id, 0), steps
    assert steps.index(("fsync", "jobs", 0)) > steps.index(("replace", ANALYSIS_NAME, 0)), steps
    assert jobs_committed() == 1


@pytest.mark.parametrize("form,status,message", [
    ({}, 400, "field 'video' is required"),
    ({"video": (io.BytesIO(b""), "empty.mp4")}, 400, "upload is empty"),
    ({"video": (io.BytesIO(b"hello, not a video" * 100), "x.mp4")}, 415, "not a video"),
    ({"video": (io.BytesIO(b"x"), "x.mp4"), "seed": "abc"}, 400, "whole number"),
    ({"video": (io.BytesIO(b"x"), "x.mp4"), "description": "d" * 600}, 400, "too long"),
])
def test_bad_requests_are_json_4xx(tmp_path, form, status, message):
    client, queue, folder = make_client(tmp_path)
    response = client.post("/api/v1/score", data=form, content_type="multipart/form-data")
    assert response.status_code == status and response.is_json
    assert message in response.get_json()["error"]
    uploads = folder / "uploads"
    assert queue.submitted == [] and (not uploads.exists() or not any(uploads.iterdir()))


def test_huge_upload_is_413_json(tmp_path):
    client, _, _ = make_client(tmp_path, service=ServiceConfig(max_upload_mb=1))
    response = upload(client, b"\0" * (2 * 1024 * 1024))
    assert response.status_code == 413 and "limit is 1 MB" in response.get_json()["error"]


@pytest.mark.parametrize("name", ["../../etc/passwd", "a\x00b.mp4", "x" * 10000 + ".mp4", "..\\..\\win.mp4"])
def test_hostile_filenames_are_only_displayed(tmp_path, clip_bytes, name):
    client, _, folder = make_client(tmp_path, run=False)
    response = upload(client, clip_bytes, name=name)
    assert response.status_code == 202
    shown = response.get_json()["filename"]
    assert "/" not in shown and "\\" not in shown
    assert "\x00" not in shown and len(shown) <= 100
    job_dir = folder / "jobs" / response.get_json()["id"]
    assert sorted(p.name for p in job_dir.iterdir()) == [".lock", "input"]  # .lock: jobs.folder_lock's
    assert not Path("/etc/passwd.mp4").exists()


def test_a_description_is_kept_as_one_line_of_plain_text(tmp_path, clip_bytes):
    """A text box's newlines become spaces and a bidirectional override (U+202E, which made the
    history show the words reversed, as other words) is dropped, in the job and its timeline."""
    client, _, _ = make_client(tmp_path)
    response = upload(client, clip_bytes, description=" steps on\n\n gravel \u202eleveb\t")
    assert response.status_code == 202
    job = client.get(f"/api/v1/jobs/{response.get_json()['id']}").get_json()
    assert job["description"] == "steps on gravel leveb"
    timeline = json.loads(client.get(f"/api/v1/jobs/{job['id']}/timeline.json").data)
    assert timeline["request"]["description"] == "steps on gravel leveb"


def test_unknown_jobs_files_and_unfinished_results(tmp_path, clip_bytes):
    client, _, _ = make_client(tmp_path, run=False)
    assert client.get("/api/v1/jobs/0123456789abcdef").status_code == 404
    assert client.get("/api/v1/jobs/..%2F..%2Fetc").status_code == 404
    job_id = upload(client, clip_bytes).get_json()["id"]
    waiting = client.get(f"/api/v1/jobs/{job_id}/audio.wav")
    assert waiting.status_code == 409 and "queued" in waiting.get_json()["error"]
    assert client.get(f"/api/v1/jobs/{job_id}/secrets.txt").status_code == 404


def test_full_queue_is_503_with_retry_after(tmp_path, clip_bytes):
    client, _, _ = make_client(tmp_path, run=False, queue=QueueConfig(max_waiting=2))
    assert [upload(client, clip_bytes).status_code for _ in range(2)] == [202, 202]
    full = upload(client, clip_bytes)
    assert full.status_code == 503 and full.headers["Retry-After"] == "30"


def test_token_required_from_the_lan(tmp_path):
    client, _, _ = make_client(tmp_path)
    denied = client.get("/api/v1/jobs", environ_base=LAN)
    assert denied.status_code == 401 and "token" in denied.get_json()["error"]
    assert client.get("/api/v1/jobs", environ_base=LAN, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/v1/jobs", environ_base=LAN, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    client.set_cookie("foley_token", TOKEN)
    assert client.get("/api/v1/jobs", environ_base=LAN).status_code == 200
    assert client.get("/healthz", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 200


def test_cross_site_writes_are_refused_even_from_loopback(tmp_path, clip_bytes):
    client, queue, _ = make_client(tmp_path, run=False)
    hostile = client.post("/api/v1/score", data={"video": (io.BytesIO(clip_bytes), "c.mp4")},
                          content_type="multipart/form-data", headers={"Origin": "http://evil.example"})
    assert hostile.status_code == 403 and "cross-site" in hostile.get_json()["error"]
    assert queue.submitted == []
    same = client.post("/api/v1/score", data={"video": (io.BytesIO(clip_bytes), "c.mp4")},
                       content_type="multipart/form-data", headers={"Origin": "http://localhost"})
    assert same.status_code == 202
    assert client.get("/api/v1/jobs", headers={"Origin": "http://evil.example"}).status_code == 200


def test_the_history_comes_a_page_at_a_time(tmp_path, clip_bytes):
    """Newest first, `limit` at a time, the next page after the last job shown; every job is
    reachable however many there are (the page's "Show older clips")."""
    client, _, _ = make_client(tmp_path, run=False)
    made = [upload(client, clip_bytes, seed=str(seed)).get_json()["id"] for seed in range(5)]
    first = client.get("/api/v1/jobs?limit=2").get_json()
    assert [j["id"] for j in first["jobs"]] == made[::-1][:2] and first["more"] is True
    second = client.get(f"/api/v1/jobs?limit=2&before={first['jobs'][-1]['id']}").get_json()
    last = client.get(f"/api/v1/jobs?limit=2&before={second['jobs'][-1]['id']}").get_json()
    assert [j["id"] for j in second["jobs"] + last["jobs"]] == made[::-1][2:] and last["more"] is False
    assert client.get("/api/v1/jobs").get_json()["more"] is False
    for query, status in (("limit=0", 400), ("limit=201", 400), ("limit=many", 400), ("before=0123456789abcdef", 404)):
        response = client.get(f"/api/v1/jobs?{query}")
        assert response.status_code == status and response.is_json, query


def test_a_failed_jobs_reason_names_no_server_path(tmp_path, clip_bytes):
    """A clip that fails while it is scored (here its stored upload damaged before the worker got
    to it) fails its job with the engine's reason, which names the file by its path on the
    board: the API shows the reason without it, as every other error."""
    client, queue, folder = make_client(tmp_path, run=False)
    job_id = upload(client, clip_bytes).get_json()["id"]
    stored = JobStore(folder).job_dir(job_id) / INPUT_NAME
    stored.write_bytes(b"not a video any more")
    queue.worker.run(job_id, folder)
    job = client.get(f"/api/v1/jobs/{job_id}").get_json()
    assert job["state"] == "failed" and "not a readable video" in job["error"], job
    assert str(tmp_path) not in job["error"] and "/input" not in job["error"], job["error"]


def test_a_form_over_werkzeugs_own_limits_is_not_called_too_large(tmp_path, clip_bytes):
    """A small upload with 1,100 fields, or a 600 KB text field, hit Werkzeug's form limits and
    was answered as the gate's 413, "upload too large: the limit is 200 MB": the user was told
    the file was too big when it was not."""
    client, _, _ = make_client(tmp_path, run=False)
    fields = {f"f{i}": "x" for i in range(1100)}
    for form in (fields, {"description": "x" * 600_000}):
        answer = upload(client, clip_bytes, **form)
        assert answer.status_code == 400, answer.get_json()
        assert answer.get_json()["error"].startswith("the form has too many fields or too long a text field: at most "
                                                     "1000 parts, and 488 KB"), answer.get_json()
    assert client.get("/api/v1/jobs").get_json()["jobs"] == []
