"""The real server (`foley serve` with its worker) against hostile pages and an unlucky board:
DNS rebinding with curl, a read-only HOME, bodies too large for the gate, a worker's result
larger than the upload limit. (Its faults — killed,
slow clients, waiters, a small disk — are in tests/faults/.)"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from appliance.multipart import MultipartBody
from appliance.service.jobs import JobStore
from appliance.service.worker_api import result_limit
from appliance.video.synthetic import render_scene
from appliance.waiting import poll
from tests.conftest import REPO, fill_leaving, get_json, small_disk, start_server, timeline_text
from tests.test_service_browser import lan_address


@contextlib.contextmanager
def empty_folder(path: Path, read_only: bool):
    """An empty folder; read-only: a read-only tmpfs where we may mount (root), else mode 0555
    (enough for a non-root user)."""
    path.mkdir()
    if not read_only:
        yield path
        return
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m,mode=0555", "tmpfs", str(path)], capture_output=True).returncode == 0
    if not mounted:
        path.chmod(0o555)
    try:
        yield path
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)
        else:
            path.chmod(0o755)


def test_rebinding_curl_is_refused(server):
    result = subprocess.run(["curl", "-sS", "-H", "Host: rebind.example:8080", "-w", "\n%{http_code}",
                             f"{server}/api/v1/token"], capture_output=True, text=True, timeout=30)
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "421" and '"error"' in body and "token" not in body.replace("host name", "")
    ok = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", f"{server}/api/v1/token"],
                        capture_output=True, text=True, timeout=30)
    assert ok.stdout.rsplit("\n", 1)[1] == "200"


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only-home", "writable-home"])
def test_service_and_a_job_write_nothing_outside_the_state_folder(tmp_path, read_only):
    """HOME empty (XDG variables unset), read-only or not: the service starts, scores a clip,
    and HOME stays empty — no ONNX Runtime telemetry store, no caches. (Read-only shows it
    works without HOME; writable shows nothing tries to write there.)"""
    clip = render_scene("stick", tmp_path / "clip.mp4", width=320, height=240, seconds=3, seed=8)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_") and k != "ORT_DISABLE_TELEMETRY"}
    with empty_folder(tmp_path / "home", read_only) as home:
        served = start_server(tmp_path, env={**env, "HOME": str(home)})
        try:
            out = tmp_path / "out.wav"
            result = subprocess.run(["curl", "-sS", "-f", "-F", f"video=@{clip.path}", f"{served.base}/api/v1/score?wait=1",
                                     "-o", str(out)], capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, result.stderr + served.log_path.read_text()[-2000:]
            assert out.read_bytes()[:4] == b"RIFF"
        finally:
            assert served.stop() == 0
        assert list(home.iterdir()) == []
    log = served.log_path.read_text()
    assert "Traceback" not in log and "Read-only file system" not in log, log[-2000:]


def answer_to_headers(connection: socket.socket) -> tuple[int, dict, dict]:
    """Read one whole response: (status, its headers in lower case, its JSON body)."""
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _content_length(answer):
        chunk = connection.recv(65536)
        if not chunk:
            break
        answer += chunk
    head, body = answer.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(body)


def head_only(address: str, port: int, path: str, length: int, content_type: str, extra: str = "") -> tuple[int, dict]:
    """Send a request's headers announcing `length` bytes of body, and none of the body: the
    status and JSON the server answers with (a server that waits for the body never answers)."""
    with socket.create_connection((address, port), timeout=20) as connection:
        connection.sendall(f"POST {path} HTTP/1.1\r\nHost: {address}:{port}\r\nContent-Type: {content_type}\r\n"
                           f"Content-Length: {length}\r\n{extra}\r\n".encode())
        status, _, body = answer_to_headers(connection)
    return status, body


def _content_length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def announce(port: int, length: int, extra: str = "", path: str = "/api/v1/score") -> socket.socket:
    """A loopback connection that has sent the headers of an upload (a multipart form, to
    /api/v1/score unless `path` says) announcing `length` bytes of body, and none of the body."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=20)
    connection.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: "
                       f"multipart/form-data; boundary=x\r\nContent-Length: {length}\r\n{extra}\r\n".encode())
    return connection


@pytest.mark.skipif(lan_address() is None, reason="this machine has no network address besides loopback")
def test_a_body_is_judged_on_its_headers_before_a_byte_of_it_is_read(tmp_path):
    """Waitress would store a whole body (up to a gigabyte) in a temporary file before the
    application sees the request. The gate answers from the headers alone: no token from the
    LAN (401), a cross-site write (403), a JSON body over 1 MB even to the open login (413), an
    upload over the limit (413) — each answered while the client has sent no byte of its body."""
    lan = lan_address()
    served = start_server(tmp_path, host=lan, args=("--no-worker",))
    port, gigabyte = int(served.base.rsplit(":", 1)[1]), 1024 ** 3
    token = f"Authorization: Bearer {(tmp_path / 'state' / 'api-token').read_text().strip()}\r\n"
    try:
        status, body = head_only(lan, port, "/api/v1/jobs", gigabyte, "application/octet-stream")
        assert status == 401 and "token" in body["error"]
        status, body = head_only(lan, port, "/api/v1/jobs/x/edit", 2 * 1024 * 1024, "application/json", token)
        assert status == 413 and "1024 KB" in body["error"]
        status, body = head_only(lan, port, "/api/v1/score", gigabyte, "multipart/form-data; boundary=x", token)
        assert status == 413 and "200 MB" in body["error"]
        # A sound's form is held to the sound's limit from its headers (it was stored whole, up
        # to the clip's 200 MB, and refused once stored).
        status, body = head_only(lan, port, "/api/v1/library", 100_000_000, "multipart/form-data; boundary=x", token)
        assert status == 413 and body["error"].startswith("sound file too large: the limit is 32 MB"), body
        # The open routes take a few KB, whatever the type: a form on the open login held the
        # room for everyone's uploads with bodies that never came (body_room.py), and 500 KB
        # JSON bodies half sent held ~1 GB of the service's memory over its connections.
        for content_type in ("multipart/form-data; boundary=x", "application/json"):
            for length in (200 * 1024 * 1024, 500 * 1024):
                status, body = head_only(lan, port, "/api/v1/login", length, content_type)
                assert status == 413 and "/api/v1/login takes at most 4 KB" in body["error"], body
        status, body = head_only(lan, port, "/api/v1/score", 1000, "multipart/form-data; boundary=x",
                                 token + "Origin: http://evil.example\r\n")
        assert status == 403 and "cross-site" in body["error"]
        # What passes the gate is the application's as before: an empty body to login.
        status, body = head_only(lan, port, "/api/v1/login", 0, "application/json")
        assert status in (400, 401) and body["error"], (status, body)
    finally:
        assert served.stop() == 0
    assert "Traceback" not in served.log_path.read_text()


def test_the_gates_early_refusals_carry_the_answers_headers(tmp_path):
    """A refusal waitress sends before the body (here a cross-site write) is nosniff, unframable
    and same-origin like every answer of the application (gate.ANSWER_HEADERS), and so are
    waitress's own refusals of a malformed request, now JSON too (they were plain text)."""
    served = start_server(tmp_path, args=("--no-worker",))
    port = int(served.base.rsplit(":", 1)[1])
    head = f"POST /api/v1/score HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
    requests = {403: head + "Origin: http://evil.example\r\nContent-Length: 1000\r\n\r\n",
                400: head + "Content-Length: -1\r\n\r\n",
                431: head + "X-Big: " + "a" * 300_000 + "\r\n\r\n",
                501: head + "Transfer-Encoding: gzip, chunked\r\n\r\n"}
    answers = {}
    try:
        for expected, request in requests.items():
            with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
                connection.sendall(request.encode())
                answers[expected] = answer_to_headers(connection)
    finally:
        assert served.stop() == 0
    assert "cross-site" in answers[403][2]["error"]
    for expected, (status, headers, body) in answers.items():
        assert status == expected and body["error"], (expected, status, body)
        assert headers["content-type"] == "application/json"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["content-security-policy"] == "frame-ancestors 'none'"
        assert headers["cross-origin-resource-policy"] == "same-origin"


def test_a_chunked_body_over_its_limit_is_refused_as_json(tmp_path):
    """A chunked body states no length, so the gate cannot judge its size from the headers:
    waitress read up to the limit and then refused it with its own plain-text 413. The client
    gets the API's JSON error, as for a body whose Content-Length is too large."""
    served = start_server(tmp_path, args=("--no-worker",))
    port = int(served.base.rsplit(":", 1)[1])
    chunk = b" " * 4096  # JSON allows any amount of white space
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
            connection.sendall(f"POST /api/v1/jobs/0123456789abcdef/edit HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                               "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
            sent = 0
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it answered and closed
                # until the server answers, or twice the limit is sent: it must answer then, though
                # a loaded machine may take a moment to read what is sent
                while not select.select([connection], [], [], 0)[0] and sent < 2 * 1024 * 1024:
                    connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
            answer = b""
            with contextlib.suppress(ConnectionResetError):
                while received := connection.recv(65536):
                    answer += received
    finally:
        assert served.stop() == 0
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.split()[1] == b"413" and b"application/json" in head, head
    assert "only an upload (multipart/form-data to /api/v1/score or /api/v1/library) may exceed 1024 KB" \
        in json.loads(body)["error"]
    assert sent > 1024 * 1024


def test_a_workers_result_is_bounded_by_its_job_not_by_the_upload_limit(tmp_path):
    """A fleet worker's result (the WAV, the MP4, the mix) was held to the clip upload limit,
    which the result of a long clip exceeds (two WAVs of 10 minutes are 230 MB). Uploads limited
    to 1 MB here: a 6 s clip's result, its two WAVs 1.1 MB each, is taken; a result announcing
    more than its job can produce is refused from its headers, as JSON."""
    (tmp_path / "config.yaml").write_text("service:\n  max_upload_mb: 1\n")
    clip = render_scene("stick", tmp_path / "clip.mp4", width=320, height=240, seconds=6, seed=2)
    served = start_server(tmp_path, args=("--no-worker", "--config", str(tmp_path / "config.yaml")))
    worker = {"X-Foley-Worker": "board-b:1"}

    def post(path: str, fields: dict, files: dict) -> tuple[int, bytes]:
        body = MultipartBody(fields, files)
        request = urllib.request.Request(served.base + path, body, {**body.headers, **worker})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    try:
        status, answer = post("/api/v1/score", {}, {"video": ("clip.mp4", clip.path)})
        assert status == 202, answer
        job_id = json.loads(answer)["id"]
        assert post(f"/api/v1/jobs/{job_id}/claim", {}, {})[0] == 200
        for name in ("audio.wav", "mix.wav"):
            sf.write(tmp_path / name, np.zeros((round(clip.duration * 48000), 2)), 48000, subtype="PCM_16")
        (tmp_path / "timeline.json").write_text(timeline_text())
        files = {"audio.wav": ("audio.wav", tmp_path / "audio.wav"), "mix.wav": ("mix.wav", tmp_path / "mix.wav"),
                 "video.mp4": ("video.mp4", clip.path), "timeline.json": ("timeline.json", tmp_path / "timeline.json")}
        assert sum(path.stat().st_size for _, path in files.values()) > 2 * 1024 * 1024  # the limit and its form
        status, answer = post(f"/api/v1/jobs/{job_id}/result", {"seconds": "1.0"}, files)
        assert status == 204, answer
        assert get_json(f"{served.base}/api/v1/jobs/{job_id}")["state"] == "done"
        port = int(served.base.rsplit(":", 1)[1])
        status, body = head_only("127.0.0.1", port, f"/api/v1/jobs/{job_id}/result", 100 * 1024 * 1024,
                                 "multipart/form-data; boundary=x", "X-Foley-Worker: board-b:1\r\n")
        assert status == 413 and "result too large" in body["error"], body
    finally:
        assert served.stop() == 0
    assert "Traceback" not in served.log_path.read_text()


def served_job(tmp_path: Path, config: str, clip: Path, state: Path | None = None) -> tuple:
    """`foley serve --no-worker` with `config`, `clip` uploaded as a job and claimed by worker
    board-b:1: (the server, the job id, a JobStore on its service folder)."""
    (tmp_path / "config.yaml").write_text(config)
    served = start_server(tmp_path, args=("--no-worker", "--config", str(tmp_path / "config.yaml")))
    try:
        job_id = claimed_job(served.base, clip)
    except BaseException:
        served.stop()
        raise
    return served, job_id, JobStore(tmp_path / "state" / "service")


def claimed_job(base: str, clip: Path) -> str:
    """The id of a job of `clip` uploaded to the server at `base` and claimed by worker board-b:1."""
    body = MultipartBody({}, {"video": ("clip.mp4", clip)})
    with urllib.request.urlopen(urllib.request.Request(base + "/api/v1/score", body, body.headers),
                                timeout=60) as response:
        job_id = json.loads(response.read())["id"]
    claim = urllib.request.Request(f"{base}/api/v1/jobs/{job_id}/claim", b"", {"X-Foley-Worker": "board-b:1"},
                                   method="POST")
    urllib.request.urlopen(claim, timeout=60).close()
    return job_id


WORKER_UPLOAD = """
import hashlib, resource, shutil, sys
from pathlib import Path
import numpy as np
import soundfile
from appliance.service.remote import RemoteJobs
from tests.conftest import timeline_text

base, scratch, job_id, seconds, clip = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
jobs = RemoteJobs(base, None, scratch)
jobs.worker = "board-b:1"
folder = jobs.job_dir(job_id)
folder.mkdir(parents=True)
for name, seed in (("audio.wav", 1), ("mix.wav", 2)):  # 48 kHz stereo 16-bit: 11.5 MB a minute each
    with soundfile.SoundFile(folder / name, "w", 48000, 2, "PCM_16") as out:
        rng = np.random.default_rng(seed)
        for _ in range(seconds):
            out.write(rng.uniform(-0.5, 0.5, (48000, 2)).astype(np.float32))
shutil.copyfile(clip, folder / "video.mp4")
(folder / "timeline.json").write_text(timeline_text())
digests = {}
for name in ("audio.wav", "mix.wav"):
    with open(folder / name, "rb") as handle:
        digests[name] = hashlib.file_digest(handle, "sha256").hexdigest()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
jobs.finish(job_id, 1.0)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, digests["audio.wav"], digests["mix.wav"])
"""


def test_a_workers_result_is_streamed_from_its_files_not_read_into_memory(tmp_path):
    """A fleet worker (RemoteJobs.finish) read every file of its result into memory, and joined
    them into one body: a Pi of 1-2 GB paid a 300 MB result twice over. Its process uploads a
    62 MB result (two WAVs of 160 s) to the real front end here and grows by a few MB at most
    (the 1 MB chunks); the front end stores the files as sent, byte for byte."""
    clip = render_scene("still", tmp_path / "clip.mp4", width=64, height=48, fps=5, seconds=160, seed=1)
    served, job_id, store = served_job(tmp_path, "", clip.path)
    try:
        worker = subprocess.run([sys.executable, "-c", WORKER_UPLOAD, served.base, str(tmp_path / "scratch"), job_id,
                                 "160", str(clip.path)], capture_output=True, text=True, timeout=300, cwd=REPO)
        assert worker.returncode == 0, worker.stderr[-3000:]
        grown_mb, audio, mix = worker.stdout.split()
        assert store.get(job_id).state == "done"
        for name, digest in (("audio.wav", audio), ("mix.wav", mix)):
            assert hashlib.sha256((store.job_dir(job_id) / name).read_bytes()).hexdigest() == digest
        assert int(grown_mb) < 16, f"the worker grew by {grown_mb} MB to send 62 MB"
    finally:
        assert served.stop() == 0


def result_form(folder: Path, megabytes: int) -> MultipartBody:
    """A worker's result of about `megabytes`: WAV, MP4 and timeline files made in `folder`."""
    folder.mkdir()
    (folder / "audio.wav").write_bytes(b"\1" * megabytes * 1024 * 1024)
    (folder / "video.mp4").write_bytes(b"mp4")
    (folder / "timeline.json").write_text(timeline_text())
    return MultipartBody({"seconds": "1.0"}, {name: (name, folder / name)
                                               for name in ("audio.wav", "video.mp4", "timeline.json")})


def posted(url: str, body, headers: dict) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_a_result_the_disk_has_no_room_for_is_refused_before_it_is_saved(tmp_path):
    """The result route saved a worker's files whatever room the disk had: past the
    service.min_free_mb that uploads keep free, or half-way until the disk was full. Now it gets
    the uploads' 507 before its form is read, and the job stays running, without files."""
    clip = render_scene("still", tmp_path / "clip.mp4", width=64, height=48, fps=5, seconds=60, seed=1)
    with small_disk(tmp_path / "state", "48m") as state:
        served, job_id, store = served_job(tmp_path, "service:\n  min_free_mb: 8\n", clip.path)
        try:
            form = result_form(tmp_path / "result", 4)
            fill_leaving(state, form.length + 4 * 1024 * 1024)  # room for the files, not for the reserve
            free = shutil.disk_usage(state).free
            status, body = posted(f"{served.base}/api/v1/jobs/{job_id}/result", form,
                                  {**form.headers, "X-Foley-Worker": "board-b:1"})
            assert status == 507 and "not enough free disk space" in body["error"], (status, body)
            job = store.get(job_id)
            assert job.state == "running" and job.worker == "board-b:1"
            assert not any((store.job_dir(job_id) / name).exists() for name in ("audio.wav", "video.mp4"))
            assert shutil.disk_usage(state).free >= free
        finally:
            assert served.stop() == 0
    assert "Traceback" not in served.log_path.read_text()


def test_an_upload_the_gate_allows_is_not_refused_by_flask(tmp_path):
    """The gate lets a multipart upload bring service.max_upload_mb plus 1 MB for the form's
    other parts, but Flask's MAX_CONTENT_LENGTH was max_upload_mb alone: a clip just under the
    limit passed the gate and got 413 from Flask. Both now hold a body to the gate's bound."""
    clip = render_scene("still", tmp_path / "clip.mp4", width=64, height=48, fps=5, seconds=4, seed=1).path
    padding = 1024 * 1024 - 200 - clip.stat().st_size  # an MP4 'free' box: the clip just under 1 MB
    with open(clip, "ab") as out:
        out.write(padding.to_bytes(4, "big") + b"free" + bytes(padding - 8))
    (tmp_path / "config.yaml").write_text("service:\n  max_upload_mb: 1\n")
    served = start_server(tmp_path, args=("--no-worker", "--config", str(tmp_path / "config.yaml")))
    try:
        body = MultipartBody({"description": "a stick knocking on a table"}, {"video": ("clip.mp4", clip)})
        assert body.length > 1024 * 1024
        status, answer = posted(served.base + "/api/v1/score", body, body.headers)
        assert status == 202, answer
    finally:
        assert served.stop() == 0


def test_waitress_does_not_refuse_a_result_its_job_allows(tmp_path):
    """Waitress compares a Content-Length with its own max_request_body_size (1 GiB by default)
    before the gate is asked, and its plain-text 413 stood: the result of a job of 50 minutes
    (its bound 1.17 GB) was refused. Announced at 1.1 GB, it is now awaited (the server waits for
    the body); announced over its job's bound, the gate still refuses it as JSON."""
    clip = render_scene("still", tmp_path / "clip.mp4", width=64, height=48, fps=1, seconds=3000, seed=1)
    served, job_id, store = served_job(tmp_path, "engine:\n  max_seconds: 3600\n", clip.path)
    port, path = int(served.base.rsplit(":", 1)[1]), f"/api/v1/jobs/{job_id}/result"
    bound = result_limit(store, job_id, 3600)
    try:
        assert 1024 ** 3 < 1_100_000_000 < bound
        with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
            connection.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Foley-Worker: board-b:1\r\n"
                               "Content-Type: multipart/form-data; boundary=x\r\n"
                               "Content-Length: 1100000000\r\n\r\n".encode())
            answered = select.select([connection], [], [], 3)[0]
            assert not answered, connection.recv(65536)
        status, body = head_only("127.0.0.1", port, path, bound + 1, "multipart/form-data; boundary=x",
                                 "X-Foley-Worker: board-b:1\r\n")
        assert status == 413 and "result too large" in body["error"], body
    finally:
        assert served.stop() == 0


@contextlib.contextmanager
def serving_on_a_small_tmp(tmp_path: Path, settings: str):
    """`foley serve` (no worker) with `settings` (YAML lines) under `service:` in its config and
    $TMPDIR on a 16 MB tmpfs, for the block: (the server, that folder, its port). Stopped after
    it, and the folder must then be empty (no body's file left behind)."""
    (tmp_path / "config.yaml").write_text("service:\n" + settings)
    with small_disk(tmp_path / "tmp", "16m") as temporary:
        served = start_server(tmp_path, env={"TMPDIR": str(temporary)},
                              args=("--no-worker", "--config", str(tmp_path / "config.yaml")))
        try:
            yield served, temporary, int(served.base.rsplit(":", 1)[1])
        finally:
            assert served.stop() == 0
        assert list(temporary.iterdir()) == []


def test_bodies_never_fill_the_temporary_folder(tmp_path):
    """Waitress stores a body over 512 KB in the temporary folder (a RAM tmpfs on Debian trixie),
    and Werkzeug a multipart form's file again. With $TMPDIR on an 8 MB disk, a 9 MB upload had
    its connection reset mid-body (ENOSPC in waitress's event loop), and a 6 MB one was stored,
    then refused with an ENOSPC traceback in the log. Now, on a 16 MB folder, each answered
    from the headers: an upload that could never fit (9 MB, 18 MB with Werkzeug's copy) 413 (the
    gate's, its limit lowered to what the folder holds: next test);
    one the folder's free space cannot hold (a filler leaves 5 MB) 507; one that only another
    body being received leaves no room for 503 with Retry-After. A body's bytes already received
    are counted once (a 2.5 MB upload beside a 4 MB one 3.9 MB in goes through); a client gone
    mid-body gives its room back; served requests give theirs back (five uploads in a row all
    reach the application); the folder is empty afterwards."""
    rng = np.random.default_rng(1)
    junk = {size: tmp_path / f"junk-{size}.mp4" for size in (2.5, 4)}
    for size, path in junk.items():
        path.write_bytes(rng.bytes(int(size * 1024 * 1024)))
    with serving_on_a_small_tmp(tmp_path, "  min_free_mb: 1\n") as (served, temporary, port):
        def upload(size: float) -> int:
            result = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-F", f"video=@{junk[size]}",
                                     f"{served.base}/api/v1/score"], capture_output=True, text=True, timeout=60)
            return int(result.stdout)

        with announce(port, 9 * 1024 * 1024) as connection:
            status, _, body = answer_to_headers(connection)
        assert status == 413 and "the limit is 6.5 MB on this appliance" in body["error"], (status, body)
        with announce(port, 4 * 1024 * 1024) as arriving:
            arriving.sendall(b"-" * int(3.9 * 1024 * 1024))
            poll(lambda: shutil.disk_usage(temporary).used >= 3.9 * 1024 * 1024, 10)
            assert upload(2.5) == 415  # the application's answer: the junk is no video
            with announce(port, 4 * 1024 * 1024) as second:
                status, headers, body = answer_to_headers(second)
            assert status == 503 and headers.get("retry-after") and "try again" in body["error"], (status, body)
        assert poll(lambda: (status := upload(4)) != 503 and status, 10) == 415  # its room came back
        # the last upload's request (its files, its room) is closed just after its answer
        poll(lambda: shutil.disk_usage(temporary).used < 1024 * 1024, 10)
        fill_leaving(temporary, 5 * 1024 * 1024)
        with announce(port, 3 * 1024 * 1024) as connection:
            status, _, body = answer_to_headers(connection)
        assert status == 507 and "not enough room" in body["error"], (status, body)
        (temporary / "filler").unlink()
        assert [upload(2.5) for _ in range(5)] == [415] * 5
    assert "Traceback" not in served.log_path.read_text()


def test_the_upload_limit_is_what_the_temporary_folder_can_hold(tmp_path):
    """A temporary folder smaller than twice service.max_upload_mb (a RAM tmpfs on a small board)
    refused every upload between what it holds and that limit with body_room's 413 "too large for
    this appliance", while the gate let it through and its 413 said the limit was 200 MB. The
    service's limit is now the lower of the two, one figure: a 16 MB folder keeping 1 MB free
    holds a 7.5 MB form twice, so a form of 7.5 MB is awaited (its body reserved) and one byte
    more is the gate's 413 naming 6.5 MB (the form's 1 MB of other fields aside) and why; the
    start-up log says so once."""
    with serving_on_a_small_tmp(tmp_path, "  min_free_mb: 1\n") as (served, temporary, port):
        for path, what in (("/api/v1/score", "upload"), ("/api/v1/library", "sound file")):
            status, body = head_only("127.0.0.1", port, path, 15 * 1024 * 1024 // 2 + 1, "multipart/form-data; b=x")
            assert status == 413, body
            assert f"{what} too large: the limit is 6.5 MB on this appliance" in body["error"], body
            assert "holds 16 MB" in body["error"] and "service.max_upload_mb is 200" in body["error"], body
            assert str(temporary) not in body["error"], "no server paths in messages"
        with announce(port, 15 * 1024 * 1024 // 2) as connection:
            assert not select.select([connection], [], [], 2)[0], connection.recv(65536)  # awaited
    log = served.log_path.read_text()
    assert log.count("uploads are limited to 6.5 MB") == 1 and "Traceback" not in log, log


def test_a_workers_result_is_held_to_what_the_temporary_folder_can_hold(tmp_path):
    """A worker's result is a form the temporary folder holds twice, as an upload, but its limit
    was its job's alone (what the job can produce), whatever the folder: one between what the
    folder holds and that limit passed the gate and got body_room's 413, "too large for this
    appliance", which states no limit. It is now held to the folder as the upload limit is: on
    a 16 MB folder keeping 1 MB free, a 4 s clip's result (its job allowing over 7.5 MB) is
    awaited at 7.5 MB, and one byte more is the gate's 413 naming 7.5 MB and why."""
    clip = render_scene("still", tmp_path / "clip.mp4", width=64, height=48, fps=5, seconds=4, seed=1)
    worker, largest = "X-Foley-Worker: board-b:1\r\n", 15 * 1024 * 1024 // 2
    with serving_on_a_small_tmp(tmp_path, "  min_free_mb: 1\n") as (served, temporary, port):
        job_id = claimed_job(served.base, clip.path)
        path = f"/api/v1/jobs/{job_id}/result"
        assert result_limit(JobStore(tmp_path / "state" / "service"), job_id, 600) > largest + 1
        status, body = head_only("127.0.0.1", port, path, largest + 1, "multipart/form-data; boundary=x", worker)
        assert status == 413, body
        assert "result too large: the limit is 7.5 MB on this appliance" in body["error"], body
        assert "holds 16 MB" in body["error"] and str(temporary) not in body["error"], body
        with announce(port, largest, worker, path) as connection:
            assert not select.select([connection], [], [], 2)[0], connection.recv(65536)  # awaited
    assert "Traceback" not in served.log_path.read_text()


def test_a_body_trickled_past_its_deadline_is_closed_and_gives_its_room_back(tmp_path):
    """Waitress closes a connection only once it has been idle for service.idle_timeout, and
    every byte resets that: a client with the token announcing an upload and sending a byte now
    and then held its reservation in the temporary folder (body_room.py) as long as it liked,
    and with it the room of everyone else's uploads (503). A body must now arrive within
    max(idle_timeout, its length at service.min_body_rate_kb): here 2 s and 6 MB at 1 MB/s, so
    a 6 MB upload trickled a few bytes every 0.2 s is closed after about 6 s (the length's
    share, not the idle floor), its room given back, its temporary file gone."""
    settings = "  min_free_mb: 1\n  idle_timeout: 2\n  min_body_rate_kb: 1024\n"
    with serving_on_a_small_tmp(tmp_path, settings) as (served, _, port):
        with announce(port, 6 * 1024 * 1024) as trickling:
            started = time.monotonic()
            with announce(port, 3 * 1024 * 1024) as other:  # 12 MB of the 15 MB are held for the first
                status, _, _ = answer_to_headers(other)
            assert status == 503
            closed = None
            while time.monotonic() - started < 20:
                try:
                    trickling.sendall(b"--x\r\n")
                    if select.select([trickling], [], [], 0.2)[0] and trickling.recv(65536) == b"":
                        closed = time.monotonic() - started
                        break
                except (BrokenPipeError, ConnectionResetError):
                    closed = time.monotonic() - started
                    break
        assert closed is not None, "still open after 20 s of trickling"
        assert 5.5 < closed < 15, closed
        with announce(port, 3 * 1024 * 1024) as other:  # its room came back: awaited, not refused
            assert not select.select([other], [], [], 1.5)[0], other.recv(65536)
    assert "Traceback" not in served.log_path.read_text()


def test_bodies_kept_in_memory_are_bounded_in_all(tmp_path):
    """Waitress keeps a body of up to its `inbuf_overflow` in memory, outside the temporary
    folder's reservations: 2000 connections each announcing 500 KB and sending most of it held
    ~1 GB of the service's memory (and kept it after they closed). Now a body over 64 KB goes to
    the folder (reserved, body_room.BodyRoom), and those kept in memory hold at most 16 MB in
    all (server.MEMORY_BODIES): the 257th half-sent 64 KB body is told to come back (503), and
    once the others go, it is awaited again."""
    from appliance.service.server import MEMORY_BODIES, MEMORY_BODY

    served = start_server(tmp_path, args=("--no-worker",))
    port = int(served.base.rsplit(":", 1)[1])

    def half_sent() -> socket.socket:
        connection = socket.create_connection(("127.0.0.1", port), timeout=20)
        connection.sendall(f"POST /api/v1/jobs/0123456789abcdef/edit HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           f"Content-Type: application/json\r\nContent-Length: {MEMORY_BODY}\r\n\r\n".encode()
                           + b" " * 1024)
        return connection

    held = []
    try:
        for _ in range(MEMORY_BODIES // MEMORY_BODY):
            held.append(half_sent())
        with half_sent() as refused:
            status, headers, body = answer_to_headers(refused)
        assert status == 503 and headers.get("retry-after") and "memory for request bodies" in body["error"], body
        assert not select.select(held, [], [], 0.5)[0], "the bodies within the bound were awaited"
        for connection in held:
            connection.close()
        held = []
        time.sleep(1.5)
        with half_sent() as again:
            assert not select.select([again], [], [], 1.5)[0], again.recv(65536)  # awaited, not refused
    finally:
        for connection in held:
            connection.close()
        assert served.stop() == 0
    assert "Traceback" not in served.log_path.read_text()
