"""Hostile pages and clients through the test client: DNS rebinding (Host allow-list), wrong
statuses, hostile names and bodies. The real server's share is in test_service_server_hardening.py;
races, bombs and the other faults are in tests/faults/."""
from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest

from appliance.config import ServiceConfig
from appliance.service.hosts import HostAllowList, host_name, interface_addresses
from appliance.service.ui import CSP
from tests.test_service_api import LAN, TOKEN, make_client, upload
from tests.test_service_api import clip_bytes  # noqa: F401  (module fixture)


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


def flac_bytes(seconds: float = 0.5, freq: float = 700.0) -> bytes:
    import numpy as np
    import soundfile as sf

    t = np.arange(int(48000 * seconds)) / 48000
    buffer = io.BytesIO()
    sf.write(buffer, (np.sin(2 * np.pi * freq * t) * np.exp(-t / 0.05)).astype(np.float32), 48000, format="FLAC")
    return buffer.getvalue()


def add_sound(client, data: bytes, name: str):
    return client.post("/api/v1/library", data={"file": (io.BytesIO(data), name), "category": "glass_clink"},
                       content_type="multipart/form-data")


@pytest.mark.parametrize("name", ["..", ".", "../..", "a/../..", "...", "\x00", "", ".hidden.flac", "/"])
def test_hostile_library_upload_names(tmp_path, name):
    client, _, folder = make_client(tmp_path)
    response = add_sound(client, flac_bytes(freq=500 + len(name) * 37), name)
    assert response.status_code == 201, response.get_json()
    assert "/" not in response.get_json()["id"] and ".." not in response.get_json()["id"]
    assert sorted(p.name for p in (folder / "uploads").iterdir()) == []


def test_messages_hold_no_object_reprs_temp_names_or_paths(tmp_path):
    client, _, _ = make_client(tmp_path)
    response = add_sound(client, b"this is not audio" * 50, "x.flac")
    assert response.status_code == 400
    message = response.get_json()["error"]
    assert "object at 0x" not in message and str(tmp_path) not in message and "/tmp" not in message
    assert "tmp" not in message.lower(), message


def test_public_message_scrubs():
    from appliance.service.shared import public_message

    text = public_message("Error opening <_io.BytesIO object at 0x7f3a2b1c>: /tmp/upload-abc123xy: bad; tmpq1w2e3r4t")
    assert "0x" not in text and "/tmp" not in text and "abc123" not in text and "q1w2e3" not in text
    assert public_message("") == "the request could not be served"


@pytest.mark.parametrize("body", ["[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_nested_json_is_400(tmp_path, body):
    """(The open login takes at most 4 KB: there such a body is a 413, from its length.)"""
    client, _, _ = make_client(tmp_path)
    for path in ("/api/v1/login", "/api/v1/jobs/0123456789abcdef/events/0", "/api/v1/record"):
        response = client.post(path, data=body, content_type="application/json")
        assert response.status_code in ((413,) if path == "/api/v1/login" else (400, 401, 404)), \
            (path, response.status_code)
        assert response.is_json


def test_a_body_over_1_mb_that_is_not_an_upload_is_413(tmp_path):
    client, _, _ = make_client(tmp_path)
    body = '{"template_id": "' + "x" * (2 * 1024 * 1024) + '"}'
    for path in ("/api/v1/login", "/api/v1/jobs/0123456789abcdef/events/0", "/api/v1/record"):
        response = client.post(path, data=body, content_type="application/json")
        said = "/api/v1/login takes at most 4 KB" if path == "/api/v1/login" else "multipart"
        assert response.status_code == 413 and said in response.get_json()["error"], (path, response.status_code)


def test_a_400_digit_number_is_a_400_not_a_500(tmp_path, clip_bytes):
    """Valid JSON: Python reads it as an int that float() cannot hold (OverflowError)."""
    client, _, _ = make_client(tmp_path)
    job = upload(client, clip_bytes).get_json()["id"]
    n = client.get(f"/api/v1/jobs/{job}/timeline.json").get_json()["events"][0]["n"]
    huge = "1" + "0" * 400
    for method, path, body in (("PATCH", f"/api/v1/jobs/{job}/events/{n}", f'{{"time": {huge}}}'),
                               ("PATCH", f"/api/v1/jobs/{job}/events/{n}", f'{{"gain_db": -{huge}}}'),
                               ("POST", f"/api/v1/jobs/{job}/events", f'{{"template_id": "x", "time": 1, "pan": {huge}}}')):
        response = client.open(path, method=method, data=body, content_type="application/json")
        assert response.status_code in (400, 409) and response.is_json, (path, response.status_code)
    assert client.get(f"/api/v1/jobs/{job}").get_json()["edits"] == 0


def test_bounded_int_keeps_ordinary_integers():
    from appliance.service.app import bounded_int

    assert bounded_int("42") == 42 and bounded_int(str(2**59)) == 2**59
    assert bounded_int("1" + "0" * 400) == float("inf") and bounded_int("-" + "9" * 30) == -1e30


def test_a_recording_description_is_held_to_the_uploads_limit(tmp_path):
    client, _, _ = make_client(tmp_path)
    response = client.post("/api/v1/record", json={"description": "x" * 501})
    assert response.status_code == 400 and "500 characters" in response.get_json()["error"]


def test_json_depth_counts_brackets_outside_strings():
    from appliance.service.app import json_depth

    assert json_depth('{"a": [1, {"b": "[[[[\\"[["}]}') == 3 and json_depth("1") == 0


@pytest.mark.parametrize("seed", ["-5", str(2**32), str(10**30)])
def test_negative_or_huge_seed_is_400_at_submit(tmp_path, clip_bytes, seed):
    client, queue, _ = make_client(tmp_path, run=False)
    response = upload(client, clip_bytes, seed=seed)
    assert response.status_code == 400 and "seed" in response.get_json()["error"] and queue.submitted == []
    assert upload(client, clip_bytes, seed=str(2**32 - 1)).status_code == 202


def test_every_answer_is_nosniff_unframable_and_same_origin(tmp_path, clip_bytes):
    """A result, a sound, JSON (errors quoting a client's words, the gate's refusals) and the
    page's own files are never sniffed as HTML, never framed by another site, and never loaded
    by one (an <img> or <audio> of another site's page: Cross-Origin-Resource-Policy). The
    page's file is also /static/index.html, which any site could frame (on the board, where
    loopback needs no token, to clickjack its buttons)."""
    client, _, _ = make_client(tmp_path)
    job = upload(client, clip_bytes, name='<img src=x onerror=alert(1)>.mp4').get_json()["id"]
    sound = client.get("/api/v1/library?limit=1").get_json()["templates"][0]["id"]
    answers = [client.get(path) for path in (
        "/api/v1/jobs", f"/api/v1/jobs/{job}", "/api/v1/jobs/<b>nope</b>", "/static/app.js", "/static/index.html",
        f"/api/v1/library/{sound}/audio", *(f"/api/v1/jobs/{job}/{name}" for name in
                                            ("video.mp4", "audio.wav", "credits.txt", "timeline.json", "thumbnail.jpg")))]
    answers.append(client.post("/api/v1/play/stop", headers={"Origin": "http://evil.example"}))
    assert answers[-1].status_code == 403
    for answer in answers:
        assert answer.headers["X-Content-Type-Options"] == "nosniff", answer.request.path
        policy = CSP if answer.mimetype == "text/html" else "frame-ancestors 'none'"
        assert answer.headers.getlist("Content-Security-Policy") == [policy], answer.request.path
        assert answer.headers["Cross-Origin-Resource-Policy"] == "same-origin", answer.request.path
    assert answers[4].mimetype == "text/html", "/static/index.html is the page: its whole CSP, not only the frame rule"
    page = client.get("/")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert page.headers.getlist("Content-Security-Policy") == [CSP] and "frame-ancestors 'none'" in CSP


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
    monkeypatch.setattr(jobs_module.JobStore, "list", lambda *a, **k: (_ for _ in ()).throw(OSError(5, "I/O error", str(tmp_path))))
    response = client.get("/api/v1/jobs")
    assert response.status_code == 500 and response.is_json
    message = response.get_json()["error"]
    assert "unexpected problem" in message and str(tmp_path) not in message and "OSError" not in message
    # A full disk is no bug: 507, as the uploads' own check says it (tests/faults: a real full disk).
    monkeypatch.setattr(jobs_module.JobStore, "list", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space", str(tmp_path))))
    response = client.get("/api/v1/jobs")
    assert response.status_code == 507 and "disk is full" in response.get_json()["error"]
    assert str(tmp_path) not in response.get_json()["error"]


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


def test_a_renamed_host_is_answered_under_its_new_name(monkeypatch):
    allow = HostAllowList()
    assert not allow.allows("foley-renamed.local")
    monkeypatch.setattr(socket, "gethostname", lambda: "foley-renamed")
    monkeypatch.setattr("appliance.service.hosts.REFRESH_S", 0.0)
    assert allow.allows("foley-renamed.local") and allow.allows("FOLEY-RENAMED:8080")
    assert not allow.allows("rebind.example")
    # Not the name Avahi gives a second board of one image: any machine on the LAN may announce
    # it, and this board may not hold it (docs/board.md: a hostname each, or allowed_hosts).
    assert not allow.allows("foley-renamed-2.local:80")
    # The web unit refuses netlink sockets (RestrictAddressFamilies), and it keeps the host's
    # hostname as it changes (no ProtectHostname, which froze a copy of it).
    unit = (Path(__file__).parents[1] / "systemd" / "foley-web.service").read_text()
    assert "AF_NETLINK" not in unit.split("RestrictAddressFamilies=")[1].splitlines()[0]
    assert "\nProtectHostname=" not in unit


def test_own_addresses_are_found_without_netlink(monkeypatch):
    """socket.if_nameindex asks over netlink, which foley-web's unit refuses: every IPv4 address
    was missed and the page refused the board's own address (421)."""
    expected = interface_addresses()

    def refused():
        raise OSError(97, "Address family not supported by protocol")

    monkeypatch.setattr(socket, "if_nameindex", refused)
    assert interface_addresses() == expected and "127.0.0.1" in expected
