"""Library, event-swap, metrics, record and login endpoints through the test client."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf

from tests.test_service_api import LAN, TOKEN, make_client, upload
from tests.test_service_api import clip_bytes  # noqa: F401  (module fixture)


@pytest.fixture
def done_job(tmp_path, clip_bytes):  # noqa: F811
    client, _, folder = make_client(tmp_path)
    job_id = upload(client, clip_bytes, description="footsteps on a wooden floor").get_json()["id"]
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["state"] == "done"
    return client, folder, job_id


def test_library_search_list_play(tmp_path):
    client, _, _ = make_client(tmp_path)
    found = client.get("/api/v1/library?q=footsteps on gravel&limit=5").get_json()
    assert len(found["templates"]) == 5 and found["templates"][0]["category"] == "footsteps_gravel"
    assert found["templates"][0]["score"] >= found["templates"][-1]["score"]
    everything = client.get("/api/v1/library").get_json()["templates"]
    assert len(everything) >= 200 and "score" not in everything[0]
    audio = client.get(f"/api/v1/library/{everything[0]['id']}/audio")
    assert audio.status_code == 200 and audio.mimetype == "audio/ogg" and audio.data[:4] == b"OggS"
    kinds = {c["kind"] for c in client.get("/api/v1/categories").get_json()["categories"]}
    assert kinds == {"impact", "periodic", "sustained", "ambience"}
    assert client.get("/api/v1/library/nope/audio").status_code == 404
    assert client.get("/api/v1/library?limit=x").status_code == 400


def test_add_and_remove_a_user_sound(tmp_path):
    client, _, _ = make_client(tmp_path)
    t = np.arange(24000) / 48000
    buffer = io.BytesIO()
    sf.write(buffer, (np.sin(2 * np.pi * 700 * t) * np.exp(-t / 0.05)).astype(np.float32), 48000, format="FLAC")
    added = client.post("/api/v1/library", data={"file": (io.BytesIO(buffer.getvalue()), "../my ding.flac"),
                                                 "category": "glass_clink", "tags": "ding,glass"},
                        content_type="multipart/form-data")
    assert added.status_code == 201, added.get_json()
    template = added.get_json()
    assert template["origin"] == "user" and template["tags"] == ["ding", "glass"]
    duplicate = client.post("/api/v1/library", data={"file": (io.BytesIO(buffer.getvalue()), "again.flac"),
                                                     "category": "glass_clink"}, content_type="multipart/form-data")
    assert duplicate.status_code == 400 and "already in the library" in duplicate.get_json()["error"]
    not_audio = client.post("/api/v1/library", data={"file": (io.BytesIO(b"text" * 100), "x.wav"),
                                                     "category": "knock"}, content_type="multipart/form-data")
    assert not_audio.status_code == 400
    bundled = client.get("/api/v1/library?limit=1").get_json()["templates"][0]["id"]
    assert client.delete(f"/api/v1/library/{bundled}").status_code == 409
    assert client.delete(f"/api/v1/library/{template['id']}").status_code == 204
    assert client.delete(f"/api/v1/library/{template['id']}").status_code == 404


def test_a_sound_with_text_that_is_not_one_line_of_utf8_is_refused(tmp_path):
    """A description in Latin-1 was stored with its bytes replaced by U+FFFD, and one with a NUL
    or an escape sequence was stored as it came (the NUL then cut the MP4's credits short)."""
    client, _, _ = make_client(tmp_path)
    t = np.arange(24000) / 48000
    buffer = io.BytesIO()
    sf.write(buffer, (np.sin(2 * np.pi * 610 * t) * np.exp(-t / 0.05)).astype(np.float32), 48000, format="WAV")

    def add(description: bytes):
        parts = [(b'name="category"', b"knock"), (b'name="description"', description),
                 (b'name="file"; filename="d.wav"\r\nContent-Type: audio/wav', buffer.getvalue())]
        body = b"".join(b"--B0undary\r\nContent-Disposition: form-data; " + head + b"\r\n\r\n" + value + b"\r\n"
                        for head, value in parts) + b"--B0undary--\r\n"
        return client.post("/api/v1/library", data=body, content_type="multipart/form-data; boundary=B0undary")

    for description, message in ((b"caf\xe9 door", "not UTF-8"), (b"a\x00b", "control character"),
                                 (b"\x1b[2J gone", "control character"), ("x".encode() * 501, "at most 500")):
        answer = add(description)
        assert answer.status_code == 400 and message in answer.get_json()["error"], answer.get_json()
    assert not [t for t in client.get("/api/v1/library").get_json()["templates"] if t["origin"] == "user"]
    answer = add("café door 🚪".encode())
    assert answer.status_code == 201 and answer.get_json()["description"] == "café door 🚪"


def test_a_form_whose_file_name_is_not_utf8_is_told_as_such(tmp_path):
    """Werkzeug drops a whole multipart form whose part headers are not UTF-8: an old client's
    Latin-1 file name ("café.mp4") was answered "field 'video' is required"."""
    client, _, _ = make_client(tmp_path)
    for route, field in (("/api/v1/score", b"video"), ("/api/v1/library", b"file")):
        body = (b"--B0undary\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\nknock\r\n"
                b"--B0undary\r\nContent-Disposition: form-data; name=\"" + field + b"\"; filename=\"caf\xe9.wav\"\r\n"
                b"Content-Type: application/octet-stream\r\n\r\nDATA\r\n--B0undary--\r\n")
        answer = client.post(route, data=body, content_type="multipart/form-data; boundary=B0undary")
        assert answer.status_code == 400 and "not UTF-8" in answer.get_json()["error"], (route, answer.get_json())
    answer = client.post("/api/v1/score", data={"description": "no clip"}, content_type="multipart/form-data")
    assert answer.status_code == 400 and "field 'video' is required" in answer.get_json()["error"]


def test_a_clip_description_that_is_not_utf8_is_refused(tmp_path):
    """As a sound's words are: Werkzeug replaced the Latin-1 accent with U+FFFD, and the job kept it."""
    client, _, _ = make_client(tmp_path)
    body = (b"--B0undary\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\ncaf\xe9 door\r\n"
            b"--B0undary\r\nContent-Disposition: form-data; name=\"video\"; filename=\"c.mp4\"\r\n"
            b"Content-Type: video/mp4\r\n\r\nDATA\r\n--B0undary--\r\n")
    answer = client.post("/api/v1/score", data=body, content_type="multipart/form-data; boundary=B0undary")
    assert answer.status_code == 400 and "'description'" in answer.get_json()["error"], answer.get_json()
    assert "not UTF-8" in answer.get_json()["error"] and not client.get("/api/v1/jobs").get_json()["jobs"]


def test_swap_one_event_remixes_without_reanalysis(done_job):
    client, folder, job_id = done_job
    timeline = json.loads(client.get(f"/api/v1/jobs/{job_id}/timeline.json").data)
    assert timeline["events"], "the footsteps clip has placed sounds"
    before_wav = client.get(f"/api/v1/jobs/{job_id}/audio.wav").data
    offered = client.get(f"/api/v1/jobs/{job_id}/events/0/candidates").get_json()["candidates"]
    assert offered and all(c["id"] != timeline["events"][0]["template_id"] for c in offered)
    choice = offered[-1]  # another recording (the candidates never include the placed one)
    swapped = client.post(f"/api/v1/jobs/{job_id}/events/0", json={"template_id": choice["id"]})
    assert swapped.status_code == 200, swapped.get_json()
    event = swapped.get_json()["event"]
    assert event["template_id"] == choice["id"] and event["why"]["decision"] == "chosen by the user"
    assert event["time"] == timeline["events"][0]["time"]
    stored = json.loads(client.get(f"/api/v1/jobs/{job_id}/timeline.json").data)
    assert stored["events"][0]["template_id"] == choice["id"]
    assert stored["events"][1:] == timeline["events"][1:]
    after_wav = client.get(f"/api/v1/jobs/{job_id}/audio.wav").data
    assert after_wav != before_wav and len(after_wav) == len(before_wav)


@pytest.mark.parametrize("path,body,status", [
    ("/api/v1/jobs/{job}/events/0", {"template_id": "no-such-sound"}, 409),
    ("/api/v1/jobs/{job}/events/999", {"template_id": "x"}, 404),
    ("/api/v1/jobs/{job}/events/0", {"wrong": 1}, 400),
    ("/api/v1/jobs/0123456789abcdef/events/0", {"template_id": "x"}, 404),
])
def test_bad_swaps(done_job, path, body, status):
    client, _, job_id = done_job
    response = client.post(path.format(job=job_id), json=body)
    assert response.status_code == status and response.is_json
    malformed = client.post(path.format(job=job_id), data="{not json", content_type="application/json")
    assert malformed.status_code in (400, 404)


def test_metrics_record_and_login(done_job):
    client, _, _ = done_job
    text = client.get("/metrics").data.decode()
    assert 'foley_jobs{state="done"} 1' in text and "foley_queue_depth 0" in text
    assert "foley_job_seconds_count 1" in text and 'foley_cache_total{level="result",outcome="miss"}' in text
    assert client.get("/api/v1/record").get_json()["available"] is False
    assert client.post("/api/v1/record").status_code == 503
    assert client.post("/api/v1/record", json={"seconds": True}).status_code == 400  # checked before the daemon is asked
    assert client.get("/api/v1/token").get_json() == {"token": TOKEN}
    assert client.get("/api/v1/token", environ_base=LAN).status_code in (401, 403)
    assert client.post("/api/v1/login", json={"token": "bad"}, environ_base=LAN).status_code == 401
    surrogate = client.post("/api/v1/login", data='{"token": "\\ud800"}', content_type="application/json",
                            environ_base=LAN)
    assert surrogate.status_code == 401, "a token UTF-8 cannot encode is a wrong token (was a 500)"
    login = client.post("/api/v1/login", json={"token": TOKEN}, environ_base=LAN)
    assert login.status_code == 204
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/api/v1/jobs", environ_base=LAN).status_code == 200
