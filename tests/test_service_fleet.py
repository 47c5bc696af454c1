"""Fleet mode for real: a web front end and two worker processes sharing Debian's redis-server
on loopback, as several boards would share one broker."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from appliance.video.synthetic import render_scene
from tests.conftest import REPO, free_port, get_json

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed (make test installs it)")


def start(args, env, log):
    with open(log, "w") as handle:
        return subprocess.Popen(args, cwd=REPO, env=env, stdout=handle, stderr=handle)


def test_two_workers_share_a_redis_queue(tmp_path):
    redis_port, web_port = free_port(), free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n"
                      f"queue:\n  backend: redis\n  redis_url: redis://127.0.0.1:{redis_port}/0\n")
    env = {**os.environ, "FOLEY_STATE_DIR": str(tmp_path / "state")}
    foley = [sys.executable, "-m", "appliance.cli"]
    processes = [start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no"], env, tmp_path / "redis.log")]
    try:
        processes.append(start(foley + ["serve", "--no-worker", "--host", "127.0.0.1", "--port", str(web_port),
                                        "--config", str(config)], env, tmp_path / "web.log"))
        processes += [start(foley + ["worker", "--config", str(config)], env, tmp_path / f"worker{i}.log")
                      for i in range(2)]
        base = f"http://127.0.0.1:{web_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                get_json(f"{base}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()[-2000:]
                time.sleep(0.2)
        clip = render_scene("steps", tmp_path / "clip.mp4", width=320, height=240, seconds=6, seed=2)
        ids = []
        for seed in range(4):
            posted = subprocess.run(["curl", "-sS", "-f", "-F", f"video=@{clip.path}", "-F", f"seed={seed}",
                                     f"{base}/api/v1/score"], capture_output=True, text=True, timeout=60)
            ids.append(json.loads(posted.stdout)["id"])
        deadline = time.monotonic() + 240
        while not all(get_json(f"{base}/api/v1/jobs/{i}")["state"] == "done" for i in ids):
            assert time.monotonic() < deadline, [get_json(f"{base}/api/v1/jobs/{i}") for i in ids]
            time.sleep(0.3)
        workers = {get_json(f"{base}/api/v1/jobs/{i}")["worker"] for i in ids}
        assert len(workers) == 2, f"both workers took jobs: {workers}"
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
