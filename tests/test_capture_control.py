"""The control socket (protocol, permissions), the GPIO button on gpiozero's mock pins, and
`foley record` with no daemon (and the options it refuses before asking one)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from appliance.capture.button import attach_button
from appliance.capture.cameras import FileCamera
from appliance.capture.control import BUSY, MAX_CONNECTIONS, ControlServer, DaemonUnavailable, call
from appliance.config import CaptureConfig
from appliance.video.synthetic import render_scene

from tests.conftest import run_foley
from tests.test_capture_daemon import FAST, history, make_daemon, wait_for


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("camera") / "camera.mp4"
    render_scene("stick", path, width=320, height=240, fps=30, seconds=3.0, seed=4)
    return path


@contextmanager
def serving(folder: Path, camera_clip: Path, path: Path):
    """A daemon with its control server on the socket `path`; yields (daemon, path)."""
    daemon = make_daemon(folder, lambda: FileCamera(camera_clip))
    server = ControlServer(path, daemon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield daemon, path
    finally:
        server.shutdown()
        server.server_close()
        daemon.shutdown()


@pytest.fixture
def control(tmp_path, camera_clip):
    with serving(tmp_path, camera_clip, tmp_path / "capture.sock") as served:
        yield served


def raw_request(path, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(str(path))
        connection.sendall(data)
        return connection.makefile("rb").readline()


def test_the_protocol_status_start_stop_preview_and_errors(control):
    daemon, path = control
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    status, _ = call("status", path)
    assert status["ok"] and status["camera"]["ok"] and status["state"] == "idle"
    reply, jpeg = call("preview", path)
    assert reply["ok"] and jpeg[:2] == b"\xff\xd8" and len(jpeg) == reply["bytes"]
    started, _ = call("start", path, description="door slam", seconds=20)
    assert started["ok"] and started["state"] == "recording"
    assert call("start", path)[0] == {"ok": False, "error": f"already recording ({started['id']})", "status": 409}
    time.sleep(0.8)
    stopped, _ = call("stop", path)
    assert stopped == {"ok": True, "state": "finishing", "id": started["id"]}
    assert call("cancel", path)[0]["status"] == 409
    assert call("start", path, seconds="ten")[0]["status"] == 400
    assert call("fly", path)[0] == {"ok": False, "error": "unknown command 'fly'", "status": 400}
    assert b'"status": 400' in raw_request(path, b"this is not json\n")
    assert b'"status": 400' in raw_request(path, b"[1, 2]\n")
    wait_for(lambda: history(daemon, started["id"]).get("state") == "waiting")


def test_seconds_must_be_a_number_a_bool_or_text_is_a_bad_request(control):
    daemon, path = control
    for seconds in (True, False, "10", [10]):  # `true` was taken as 1 s (a bool is an int in Python)
        reply, _ = call("start", path, seconds=seconds)
        assert reply == {"ok": False, "error": f"seconds must be a number, not {json.dumps(seconds)}", "status": 400}
    assert daemon.status()["state"] == "idle"


def test_json_nested_too_deeply_is_a_bad_request(control):
    _daemon, path = control
    # 30,000 deep, closed: Python 3.13's parser takes 5,000 (3.11's does not); the line stays under MAX_REQUEST
    reply = json.loads(raw_request(path, b'{"command": "status", "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}\n"))
    assert reply == {"ok": False, "error": "bad request: nested too deeply", "status": 400}
    assert call("status", path)[0]["ok"]


def test_a_description_that_is_not_utf8_is_refused_before_anything_is_recorded(control):
    daemon, path = control
    reply = json.loads(raw_request(path, b'{"command": "start", "description": "door \\ud800 slam"}\n'))
    assert reply == {"ok": False, "error": "description must be text (UTF-8)", "status": 400}
    assert daemon.status()["state"] == "idle" and daemon.status()["recent"] == []


def test_connections_beyond_the_limit_are_answered_busy_without_a_thread_each(control):
    _daemon, path = control
    silent = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(MAX_CONNECTIONS)]
    try:
        for connection in silent:
            connection.connect(str(path))
        wait_for(lambda: call("status", path)[0] == json.loads(BUSY))
        threads = threading.active_count()
        for _ in range(50):
            assert call("status", path)[0] == json.loads(BUSY)
        assert threading.active_count() <= threads
    finally:
        for connection in silent:
            connection.close()
    assert wait_for(lambda: call("status", path)[0]["ok"])


def test_no_daemon_is_a_clear_error(tmp_path):
    with pytest.raises(DaemonUnavailable, match="not running"):
        call("status", tmp_path / "nobody.sock")
    result = run_foley("record", "--status", env={"FOLEY_RUNTIME_DIR": str(tmp_path / "run")})
    assert result.returncode == 2
    assert "the capture daemon is not running" in result.stderr



@pytest.mark.parametrize("args, says", [
    (["--stop", "--description", "door"], "--description: only for starting a recording, not with --stop"),
    (["--stop", "-d", "door"], "--description: only for starting a recording, not with --stop"),  # -d as elsewhere
    (["--cancel", "--seconds", "5"], "--seconds: only for starting a recording, not with --cancel"),
    (["--status", "--description", "x", "--seconds", "5"], "--description and --seconds: only for starting a recording, "
                                               "not with --status"),
    (["--wait", "--timeout", "nan"], "--timeout must be a finite number of seconds above 0, not nan"),
    (["--wait", "--timeout=-5"], "--timeout must be a finite number of seconds above 0, not -5"),
    (["--status", "--wait"], "--wait: only for starting or stopping a recording, not with --status"),
    (["--cancel", "--wait", "--timeout", "5"], "--wait: only for starting or stopping a recording, not with --cancel"),
    (["--timeout", "5"], "--timeout: only with --wait"),
    (["--seconds", "nan"], "--seconds must be a finite number of seconds above 0, not nan"),
    (["--seconds", "0"], "--seconds must be a finite number of seconds above 0, not 0")])
def test_record_refuses_options_it_would_ignore_before_asking_the_daemon(tmp_path, monkeypatch, capsys, args, says):
    """--stop, --cancel and --status dropped --description and --seconds without a word (and
    --wait, --timeout); --wait --timeout nan never timed out and -5 was taken. One line, exit 2, before the socket is tried
    (here no daemon runs: it would have said so)."""
    from appliance.cli import main

    monkeypatch.setenv("FOLEY_RUNTIME_DIR", str(tmp_path / "run"))
    assert main(["record", *args]) == 2
    assert capsys.readouterr().err == f"foley record: {says}\n"


OTHER_USER = 65534  # `nobody` / `nogroup` on Debian

# Run as the other user: connect, ask for the status, print what happened (one word or the reply).
CONNECT_AS_OTHER_USER = """
import socket, sys
try:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(10)
        connection.connect(sys.argv[1])
        try:
            connection.sendall(b'{"command": "status"}\\n')
        except BrokenPipeError:  # a refused peer is answered and closed before its request is read
            pass
        print(connection.makefile("rb").readline().decode().strip() or "closed")
except PermissionError:
    print("refused")
"""


def as_other_user(interpreter: str, *arguments: str) -> subprocess.CompletedProcess:
    """A separate process as `nobody` with no supplementary groups. subprocess switches user
    between its own fork and exec, in C: unlike os.fork() in this threaded test process (which
    hangs on Python 3.13 when the child needs a lock another thread held), nothing runs Python
    code in between."""
    return subprocess.run([interpreter, "-I", *arguments], user=OTHER_USER, group=OTHER_USER,
                          extra_groups=[], env={"PATH": "/usr/bin:/bin"}, cwd="/",
                          capture_output=True, text=True, timeout=60)


def interpreter_for_other_user() -> str | None:
    """The test's own Python when `nobody` may run it, else the system's (a pyenv Python under
    /root, mode 0700, is out of its reach)."""
    for candidate in dict.fromkeys(filter(None, [sys.executable, "/usr/bin/python3", shutil.which("python3")])):
        try:
            if as_other_user(candidate, "-c", "pass").returncode == 0:
                return candidate
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


@pytest.fixture
def reachable_folder():
    """A folder every user may pass through (tmp_path's parents are 0700), so only the socket's
    own mode and the daemon's peer check stand between `nobody` and the socket."""
    folder = Path(tempfile.mkdtemp(prefix="foley-control-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_another_user_cannot_reach_the_socket(tmp_path, camera_clip, reachable_folder):
    interpreter = interpreter_for_other_user()
    if interpreter is None:
        pytest.skip("no Python interpreter that user 65534 may run")
    with serving(tmp_path, camera_clip, reachable_folder / "capture.sock") as (_, path):
        refused = as_other_user(interpreter, "-c", CONNECT_AS_OTHER_USER, str(path))
        assert (refused.returncode, refused.stdout.strip()) == (0, "refused"), refused.stderr
        path.chmod(0o666)  # a loosened mode: the daemon's peer check still turns `nobody` away
        answered = as_other_user(interpreter, "-c", CONNECT_AS_OTHER_USER, str(path))
        assert answered.returncode == 0, answered.stderr
        assert json.loads(answered.stdout) == {"ok": False, "error": "not allowed", "status": 403}


def test_the_gpio_button_press_starts_and_stops_a_long_press_cancels(tmp_path, camera_clip):
    config = CaptureConfig(**{**FAST.__dict__, "button_pin": 17, "button_bounce_ms": 10,
                              "button_hold_seconds": 0.6})
    daemon = make_daemon(tmp_path, lambda: FileCamera(camera_clip), config)
    factory = MockFactory()
    button = attach_button(daemon, config, pin_factory=factory)
    pin = factory.pin(17)

    def press(seconds: float) -> None:
        pin.drive_low()
        time.sleep(seconds)
        pin.drive_high()

    try:
        press(0.1)
        wait_for(lambda: daemon.status()["state"] == "recording", 2)
        first = daemon.status()["recording"]["id"]
        time.sleep(0.8)
        press(0.1)
        wait_for(lambda: daemon.status()["state"] == "idle", 2)
        assert wait_for(lambda: history(daemon, first).get("state") == "waiting")
        time.sleep(0.6)
        press(0.1)
        wait_for(lambda: daemon.status()["state"] == "recording", 2)
        second = daemon.status()["recording"]["id"]
        press(1.0)  # held past hold_seconds: cancelled, and the release does not start a new one
        time.sleep(0.3)
        assert history(daemon, second)["state"] == "cancelled"
        assert daemon.status()["state"] == "idle"
    finally:
        button.close()
        daemon.shutdown()


def test_without_gpio_the_daemon_runs_without_a_button(tmp_path, camera_clip, caplog):
    config = CaptureConfig(**{**FAST.__dict__, "button_pin": 17})
    daemon = make_daemon(tmp_path, lambda: FileCamera(camera_clip), config)
    try:
        assert attach_button(daemon, CaptureConfig()) is None  # no pin configured
        os.environ.pop("GPIOZERO_PIN_FACTORY", None)
        button = attach_button(daemon, config)  # off the Pi: no pin factory can drive GPIO 17
        if button is not None:  # a machine with real GPIO
            button.close()
        else:
            assert "no record button on GPIO 17" in caplog.text
    finally:
        daemon.shutdown()
