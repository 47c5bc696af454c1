"""The real server: `foley serve` on loopback with its worker process, used with curl."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import soundfile as sf

from appliance.video.synthetic import render_scene
from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = {**os.environ, "FOLEY_STATE_DIR": str(tmp_path / "state")}
    process = subprocess.Popen([sys.executable, "-m", "appliance.cli", "serve", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if get_json(f"{base}/healthz")["status"] == "ok":
                break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the server did not come up: " + process.stderr.read()[-2000:])
    yield base
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


def test_curl_one_liner_returns_the_wav(server, tmp_path):
    clip = render_scene("stick", tmp_path / "clip.mp4", width=320, height=240, seconds=3, seed=8)
    out = tmp_path / "clip.wav"
    result = subprocess.run(["curl", "-sS", "-f", "-F", f"video=@{clip.path}", "-F", "description=door slam",
                             f"{server}/api/v1/score?wait=1", "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    audio, rate = sf.read(out, always_2d=True)
    assert rate == 48000 and audio.shape[1] == 2 and abs(len(audio) / rate - clip.duration) < 0.05
    jobs = get_json(f"{server}/api/v1/jobs")["jobs"]
    assert jobs[0]["state"] == "done" and jobs[0]["description"] == "door slam"


def test_worker_killed_mid_job_reruns_it(server, tmp_path):
    """kill -9 of the worker while it scores: the job is re-run by the restarted worker, not lost."""
    clip = render_scene("steps", tmp_path / "long.mp4", width=640, height=360, seconds=40, seed=3)
    result = subprocess.run(["curl", "-sS", "-f", "-F", f"video=@{clip.path}", f"{server}/api/v1/score"],
                            capture_output=True, text=True, timeout=60)
    job_id = json.loads(result.stdout)["id"]
    deadline = time.monotonic() + 60
    while (job := get_json(f"{server}/api/v1/jobs/{job_id}"))["state"] != "running":
        assert time.monotonic() < deadline and job["state"] == "queued", job
        time.sleep(0.05)
    os.kill(int(job["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    deadline = time.monotonic() + 240
    while (job := get_json(f"{server}/api/v1/jobs/{job_id}"))["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    assert job["state"] == "done" and job["attempts"] == 2, job
