"""The real server (`foley serve` with its worker) against hostile pages and an unlucky board:
DNS rebinding with curl, a read-only HOME. (Its faults — killed, slow clients, waiters, a small
disk — are in tests/faults/.)"""
from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from appliance.video.synthetic import render_scene
from tests.conftest import start_server


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
