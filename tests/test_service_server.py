"""The real server: `foley serve` on loopback with its worker process, used with curl (its
faults — kill -9 of the worker or of serve — are in tests/faults/test_kill.py)."""
from __future__ import annotations

import subprocess

import soundfile as sf

from appliance.video.synthetic import render_scene
from tests.conftest import get_json


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
