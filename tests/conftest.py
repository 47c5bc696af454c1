"""Shared test fixtures: an isolated state directory for every test, CLI helpers, and the real
server (`foley serve` on loopback) for the service's integration and browser tests."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"
STRICT = os.environ.get("FOLEY_TESTS_STRICT") == "1"
MISSING_INSTALL = ("not installed", "could not import")
"""Skip reasons that mean a package `make test` installs is missing (scripts/system-packages.txt,
the dev extra). A developer's machine without root skips those tests; CI (.ci/run sets
FOLEY_TESTS_STRICT=1) fails them: a broken install step would otherwise pass as skips."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if any(words in reason for words in MISSING_INSTALL):
            report.outcome = "failed"
            report.longrepr = f"FOLEY_TESTS_STRICT: skipped for a missing install: {reason}"


@pytest.fixture(scope="session", autouse=True)
def session_state(tmp_path_factory) -> Iterator[Path]:
    """A state directory for the fixtures made before any test's own (module and session ones:
    pytest makes wider fixtures first), so that they never read or write the user's real state
    either: one of them read the machine's user library, and a sound of the user's failed it."""
    with pytest.MonkeyPatch.context() as patch:
        state = tmp_path_factory.mktemp("session-state")
        patch.setenv("FOLEY_STATE_DIR", str(state))
        yield state


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    """Every test gets its own state directory, so tests never touch a user's state."""
    state = tmp_path / "state"
    monkeypatch.setenv("FOLEY_STATE_DIR", str(state))
    return state


def run_foley(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `foley` command line in a child process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", *args],
        capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO,
    )


@contextlib.contextmanager
def small_disk(folder: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "4m") mounted on `folder`, made for the block: a disk that fills
    up (or, `read_only`, an empty one nothing can be written to). Skips the test where mounting
    is not allowed (it needs root, or CAP_SYS_ADMIN)."""
    folder.mkdir()
    options = f"size={size}" + (",ro" if read_only else "")
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here: mounting needs root (or CAP_SYS_ADMIN)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def quiet_handler():
    """A BaseHTTPRequestHandler that logs nothing (the test's output stays the test's)."""
    from http.server import BaseHTTPRequestHandler

    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass
    return Quiet


@contextlib.contextmanager
def http_server(handler) -> Iterator[str]:
    """A small HTTP server on a free loopback port, answering with `handler` (a
    BaseHTTPRequestHandler class) in threads, for the block; yields its base URL."""
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fill_leaving(folder: Path, room: int) -> None:
    """Fill the disk of `folder` with a file `filler` until `room` bytes are left free."""
    disk = os.statvfs(folder)
    (folder / "filler").write_bytes(b"\0" * (disk.f_bavail * disk.f_frsize - room))


def trace_durability(monkeypatch, rows: Callable[[], int]) -> list[tuple[str, str, int]]:
    """The steps that make a file durable, as they happen: ("fsync", the synced file's or
    folder's name, rows()) and ("replace", the target's name, rows()), `rows` saying at each how
    far the database is (the rows a crash would find committed)."""
    steps = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        steps.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}")).name, rows()))
        return real_fsync(fd)

    def replace(src, dst):
        steps.append(("replace", Path(dst).name, rows()))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return steps


def timeline_text() -> str:
    """A minimal timeline.json as a worker's result carries it (no events, no bed): the result
    route refuses one that does not read as a Timeline."""
    from appliance.engine.timeline import AmbienceEntry, ClipInfo, OutputSpec, Stats, Timeline

    return json.dumps(Timeline(engine={}, clip=ClipInfo("clip.mp4", 1.0, 64, 48, 5.0, 5), request={},
                               library_version="x", models={}, output=OutputSpec(48000, 2, -20.0, -1.0), events=[],
                               ambience=AmbienceEntry(category=None, why="test", template_id=None, licence=None),
                               stats=Stats(0, 0, 0, 0, {}, 0.0)).to_json())

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


class Served:
    """A running `foley serve`: its base URL, process and log file."""

    def __init__(self, base: str, process: subprocess.Popen, log_path: Path):
        self.base, self.process, self.log_path = base, process, log_path

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


def start_server(tmp_path: Path, host: str = "127.0.0.1", env: dict | None = None, args: tuple = (),
                 timeout: float = 60, port: int | None = None) -> Served:
    """`foley serve` on `port` (default a free one) with the state directory tmp_path/state,
    awaited on /healthz. Its log goes to a file (a pipe nobody reads would block the server once full)."""
    port = port or free_port()
    full_env = {**os.environ, "FOLEY_STATE_DIR": str(tmp_path / "state"), **(env or {})}
    log_path = tmp_path / "server.log"
    with open(log_path, "a") as log:
        process = subprocess.Popen([sys.executable, "-m", "appliance.cli", "serve", "--host", host,
                                    "--port", str(port), *args], cwd=REPO, env=full_env, stderr=log, text=True)
    base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if get_json(f"{base}/healthz")["status"] == "ok":
                return Served(base, process, log_path)
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    process.kill()
    pytest.fail("the server did not come up: " + log_path.read_text()[-2000:])


@pytest.fixture
def server(request, tmp_path):
    """`foley serve` on a free loopback port with its own state directory; yields the base URL.
    Another address to listen on can be given by indirect parametrization (a LAN client's view)."""
    served = start_server(tmp_path, getattr(request, "param", "127.0.0.1"))
    yield served.base
    assert served.stop() == 0


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> dict:
    """A still scene and a stick knocking, 4 s at 320×240 (rendered once per module), by name."""
    from appliance.video.synthetic import render_scene

    folder = tmp_path_factory.mktemp("scenes")
    return {scene: render_scene(scene, folder / f"{scene}.mp4", width=320, height=240, fps=30, seconds=4, seed=7)
            for scene in ("still", "stick")}


@pytest.fixture(scope="module")
def uncached_engine():
    from appliance.engine.pipeline import Engine

    return Engine(cache=None)

