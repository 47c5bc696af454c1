"""Hostile pages and clients through the test client: DNS rebinding (Host allow-list), wrong
statuses, hostile names and bodies, races. The real server's share is in test_service_server.py."""
from __future__ import annotations

import io
import socket

import pytest

from appliance.config import ServiceConfig
from appliance.service.hosts import HostAllowList, host_name
from tests.test_service_api import LAN, TOKEN, make_client, upload
from tests.test_service_api import clip_bytes  # noqa: F401  (module fixture)
from tests.test_service_endpoints import done_job  # noqa: F401  (fixture)


def test_rebinding_host_is_refused_even_from_loopback(tmp_path):
    client, _, _ = make_client(tmp_path)
    refused = client.get("/api/v1/token", headers={"Host": "rebind.example:8080"})
    assert refused.status_code == 421 and refused.is_json and "host name" in refused.get_json()["error"]
    assert "token" not in refused.get_json()
    for path in ("/api/v1/jobs", "/healthz", "/"):
        assert client.get(path, headers={"Host": "rebind.example"}).status_code == 421
    with_token = client.get("/api/v1/jobs", environ_base=LAN,
                            headers={"Host": "evil.example", "Authorization": f"Bearer {TOKEN}"})
    assert with_token.status_code == 421


@pytest.mark.parametrize("host", ["localhost:8080", "127.0.0.1:8080", "[::1]:8080", "localhost.", "LOCALHOST",
                                  f"{socket.gethostname()}:80", f"{socket.gethostname()}.local", "127.0.0.2"])
def test_own_names_are_served(tmp_path, host):
    client, _, _ = make_client(tmp_path)
    response = client.get("/api/v1/token", headers={"Host": host})
    assert response.status_code == 200 and response.get_json()["token"] == TOKEN


def test_configured_names_and_own_addresses(tmp_path):
    client, _, _ = make_client(tmp_path, service=ServiceConfig(allowed_hosts=("foley.home.arpa",)))
    assert client.get("/healthz", headers={"Host": "foley.home.arpa:8080"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "other.home.arpa"}).status_code == 421
    allow = HostAllowList()
    own = allow._addresses_now(True)
    assert own and all(allow.allows(a if ":" not in a else f"[{a}]:80") for a in own)
    assert not allow.allows("203.0.113.7") and not allow.allows("127.0.0.1.nip.io")
    assert host_name("[fe80::1%eth0]:80") == "fe80::1%eth0" and host_name("a.b:1") == "a.b"


def test_bearer_scheme_is_case_insensitive(tmp_path):
    client, _, _ = make_client(tmp_path)
    for scheme in ("bearer", "BEARER", "Bearer"):
        assert client.get("/api/v1/jobs", environ_base=LAN,
                          headers={"Authorization": f"{scheme} {TOKEN}"}).status_code == 200
    assert client.get("/api/v1/jobs", environ_base=LAN, headers={"Authorization": "Basic " + TOKEN}).status_code == 401


def _flac(seconds: float = 0.5, freq: float = 700.0) -> bytes:
    import numpy as np
    import soundfile as sf

    t = np.arange(int(48000 * seconds)) / 48000
    buffer = io.BytesIO()
    sf.write(buffer, (np.sin(2 * np.pi * freq * t) * np.exp(-t / 0.05)).astype(np.float32), 48000, format="FLAC")
    return buffer.getvalue()


def _add_sound(client, data: bytes, name: str):
    return client.post("/api/v1/library", data={"file": (io.BytesIO(data), name), "category": "glass_clink"},
                       content_type="multipart/form-data")


def test_concurrent_deletes_of_a_user_sound_one_204_rest_404(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    client, _, _ = make_client(tmp_path)
    added = _add_sound(client, _flac(), "ding.flac")
    assert added.status_code == 201, added.get_json()
    template_id = added.get_json()["id"]
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: client.delete(f"/api/v1/library/{template_id}"), range(6)))
    assert sorted(r.status_code for r in responses) == [204, 404, 404, 404, 404, 404]
    assert all(r.is_json for r in responses if r.status_code == 404)


def test_concurrent_deletes_of_a_job_one_204_rest_404(tmp_path, clip_bytes):
    from concurrent.futures import ThreadPoolExecutor

    client, _, _ = make_client(tmp_path, run=False)
    job_id = upload(client, clip_bytes).get_json()["id"]
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: client.delete(f"/api/v1/jobs/{job_id}"), range(6)))
    assert sorted(r.status_code for r in responses) == [204, 404, 404, 404, 404, 404]


@pytest.mark.parametrize("name", ["..", ".", "../..", "a/../..", "...", "\x00", "", ".hidden.flac", "/"])
def test_hostile_library_upload_names(tmp_path, name):
    client, _, folder = make_client(tmp_path)
    response = _add_sound(client, _flac(freq=500 + len(name) * 37), name)
    assert response.status_code == 201, response.get_json()
    assert "/" not in response.get_json()["id"] and ".." not in response.get_json()["id"]
    assert sorted(p.name for p in (folder / "uploads").iterdir()) == []


def test_messages_hold_no_object_reprs_temp_names_or_paths(tmp_path):
    client, _, _ = make_client(tmp_path)
    response = _add_sound(client, b"this is not audio" * 50, "x.flac")
    assert response.status_code == 400
    message = response.get_json()["error"]
    assert "object at 0x" not in message and str(tmp_path) not in message and "/tmp" not in message
    assert "tmp" not in message.lower(), message


def test_a_20000_square_video_is_refused_plainly_at_submit(tmp_path):
    from tests.test_video_bad_input import huge_mjpeg_mkv

    client, queue, folder = make_client(tmp_path, run=False)
    response = upload(client, huge_mjpeg_mkv(tmp_path / "huge.mkv").read_bytes(), name="huge.mkv")
    assert response.status_code == 415 and response.is_json, response.data
    message = response.get_json()["error"]
    assert message.startswith("the upload: frame size 20000×20000 is too large (at most 8192 px a side)"), message
    assert "busy" not in message and str(tmp_path) not in message and queue.submitted == []
    assert list((folder / "uploads").iterdir()) == []


def test_public_message_scrubs():
    from appliance.service.shared import public_message

    text = public_message("Error opening <_io.BytesIO object at 0x7f3a2b1c>: /tmp/upload-abc123xy: bad; tmpq1w2e3r4t")
    assert "0x" not in text and "/tmp" not in text and "abc123" not in text and "q1w2e3" not in text
    assert public_message("") == "the request could not be served"


@pytest.mark.parametrize("body", ["[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000,
                                  '{"template_id": "' + "x" * (2 * 1024 * 1024) + '"}'])
def test_nested_or_huge_json_is_400(tmp_path, body):
    client, _, _ = make_client(tmp_path)
    for path in ("/api/v1/login", "/api/v1/jobs/0123456789abcdef/events/0", "/api/v1/record"):
        response = client.post(path, data=body, content_type="application/json")
        assert response.status_code in (400, 401, 404), (path, response.status_code)
        assert response.is_json


def test_json_depth_counts_brackets_outside_strings():
    from appliance.service.app import json_depth

    assert json_depth('{"a": [1, {"b": "[[[[\\"[["}]}') == 3 and json_depth("1") == 0


@pytest.mark.parametrize("seed", ["-5", str(2**32), str(10**30)])
def test_negative_or_huge_seed_is_400_at_submit(tmp_path, clip_bytes, seed):
    client, queue, _ = make_client(tmp_path, run=False)
    response = upload(client, clip_bytes, seed=seed)
    assert response.status_code == 400 and "seed" in response.get_json()["error"] and queue.submitted == []
    assert upload(client, clip_bytes, seed=str(2**32 - 1)).status_code == 202


def test_405_carries_allow(tmp_path):
    client, _, _ = make_client(tmp_path)
    response = client.delete("/api/v1/jobs")
    assert response.status_code == 405 and response.is_json
    assert set(response.headers["Allow"].split(", ")) >= {"GET"}
    put = client.put("/api/v1/score")
    assert put.status_code == 405 and "POST" in put.headers["Allow"]


def test_unexpected_errors_are_plain_json(tmp_path, monkeypatch):
    from appliance.service import jobs as jobs_module

    client, _, _ = make_client(tmp_path)
    monkeypatch.setattr(jobs_module.JobStore, "list", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space", str(tmp_path))))
    response = client.get("/api/v1/jobs")
    assert response.status_code == 500 and response.is_json
    message = response.get_json()["error"]
    assert "unexpected problem" in message and str(tmp_path) not in message and "OSError" not in message


def test_delete_while_waiting_gives_the_waiter_410(tmp_path, clip_bytes):
    import threading
    import time

    client, queue, _ = make_client(tmp_path, run=False)
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(client.post(
        "/api/v1/score?wait=1", data={"video": (io.BytesIO(clip_bytes), "c.mp4")}, content_type="multipart/form-data")))
    waiter.start()
    deadline = time.monotonic() + 30
    while not queue.submitted:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert client.delete(f"/api/v1/jobs/{queue.submitted[0]}").status_code == 204
    waiter.join(10)
    assert answers and answers[0].status_code == 410 and answers[0].is_json
    assert "deleted" in answers[0].get_json()["error"]


def test_swap_racing_delete_is_404_or_waits_never_a_path(done_job, monkeypatch, tmp_path):
    import threading
    import time

    from appliance.service import events_api

    client, folder, job_id = done_job
    choice = client.get(f"/api/v1/jobs/{job_id}/events/0/candidates").get_json()["candidates"][0]["id"]
    real_remix = events_api.remix_files

    def slow_remix(*args, **kwargs):
        time.sleep(0.5)
        return real_remix(*args, **kwargs)

    monkeypatch.setattr(events_api, "remix_files", slow_remix)
    swapped = []
    swapper = threading.Thread(target=lambda: swapped.append(
        client.post(f"/api/v1/jobs/{job_id}/events/0", json={"template_id": choice})))
    swapper.start()
    time.sleep(0.2)
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204  # waited for the re-mix
    swapper.join(30)
    assert swapped[0].status_code == 200, swapped[0].get_json()
    gone = client.post(f"/api/v1/jobs/{job_id}/events/0", json={"template_id": choice})
    assert gone.status_code == 404 and str(tmp_path) not in gone.get_json()["error"]


def test_swap_after_a_delete_won_the_lock_is_404(done_job, monkeypatch, tmp_path):
    from appliance.service import events_api
    from appliance.service.jobs import JobStore

    client, folder, job_id = done_job
    choice = client.get(f"/api/v1/jobs/{job_id}/events/0/candidates").get_json()["candidates"][0]["id"]
    real_lock = events_api.job_lock

    def delete_first(job):  # the delete lands between the swap's first check and its lock
        JobStore(folder).delete(job)
        return real_lock(job)

    monkeypatch.setattr(events_api, "job_lock", delete_first)
    response = client.post(f"/api/v1/jobs/{job_id}/events/0", json={"template_id": choice})
    assert response.status_code == 404 and response.is_json
    assert str(tmp_path) not in response.get_json()["error"] and "/" not in response.get_json()["error"]


def _vm(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def test_audio_bomb_is_refused_from_its_header_without_growing_the_process(tmp_path):
    """A 270 KB FLAC of 30 minutes of silence (86.4 M samples, 345 MB as float32) added to the
    library: refused from its header, and the process's peak RSS grows < 50 MB (it grew 650 MB)."""
    import numpy as np
    import soundfile as sf

    bomb = tmp_path / "bomb.flac"
    with sf.SoundFile(str(bomb), "w", samplerate=48000, channels=1, format="FLAC", subtype="PCM_16") as out:
        silence = np.zeros(48000 * 10, dtype=np.int16)
        for _ in range(180):
            out.write(silence)
    assert bomb.stat().st_size < 400_000
    client, _, folder = make_client(tmp_path)
    client.get("/api/v1/library?limit=1")  # the catalog loaded, as in a running service
    data = bomb.read_bytes()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak (VmHWM) to the current RSS
    before = _vm("VmRSS")
    response = _add_sound(client, data, "bomb.flac")
    growth = _vm("VmHWM") - before
    assert growth < 50 * 1024 * 1024, f"peak RSS grew {growth / 1e6:.0f} MB"
    assert response.status_code == 400 and "at most 30 s" in response.get_json()["error"], response.get_json()
    assert list((folder / "uploads").iterdir()) == []


def test_a_lying_header_is_caught_by_counting_in_blocks(tmp_path):
    from appliance.errors import UsageError
    from appliance.library import audio_io

    path = tmp_path / "long.wav"
    import numpy as np
    import soundfile as sf

    sf.write(str(path), np.full((48000 * 3, 1), 0.1, dtype=np.float32), 48000)
    audio_io.check_before_decode(path, "long.wav", max_seconds=5)
    with pytest.raises(UsageError, match="lasts 3.0 s"):
        audio_io.check_before_decode(path, "long.wav", max_seconds=1)
    with pytest.raises(UsageError, match="samples"):
        audio_io.check_before_decode(path, "long.wav", max_seconds=5, max_samples=1000)


def test_oversized_sound_upload_is_413_before_parsing(tmp_path):
    client, _, _ = make_client(tmp_path)
    response = _add_sound(client, b"\0" * (33 * 1024 * 1024), "huge.wav")
    assert response.status_code == 413 and "at most 32 MB" in response.get_json()["error"]


def test_service_structure_no_globals_no_cycle():
    """The worker is an object the queue's task closes over (no module state in service/queue.py),
    and the blueprints import the shared objects from service/shared.py, never service/app.py."""
    import ast
    from pathlib import Path

    import appliance.service as package

    folder = Path(package.__file__).parent
    tree = ast.parse((folder / "queue.py").read_text())
    assigned = [t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)]
    assert all(name.isupper() or name == "log" for name in assigned), assigned
    assert "global " not in (folder / "queue.py").read_text()
    for blueprint in ("api", "library_api", "events_api", "ops_api", "worker_api"):
        source = (folder / f"{blueprint}.py").read_text()
        assert "appliance.service.app" not in source, blueprint


def test_adding_a_long_sound_does_not_grow_the_web_process(tmp_path):
    """A legitimate 29 s stereo sound is converted in a child process: the web process's peak
    RSS grows < 50 MB (149 MB when it was converted in the web process), and the sound is in
    the library afterwards."""
    import numpy as np
    import soundfile as sf

    client, _, _ = make_client(tmp_path)
    client.get("/api/v1/library?q=rain&limit=1")
    buffer = io.BytesIO()
    noise = (np.random.default_rng(1).standard_normal((48000 * 29, 2)) * 0.1).astype(np.float32)
    sf.write(buffer, noise, 48000, format="FLAC")
    data = buffer.getvalue()
    del noise, buffer
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    before = _vm("VmRSS")
    response = client.post("/api/v1/library", data={"file": (io.BytesIO(data), "rain.flac"), "category": "ambience_rain"},
                           content_type="multipart/form-data")
    growth = _vm("VmHWM") - before
    assert response.status_code == 201, response.get_json()
    assert growth < 50 * 1024 * 1024, f"peak RSS grew {growth / 1e6:.0f} MB"
    ids = [t["id"] for t in client.get("/api/v1/library").get_json()["templates"]]
    assert response.get_json()["id"] in ids


def test_a_renamed_host_is_answered_under_its_new_name(monkeypatch):
    allow = HostAllowList()
    assert not allow.allows("foley-renamed.local")
    monkeypatch.setattr(socket, "gethostname", lambda: "foley-renamed")
    monkeypatch.setattr("appliance.service.hosts.REFRESH_S", 0.0)
    assert allow.allows("foley-renamed.local") and allow.allows("FOLEY-RENAMED:8080")
    assert not allow.allows("rebind.example")
