"""Shared test fixtures: an isolated state directory for every test, CLI helpers, and the real
server (`foley serve` on loopback) for the service's integration and browser tests."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def server(request, tmp_path):
    """`foley serve` on a free loopback port with its own state directory; yields the base URL.
    Another address to listen on can be given by indirect parametrization (a LAN client's view).
    Its log goes to a file (a pipe nobody reads would block the server once full)."""
    host = getattr(request, "param", "127.0.0.1")
    port = free_port()
    env = {**os.environ, "FOLEY_STATE_DIR": str(tmp_path / "state")}
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "appliance.cli", "serve", "--host", host,
                                    "--port", str(port)], cwd=REPO, env=env, stderr=log, text=True)
    base = f"http://{host}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if get_json(f"{base}/healthz")["status"] == "ok":
                break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the server did not come up: " + log_path.read_text()[-2000:])
    yield base
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
