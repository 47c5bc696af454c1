"""The result's files and the plain-words data for the page, through the API with the real engine:
keep_audio and its level, credits.txt, mix.wav, the thumbnail, the job's clip length and time
taken, the scoring stages in words, and the board's health."""
from __future__ import annotations

import json

import av
import cv2
import numpy as np
import pytest

from appliance.engine.mux import mux_mp4
from appliance.engine.own_sound import mixed_note
from appliance.engine.stages import STAGES, overall
from appliance.errors import UsageError
from appliance.service.jobs import SCHEMA_VERSION, JobStore
from appliance.service.status_api import cpu_temperature
from appliance.video.synthetic import render_scene
from tests.conftest import free_port, run_foley
from tests.test_own_sound import speech_like
from tests.test_service_api import make_client, upload


@pytest.fixture(scope="module")
def voiced_bytes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voiced")
    clip = render_scene("stick", folder / "stick.mp4", width=320, height=240, fps=30, seconds=4, seed=3)
    mux_mp4(clip.path, speech_like(clip.duration), 48000, folder / "voiced.mp4")
    return (folder / "voiced.mp4").read_bytes()


def test_keep_audio_job_has_the_mix_the_stem_and_credits(tmp_path, voiced_bytes):
    client, _, folder = make_client(tmp_path)
    job = upload(client, voiced_bytes, name="Garden knock.mp4", keep_audio="yes", original_level_db="-4.5").get_json()
    assert job["options"]["keep_audio"] is True and job["options"]["original_level_db"] == -4.5
    assert job["duration"] == pytest.approx(4.0, abs=0.05)
    done = client.get(f"/api/v1/jobs/{job['id']}").get_json()
    assert done["state"] == "done" and done["stage"] == "done" and done["seconds"] > 0
    timeline = json.loads(client.get(f"/api/v1/jobs/{job['id']}/timeline.json").data)
    assert timeline["output"]["original_level_db"] == -4.5
    assert timeline["output"]["original_audio"] == mixed_note(-4.5)
    mix = client.get(f"/api/v1/jobs/{job['id']}/mix.wav")
    assert mix.status_code == 200 and mix.data[:4] == b"RIFF"
    credits = client.get(f"/api/v1/jobs/{job['id']}/credits.txt")
    assert credits.status_code == 200 and credits.mimetype == "text/plain"
    assert timeline["clip"]["file"] == "Garden knock.mp4", "named as uploaded, not as stored"
    assert credits.get_data(as_text=True).startswith("Sound credits for the Foley track of Garden knock.mp4\n")
    for event in timeline["events"]:
        assert event["template_id"] in credits.get_data(as_text=True)
    video = folder / "jobs" / job["id"] / "video.mp4"
    with av.open(str(video)) as container:
        assert container.metadata["comment"].strip() == credits.get_data(as_text=True).strip()


def test_replace_is_the_default_and_has_no_mix(tmp_path, voiced_bytes):
    client, _, folder = make_client(tmp_path)
    job = upload(client, voiced_bytes).get_json()
    assert job["options"]["keep_audio"] is False

    missing = client.get(f"/api/v1/jobs/{job['id']}/mix.wav")
    assert missing.status_code == 404 and "keep_audio" in missing.get_json()["error"]
    # A job scored before results had credits gets them written from its timeline when asked.
    (folder / "jobs" / job["id"] / "credits.txt").unlink()
    credits = client.get(f"/api/v1/jobs/{job['id']}/credits.txt")
    assert credits.status_code == 200 and "Sound credits" in credits.get_data(as_text=True)


@pytest.mark.parametrize("form, message", [
    ({"keep_audio": "maybe"}, "keep_audio"),
    ({"keep_audio": "1", "original_level_db": "loud"}, "number of dB"),
    ({"keep_audio": "1", "original_level_db": "-40"}, "from -30 to +6"),
])
def test_bad_keep_audio_fields_are_400(tmp_path, voiced_bytes, form, message):
    client, queue, _ = make_client(tmp_path, run=False)
    response = upload(client, voiced_bytes, **form)
    assert response.status_code == 400 and message in response.get_json()["error"]
    assert not queue.submitted


def test_thumbnail_is_a_small_jpeg_of_the_first_frame(tmp_path, voiced_bytes):
    client, _, folder = make_client(tmp_path, run=False)
    job = upload(client, voiced_bytes).get_json()
    response = client.get(f"/api/v1/jobs/{job['id']}/thumbnail.jpg")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    picture = cv2.imdecode(np.frombuffer(response.data, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (120, 160, 3)
    assert (folder / "jobs" / job["id"] / "thumbnail.jpg").read_bytes() == response.data, "kept for next time"
    assert client.get("/api/v1/jobs/0123456789abcdef/thumbnail.jpg").status_code == 404
    (folder / "jobs" / job["id"] / "thumbnail.jpg").unlink()
    (folder / "jobs" / job["id"] / "input").write_bytes(b"not a video")
    assert client.get(f"/api/v1/jobs/{job['id']}/thumbnail.jpg").status_code == 404


def test_status_in_figures_and_words(tmp_path, voiced_bytes):
    client, _, _ = make_client(tmp_path, run=False)
    upload(client, voiced_bytes)
    status = client.get("/api/v1/status").get_json()
    assert status["jobs_waiting"] == 1 and status["jobs_running"] == 0
    assert status["disk_free_bytes"] > 0 and status["old_jobs_removed"] == 0
    assert "1 job waiting" in status["summary"] and "free" in status["summary"] and "removed" not in status["summary"]
    assert status["cpu_temperature_c"] is None or 0 < status["cpu_temperature_c"] < 120


def test_cpu_temperature_reads_the_cpu_zone(tmp_path):
    for number, (kind, millidegrees) in enumerate([("acpitz", "30000"), ("cpu-thermal", "52123")]):
        zone = tmp_path / f"thermal_zone{number}"
        zone.mkdir()
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(millidegrees + "\n")
    assert cpu_temperature(tmp_path) == 52.1
    assert cpu_temperature(tmp_path / "none") is None


def test_stages_are_words_and_cover_the_job():
    assert [overall(s, 0)[0] for s in ("analyse", "choose", "mix", "write")] == \
        ["finding the actions", "choosing sounds", "mixing", "writing the video"]
    assert overall("analyse", 0.0)[1] == 0.0 and overall("write", 1.0)[1] == 1.0
    spans = [(low, high) for _, low, high in STAGES.values()]
    assert all(low <= high for low, high in spans)


def test_jobs_table_of_an_older_version_gains_the_duration_column(tmp_path):
    import sqlite3

    folder = tmp_path / "old"
    folder.mkdir()
    db = sqlite3.connect(folder / "jobs.sqlite3")
    db.execute("""CREATE TABLE jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, created REAL NOT NULL, started REAL,
        finished REAL, filename TEXT NOT NULL, description TEXT, options TEXT NOT NULL, stage TEXT,
        progress REAL NOT NULL, error TEXT, attempts INTEGER NOT NULL, worker TEXT, heartbeat REAL, seconds REAL)""")
    db.execute("INSERT INTO jobs VALUES ('0123456789abcdef', 'done', 1, 1, 2, 'a.mp4', NULL, '{}', 'done', 1, "
               "NULL, 1, NULL, NULL, 1.5)")
    db.commit()
    db.close()
    job = JobStore(folder).get("0123456789abcdef")
    assert job.duration is None and job.seconds == 1.5 and job.public()["duration"] is None
    with sqlite3.connect(folder / "jobs.sqlite3") as db:  # stamped with the format it now has
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_jobs_table_of_a_newer_version_is_refused_in_one_line_and_left_as_it_was(tmp_path):
    """After a downgrade, the older code read the newer table's rows wrong: every job request
    answered 500, and a column it did not know stopped `foley serve` at start with a traceback."""
    import sqlite3

    (tmp_path / "state").mkdir()
    JobStore(tmp_path / "state" / "service").create("a.mp4", None, {}, _an_upload(tmp_path))
    path = tmp_path / "state" / "service" / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE jobs ADD COLUMN priority INTEGER")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(UsageError, match=f"written by a newer version of the appliance \\(format {SCHEMA_VERSION + 1}"):
        JobStore(tmp_path / "state" / "service")
    result = run_foley("serve", "--no-worker", "--port", str(free_port()), timeout=60,
                       env={"FOLEY_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "newer version" in result.stderr
    with sqlite3.connect(path) as db:  # its job and format as they were
        assert db.execute("SELECT filename FROM jobs").fetchall() == [("a.mp4",)]
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert not list(path.parent.glob("jobs.sqlite3.corrupt-*"))  # refused, not taken for damage


def test_a_column_this_version_does_not_know_is_left_alone(tmp_path):
    import sqlite3

    store = JobStore(tmp_path)
    job = store.create("a.mp4", None, {}, _an_upload(tmp_path))
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as db:
        db.execute("ALTER TABLE jobs ADD COLUMN priority INTEGER")
    assert JobStore(tmp_path).get(job.id).filename == "a.mp4"


def _an_upload(folder):
    upload = folder / "upload.mp4"
    upload.write_bytes(b"not scored here")
    return upload
