"""A live recording filed in the service's history (live/history.py) survives a power cut."""
from __future__ import annotations

import sqlite3

import numpy as np
import soundfile

from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import CREDITS_NAME, MP4_NAME, TIMELINE_NAME, WAV_NAME
from appliance.live.history import add_to_history
from appliance.video.synthetic import render_scene
from tests.conftest import trace_durability


def test_what_a_recording_files_is_on_disk_before_its_job_is_done(tmp_path, monkeypatch):
    """The played sound, the credits and the MP4 were renamed into the job with their data never
    fsynced: after a power cut the job could be done with an empty sound. Each is now fsynced
    before its rename and the job's folder after it, all before the job's row says done."""
    service = tmp_path / "service"
    picture, mp4 = tmp_path / "picture.mp4", tmp_path / "recording.mp4"
    render_scene("steps", picture, width=160, height=120, fps=30, seconds=1.0, seed=3)
    mp4.write_bytes(picture.read_bytes())
    played, credits = tmp_path / "played.wav", tmp_path / "credits.txt"
    soundfile.write(played, np.zeros((4800, 2), np.float32), 48000)
    credits.write_text("a sound by someone, CC0\n")

    def done() -> int:
        with sqlite3.connect(service / "jobs.sqlite3") as db:
            return db.execute("SELECT count(*) FROM jobs WHERE state = 'done'").fetchone()[0]

    steps = trace_durability(monkeypatch, done)
    timeline = {"clip": {"duration": 1.0}, "events": []}
    job_id = add_to_history(mp4, picture, played, timeline, ScoreOptions(description="knocking", seed=7), 1.0, service,
                            credits=credits, move_mp4=True)
    for name, moved in ((WAV_NAME, "played.wav"), (CREDITS_NAME, "credits.txt"), (MP4_NAME, "recording.mp4")):
        renamed = steps.index(("replace", name, 0))
        assert steps[renamed - 1] == ("fsync", moved, 0), steps
        assert steps[renamed + 1] == ("fsync", job_id, 0), steps
    assert ("replace", TIMELINE_NAME, 0) in steps, steps
    assert done() == 1
    folder = service / "jobs" / job_id
    assert soundfile.info(folder / WAV_NAME).frames == 4800 and (folder / MP4_NAME).stat().st_size > 0


def test_a_recording_that_cannot_be_filed_gives_back_what_it_had_taken(tmp_path, monkeypatch):
    """The capture daemon files a scored recording by moving its clip into the job; a failure
    after that (the timeline on a full disk) removed the job with the clip in it, and the daemon's
    fallback to the outbox found nothing: the recording was lost while said to be kept. The job
    goes, and every file it took is back where it was."""
    import errno

    import pytest

    from appliance.live import history

    service = tmp_path / "service"
    picture, mp4 = tmp_path / "picture.mp4", tmp_path / "recording.mp4"
    render_scene("steps", picture, width=160, height=120, fps=30, seconds=1.0, seed=3)
    mp4.write_bytes(picture.read_bytes())
    played = tmp_path / "played.wav"
    soundfile.write(played, np.zeros((4800, 2), np.float32), 48000)
    before = {path: path.read_bytes() for path in (picture, mp4, played)}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(history, "write_json_atomic", full)
    with pytest.raises(OSError):
        add_to_history(mp4, picture, played, {"clip": {"duration": 1.0}, "events": []}, ScoreOptions(), 1.0, service,
                       move_mp4=True)
    assert {path: path.read_bytes() for path in before} == before
    assert not list((service / "jobs").iterdir())
    with sqlite3.connect(service / "jobs.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0


def test_a_recording_is_never_a_queued_job(tmp_path):
    """Its job was inserted queued, then claimed: a crash between left a queued job with no
    message, and a worker starting meanwhile (which queues such jobs again) could claim it and
    score the recording while this process filed it. The row is made running, claimed by this
    process, in its one INSERT."""
    from appliance.service.jobs import JobStore, worker_id

    service = tmp_path / "service"
    db = JobStore(service).db
    db.execute("CREATE TABLE inserted (state TEXT, worker TEXT)")
    db.execute("CREATE TRIGGER seen AFTER INSERT ON jobs BEGIN INSERT INTO inserted VALUES (NEW.state, NEW.worker); END")
    picture, mp4 = tmp_path / "picture.mp4", tmp_path / "recording.mp4"
    render_scene("steps", picture, width=160, height=120, fps=30, seconds=1.0, seed=3)
    mp4.write_bytes(picture.read_bytes())
    played = tmp_path / "played.wav"
    soundfile.write(played, np.zeros((4800, 2), np.float32), 48000)
    job_id = add_to_history(mp4, picture, played, {"clip": {"duration": 1.0}, "events": []}, ScoreOptions(), 1.0,
                            service)
    assert [tuple(row) for row in db.execute("SELECT * FROM inserted")] == [("running", worker_id())]
    job = JobStore(service).get(job_id)
    assert job.state == "done" and job.attempts == 1 and job.started is not None
