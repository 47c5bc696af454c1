"""The worker API of fleet mode (boards without the front end's disk), through the test client:
only the worker that claimed a job may fetch it or report on it; bad calls get clear errors."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from appliance.engine.mux import mux_mp4
from appliance.service.jobs import DONE, FAILED, RUNNING, JobStore
from appliance.service.worker_api import RESULT_MARGIN, most_result_bytes
from appliance.video.synthetic import render_scene

from tests.conftest import timeline_text
from tests.test_service_api import LAN, TOKEN, clip_bytes, make_client  # noqa: F401 (fixture)

ME = {"X-Foley-Worker": "board-b:1234", "Authorization": f"Bearer {TOKEN}"}
OTHER = {"X-Foley-Worker": "board-c:99", "Authorization": f"Bearer {TOKEN}"}


def queued_job(client, clip_bytes) -> str:
    response = client.post("/api/v1/score", data={"video": (io.BytesIO(clip_bytes), "a.mp4")},
                           headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=LAN)
    assert response.status_code == 202
    return response.get_json()["id"]


@pytest.fixture(scope="module")
def result_bytes(tmp_path_factory) -> dict[str, bytes]:
    """A worker's real WAV and MP4 for a short clip (the front end checks they are what they say)."""
    folder = tmp_path_factory.mktemp("result")
    clip = render_scene("stick", folder / "clip.mp4", width=160, height=120, fps=10, seconds=1, seed=3)
    track = np.zeros((48000, 2), np.float32)
    mux_mp4(clip.path, track, 48000, folder / "video.mp4")
    sf.write(folder / "audio.wav", track, 48000, subtype="PCM_16")
    return {name: (folder / name).read_bytes() for name in ("audio.wav", "video.mp4")}


def test_claim_fetch_progress_and_result(tmp_path, clip_bytes, result_bytes):
    client, _, _ = make_client(tmp_path, run=False)
    job_id = queued_job(client, clip_bytes)
    assert client.post(f"/api/v1/jobs/{job_id}/claim", environ_base=LAN).status_code == 401  # no token
    assert client.post(f"/api/v1/jobs/{job_id}/claim", headers={"Authorization": f"Bearer {TOKEN}"},
                       environ_base=LAN).get_json()["error"].startswith("header X-Foley-Worker")
    claimed = client.post(f"/api/v1/jobs/{job_id}/claim", headers=ME, environ_base=LAN)
    assert claimed.status_code == 200 and claimed.get_json()["has_analysis"] is False
    assert client.post(f"/api/v1/jobs/{job_id}/claim", headers=OTHER, environ_base=LAN).status_code == 409
    assert client.get(f"/api/v1/jobs/{job_id}/input", headers=ME, environ_base=LAN).data == clip_bytes
    assert client.get(f"/api/v1/jobs/{job_id}/input", headers=OTHER, environ_base=LAN).status_code == 409
    assert client.get(f"/api/v1/jobs/{job_id}/analysis.npz", headers=ME, environ_base=LAN).status_code == 404
    assert client.post(f"/api/v1/jobs/{job_id}/progress", json={"stage": "mix"}, headers=ME,
                       environ_base=LAN).status_code == 400
    for fraction in (True, "0.5"):  # `true` is no fraction, though Python counts it as the int 1
        assert client.post(f"/api/v1/jobs/{job_id}/progress", json={"stage": "mix", "fraction": fraction}, headers=ME,
                           environ_base=LAN).status_code == 400
    assert client.post(f"/api/v1/jobs/{job_id}/progress", json={"stage": "mix", "fraction": 0.5}, headers=ME,
                       environ_base=LAN).status_code == 204
    store = JobStore(tmp_path / "service")
    assert store.get(job_id).stage == "mix" and store.get(job_id).state == RUNNING

    files = {"audio.wav": (io.BytesIO(b"RIFF..."), "audio.wav"), "seconds": "1.5"}
    missing = client.post(f"/api/v1/jobs/{job_id}/result", data=files, headers=ME, environ_base=LAN)
    assert missing.status_code == 400 and "video.mp4" in missing.get_json()["error"]
    assert store.get(job_id).state == RUNNING and not (store.job_dir(job_id) / "audio.wav").exists()
    def results():
        return {"audio.wav": (io.BytesIO(result_bytes["audio.wav"]), "a"),
                "video.mp4": (io.BytesIO(result_bytes["video.mp4"]), "v"),
                "timeline.json": (io.BytesIO(timeline_text().encode()), "t"), "seconds": "1.5"}

    assert client.post(f"/api/v1/jobs/{job_id}/result", data=results(), headers=OTHER,
                       environ_base=LAN).status_code == 409
    assert client.post(f"/api/v1/jobs/{job_id}/result", data=results(), headers=ME, environ_base=LAN).status_code == 204
    assert store.get(job_id).state == DONE
    assert (store.job_dir(job_id) / "video.mp4").read_bytes() == result_bytes["video.mp4"]
    assert client.post(f"/api/v1/jobs/{job_id}/fail", json={"reason": "late"}, headers=ME,
                       environ_base=LAN).status_code == 409, "a finished job cannot be failed afterwards"


def test_fail_and_unknown_jobs(tmp_path, clip_bytes):
    client, _, _ = make_client(tmp_path, run=False)
    job_id = queued_job(client, clip_bytes)
    assert client.post("/api/v1/jobs/0123456789abcdef/claim", headers=ME, environ_base=LAN).status_code == 409
    assert client.get("/api/v1/jobs/../../etc/input", headers=ME, environ_base=LAN).status_code == 404
    client.post(f"/api/v1/jobs/{job_id}/claim", headers=ME, environ_base=LAN)
    assert client.post(f"/api/v1/jobs/{job_id}/fail", json={"reason": ""}, headers=ME,
                       environ_base=LAN).status_code == 400
    assert client.post(f"/api/v1/jobs/{job_id}/fail", json={"reason": "out of memory"}, headers=ME,
                       environ_base=LAN).status_code == 204
    job = JobStore(tmp_path / "service").get(job_id)
    assert job.state == FAILED and job.error == "out of memory"


def test_the_result_bound_holds_a_real_keep_audio_result_without_its_margin(tmp_path):
    """What a worker sends for a clip kept with its own sound: the MP4 (the clip's video copied,
    and an AAC track of its length), the Foley WAV and the mix WAV. The bound covers them with
    no help from its margin; it left out the AAC track, which outgrows a small clip (24 KB a
    second: a 50-minute clip of 0.1 MB had a result 53 MB over its bound)."""
    seconds = 20
    clip = render_scene("stick", tmp_path / "clip.mp4", width=160, height=120, fps=10, seconds=seconds, seed=3)
    track = np.random.default_rng(0).uniform(-0.3, 0.3, (seconds * 48000, 2)).astype(np.float32)
    mux_mp4(clip.path, track, 48000, tmp_path / "video.mp4")
    for name in ("audio.wav", "mix.wav"):
        sf.write(tmp_path / name, track, 48000, subtype="PCM_16")
    result = sum((tmp_path / name).stat().st_size for name in ("video.mp4", "audio.wav", "mix.wav"))
    assert result <= most_result_bytes(clip.path.stat().st_size, seconds) - RESULT_MARGIN


def test_a_result_or_report_the_service_cannot_read_is_refused(tmp_path, clip_bytes, result_bytes):
    """A token holder's worker could mark a job done with a timeline of junk (its edits, credits
    and page were then 500s) or a scoring time of nan, and a progress stage or failure reason
    holding a lone surrogate was a 500 from SQLite. Each is a 400 now, and the job stays running."""
    client, _, _ = make_client(tmp_path, run=False)
    job_id = queued_job(client, clip_bytes)
    assert client.post(f"/api/v1/jobs/{job_id}/claim", headers=ME, environ_base=LAN).status_code == 200

    def result(timeline: bytes, seconds: str, wav: bytes = result_bytes["audio.wav"],
               mp4: bytes = result_bytes["video.mp4"]):
        return client.post(f"/api/v1/jobs/{job_id}/result", headers=ME, environ_base=LAN, data={
            "audio.wav": (io.BytesIO(wav), "a"), "video.mp4": (io.BytesIO(mp4), "v"),
            "timeline.json": (io.BytesIO(timeline), "t"), "seconds": seconds})

    for timeline, seconds in ((b'{"bogus": 1}', "1.5"), (b"not json", "1.5"), (b'{"events": []}', "1.5"),
                              (timeline_text().encode(), "nan"), (timeline_text().encode(), "-1"),
                              (b"[" * 200_000, "1.5"),  # was a 500 (RecursionError)
                              (b'{"events": [' + b"{}," * 50_000 + b"{}]}", "1.5")):  # over its bound: 708 MB to parse
        refused = result(timeline, seconds)
        assert refused.status_code == 400, (timeline[:40], seconds, refused.get_json())
    # random bytes as the sound or the video were taken, and the job shown done with them
    noise = np.random.default_rng(1).bytes(100_000)
    for wav, mp4, says in ((noise, result_bytes["video.mp4"], "audio.wav is not a WAV"),
                           (result_bytes["audio.wav"], noise, "video.mp4 is not a video")):
        refused = result(timeline_text().encode(), "1.5", wav, mp4)
        assert refused.status_code == 400 and says in refused.get_json()["error"], refused.get_json()
    for path, body in (("progress", '{"stage": "\\ud800", "fraction": 0.5}'), ("fail", '{"reason": "\\ud800"}')):
        answer = client.post(f"/api/v1/jobs/{job_id}/{path}", data=body, content_type="application/json",
                             headers=ME, environ_base=LAN)
        assert answer.status_code == 400, (path, answer.get_json())
    store = JobStore(tmp_path / "service")
    assert store.get(job_id).state == RUNNING and not (store.job_dir(job_id) / "audio.wav").exists()
    assert result(timeline_text().encode(), "1.5").status_code == 204 and store.get(job_id).state == DONE


def test_a_job_failed_meanwhile_is_not_marked_done_by_a_late_result(tmp_path, clip_bytes, result_bytes):
    """A result whose checks took a while and a /fail sent meanwhile both got 204: the job ended
    done with the failure's reason. Once the job is no longer held running, a result is a 409
    and its files are not put in place."""
    client, _, _ = make_client(tmp_path, run=False)
    job_id = queued_job(client, clip_bytes)
    assert client.post(f"/api/v1/jobs/{job_id}/claim", headers=ME, environ_base=LAN).status_code == 200
    store = JobStore(tmp_path / "service")
    assert not store.finish(job_id, 1.0, worker="board-x:1"), "another worker's report changes nothing"
    assert client.post(f"/api/v1/jobs/{job_id}/fail", json={"reason": "gave up"}, headers=ME,
                       environ_base=LAN).status_code == 204
    late = client.post(f"/api/v1/jobs/{job_id}/result", headers=ME, environ_base=LAN, data={
        "audio.wav": (io.BytesIO(result_bytes["audio.wav"]), "a"), "video.mp4": (io.BytesIO(result_bytes["video.mp4"]), "v"),
        "timeline.json": (io.BytesIO(timeline_text().encode()), "t"), "seconds": "1.5"})
    assert late.status_code == 409
    assert store.get(job_id).state == FAILED and not (store.job_dir(job_id) / "audio.wav").exists()
