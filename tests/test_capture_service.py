"""The real `foley capture` beside the real `foley serve`: record through the API, the preview,
a recording whose result is ready moments after it stops (the figure is written to
test-artifacts/capture-latency.json), and a recording made while the service is down."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port, get_json, run_foley
from tests.test_capture_daemon import wait_for

ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def runtime(monkeypatch):
    """A short runtime folder for the control socket (a socket path is limited to 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="foley-run-"))
    monkeypatch.setenv("FOLEY_RUNTIME_DIR", str(folder))
    yield folder
    for leftover in folder.iterdir():
        leftover.unlink()
    folder.rmdir()


def start_capture(tmp_path: Path, port: int, seconds: float = 10.0, settings: str = "") -> subprocess.Popen:
    """`foley capture` with the file camera (no camera here), submitting to `port`; `settings`:
    more `capture:` lines."""
    config = tmp_path / "capture.yaml"
    config.write_text(f"service:\n  port: {port}\ncapture:\n  record_seconds: {seconds}\n"
                      "  preroll_seconds: 1.0\n  min_free_mb: 1\n" + settings)
    log = open(tmp_path / "capture.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "appliance.cli", "capture", "--config", str(config)],
                               cwd=REPO, env={**os.environ, "FOLEY_STATE_DIR": str(tmp_path / "state")},
                               stderr=log, text=True)
    try:
        wait_for(lambda: _status().get("camera", {}).get("ok"), 60)
        # As on a board some time after boot: its engine loaded (loading takes a few seconds of
        # CPU that a test's live session or recording would otherwise race).
        wait_for(lambda: _status().get("scoring_while_recording") != "loading", 120)
    except AssertionError:
        process.kill()
        pytest.fail("foley capture did not come up: " + (tmp_path / "capture.log").read_text()[-2000:])
    return process


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(30)
    except subprocess.TimeoutExpired:  # the daemon wrote its threads' stacks at 10 s (capture/cli.py)
        log = Path(process.args[-1]).parent / "capture.log"
        pytest.fail("foley capture did not stop in 30 s:\n" + log.read_text()[-6000:])
    assert code == 0


def _status() -> dict:
    from appliance.capture.control import DaemonUnavailable, call

    try:
        return call("status")[0]
    except DaemonUnavailable:
        return {}


def post(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def entry_of(base: str, recording_id: str) -> dict:
    return next((e for e in get_json(f"{base}/api/v1/record")["recent"] if e["id"] == recording_id), {})


def test_record_through_the_api_and_the_result_is_ready_right_after_the_stop(runtime, server, tmp_path):
    port = int(server.rsplit(":", 1)[1])
    capture = start_capture(tmp_path, port)
    try:
        status = get_json(f"{server}/api/v1/record")
        assert status["available"] is True and status["camera"]["name"] == "file camera demo.mp4"
        assert post(f"{server}/api/v1/record/stop")[0] == 409
        assert post(f"{server}/api/v1/record", {"seconds": "ten"})[0] == 400

        with urllib.request.urlopen(f"{server}/api/v1/preview.mjpg", timeout=10) as preview:
            assert preview.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            head = preview.read(4096)
            assert b"Content-Type: image/jpeg" in head and b"\xff\xd8" in head

        code, started = post(f"{server}/api/v1/record", {"description": "knocking on wood"})
        assert code == 202 and started["state"] == "recording" and started["seconds"] == 10
        entry = wait_for(lambda: (e := entry_of(server, started["id"])).get("job_id") and e, 40)
        job = wait_for(lambda: (j := get_json(f"{server}/api/v1/jobs/{entry['job_id']}"))["state"] == "done" and j, 30)
        latency = {"recording_seconds": entry["duration"], "stop_to_job_created": job["created"] - entry["stopped"],
                   "job_run": job["seconds"], "stop_to_result": job["finished"] - entry["stopped"]}
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "capture-latency.json").write_text(json.dumps(latency, indent=1) + "\n")
        print("capture hand-over:", latency)
        timeline = get_json(f"{server}/api/v1/jobs/{entry['job_id']}/timeline.json")
        assert timeline["clip"]["duration"] == pytest.approx(10 + started["preroll_seconds"], abs=0.3)
        assert timeline["events"], "the knocks were given sounds"
        assert timeline["stats"]["stage_seconds"].get("decode") is None, "the clip was not decoded again"

        code, second = post(f"{server}/api/v1/record", {"seconds": 30})
        time.sleep(1.5)
        assert post(f"{server}/api/v1/record/stop") == (202, {"state": "finishing", "id": second["id"]})
        assert wait_for(lambda: entry_of(server, second["id"]).get("job_id"), 30)
        time.sleep(0.6)  # a start right after a stop is taken for a double press
        code, third = post(f"{server}/api/v1/record", {"seconds": 30})
        assert code == 202, third
        time.sleep(0.6)
        assert post(f"{server}/api/v1/record/cancel")[0] == 200
        assert entry_of(server, third["id"])["state"] == "cancelled"
    finally:
        stop(capture)
    assert get_json(f"{server}/api/v1/record")["available"] is False


def test_a_recording_made_while_the_service_is_down_is_submitted_when_it_is_back(runtime, tmp_path):
    port = free_port()
    # Scored while recorded, a recording is filed in the history without the service: the
    # outbox is the path of a daemon that does not score (or could not).
    capture = start_capture(tmp_path, port, seconds=1.5, settings="  score_while_recording: false\n")
    server = None
    try:
        from appliance.capture.control import call

        started, _ = call("start")
        wait_for(lambda: _status()["waiting_for_service"] == 1, 30)
        time.sleep(1.0)
        assert _status()["waiting_for_service"] == 1, "it waits while nobody answers"
        server = subprocess.Popen([sys.executable, "-m", "appliance.cli", "serve", "--host", "127.0.0.1",
                                   "--port", str(port)], cwd=REPO, stderr=subprocess.DEVNULL,
                                  env={**os.environ, "FOLEY_STATE_DIR": str(tmp_path / "state")})
        entry = wait_for(lambda: next((e for e in _status()["recent"] if e.get("job_id")), None), 90)
        assert entry["id"] == started["id"] and _status()["waiting_for_service"] == 0
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: get_json(f"{base}/api/v1/jobs/{entry['job_id']}")["state"] == "done", 60)
    finally:
        stop(capture)
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(30)


def test_make_run_serves_with_the_file_camera_when_no_camera_exists(runtime, tmp_path):
    """`foley serve --capture` (what `make run` starts): the daemon is a supervised child, uses
    the file camera on its rendered demo clip, and submits to the port given on the command line."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "appliance.cli", "serve", "--capture", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=REPO, stderr=subprocess.DEVNULL,
                               env={**os.environ, "FOLEY_STATE_DIR": str(tmp_path / "state")})
    base = f"http://127.0.0.1:{port}"
    try:
        status = wait_for(lambda: (s := _get(f"{base}/api/v1/record")) and s.get("available") and s, 90)
        assert status["camera"]["name"] == "file camera demo.mp4"
        code, started = post(f"{base}/api/v1/record", {"seconds": 1.5, "description": "knocking"})
        assert code == 202
        entry = wait_for(lambda: (e := entry_of(base, started["id"])).get("job_id") and e, 60)
        wait_for(lambda: get_json(f"{base}/api/v1/jobs/{entry['job_id']}")["state"] == "done", 60)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert not (runtime / "capture.sock").exists(), "the daemon stopped with the service"


def _get(url: str) -> dict:
    try:
        return get_json(url)
    except OSError:
        return {}


def test_a_second_daemon_on_the_same_state_refuses_to_start_and_takes_nothing(runtime, tmp_path):  # noqa: F811
    from appliance.capture.control import call

    first = start_capture(tmp_path, free_port(), seconds=30)
    try:
        recording = call("start")[0]
        assert recording["ok"]
        second = run_foley("capture", "--config", str(tmp_path / "capture.yaml"),
                           env={"FOLEY_STATE_DIR": str(tmp_path / "state")}, timeout=60)
        assert second.returncode == 2
        assert f"another foley capture (pid {first.pid}) is running" in second.stderr
        status = _status()
        assert status["recording"]["id"] == recording["id"], "the first keeps its socket and its recording"
        assert list((tmp_path / "state" / "capture" / "recordings").glob(f".{recording['id']}.mp4.partial"))
    finally:
        stop(first)


def test_camera_previews_are_bounded(runtime, server, tmp_path):
    """Each preview stream holds a server thread for up to two minutes: 34 of them took every
    thread, and the page's requests (/healthz too) timed out. At most MAX_PREVIEWS stream at
    once; the next is told to come back (503, Retry-After), and a closed one frees its place."""
    from appliance.service.ops_api import MAX_PREVIEWS

    capture = start_capture(tmp_path, int(server.rsplit(":", 1)[1]))
    streams = []
    try:
        wait_for(lambda: get_json(f"{server}/api/v1/record")["available"], 30)
        for _ in range(MAX_PREVIEWS):
            streams.append(urllib.request.urlopen(f"{server}/api/v1/preview.mjpg", timeout=10))
            assert b"\xff\xd8" in streams[-1].read(4096)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server}/api/v1/preview.mjpg", timeout=10)
        assert refused.value.code == 503 and refused.value.headers["Retry-After"]
        assert "camera previews are already being watched" in json.loads(refused.value.read())["error"]
        assert get_json(f"{server}/healthz") == {"status": "ok"}
        streams.pop().close()

        def reopened():
            try:
                streams.append(urllib.request.urlopen(f"{server}/api/v1/preview.mjpg", timeout=10))
                return True
            except urllib.error.HTTPError as exc:
                assert exc.code == 503
                return False
        wait_for(reopened, 10)
    finally:
        for stream in streams:
            stream.close()
        stop(capture)
