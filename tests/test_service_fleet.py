"""Fleet mode for real: a web front end and two worker processes sharing Debian's redis-server
on loopback, as several boards would share one broker — first sharing the front end's disk, then
as boards that do not (each worker its own state directory, jobs travelling over HTTP)."""
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
        wait_up(base, tmp_path / "web.log")
        clip = render_scene("steps", tmp_path / "clip.mp4", width=320, height=240, seconds=6, seed=2)
        ids = [submit(base, clip.path, seed) for seed in range(4)]
        deadline = time.monotonic() + 240
        while not all(get_json(f"{base}/api/v1/jobs/{i}")["state"] == "done" for i in ids):
            assert time.monotonic() < deadline, [get_json(f"{base}/api/v1/jobs/{i}") for i in ids]
            time.sleep(0.3)
        workers = {get_json(f"{base}/api/v1/jobs/{i}")["worker"] for i in ids}
        assert len(workers) == 2, f"both workers took jobs: {workers}"
    finally:
        stop_all(processes)


def stop_all(processes) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_up(base: str, log) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            get_json(f"{base}/healthz")
            return
        except OSError:
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)


def submit(base: str, clip, seed: int) -> str:
    posted = subprocess.run(["curl", "-sS", "-f", "-F", f"video=@{clip}", "-F", f"seed={seed}", f"{base}/api/v1/score"],
                            capture_output=True, text=True, timeout=60)
    return json.loads(posted.stdout)["id"]


def test_worker_boards_without_a_shared_disk(tmp_path):
    redis_port, web_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    front = tmp_path / "front"
    (tmp_path / "front.yaml").write_text(f"state_dir: {front}\nqueue: {{backend: redis, redis_url: '{redis_url}', "
                                         "stale_seconds: 6}\n")
    foley = [sys.executable, "-m", "appliance.cli"]
    processes = [start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no"], dict(os.environ), tmp_path / "redis.log")]
    try:
        processes.append(start(foley + ["serve", "--no-worker", "--host", "127.0.0.1", "--port", str(web_port),
                                        "--config", str(tmp_path / "front.yaml")],
                               {**os.environ, "FOLEY_STATE_DIR": str(front)}, tmp_path / "web.log"))
        base = f"http://127.0.0.1:{web_port}"
        wait_up(base, tmp_path / "web.log")
        token = (front / "api-token").read_text().strip()
        workers = {}
        for name in ("board-b", "board-c"):
            config = tmp_path / f"{name}.yaml"
            config.write_text(f"state_dir: {tmp_path / name}\nqueue: {{backend: redis, redis_url: '{redis_url}', "
                              f"frontend_url: '{base}', frontend_token: '{token}'}}\n")
            process = start(foley + ["worker", "--config", str(config)],
                            {**os.environ, "FOLEY_STATE_DIR": str(tmp_path / name)}, tmp_path / f"{name}.log")
            workers[process.pid] = process
            processes.append(process)

        clip = render_scene("steps", tmp_path / "clip.mp4", width=320, height=240, seconds=6, seed=2).path
        ids = [submit(base, clip, seed) for seed in range(4)]
        deadline = time.monotonic() + 240
        while not all(get_json(f"{base}/api/v1/jobs/{i}")["state"] == "done" for i in ids):
            assert time.monotonic() < deadline, [get_json(f"{base}/api/v1/jobs/{i}") for i in ids]
            time.sleep(0.3)
        done = [get_json(f"{base}/api/v1/jobs/{i}") for i in ids]
        assert {int(job["worker"].rsplit(":", 1)[1]) for job in done} == set(workers), "both boards took jobs"
        for job_id in ids:  # the results are on the front end's disk, the boards kept nothing
            assert (front / "service" / "jobs" / job_id / "audio.wav").stat().st_size > 1000
            assert get_json(f"{base}/api/v1/jobs/{job_id}/timeline.json")["events"]
        for name in ("board-b", "board-c"):
            assert not list((tmp_path / name / "service" / "remote-jobs").iterdir())
            assert not (tmp_path / name / "service" / "jobs.sqlite3").exists()

        # A board that dies mid-job: its job is queued again and the other board scores it.
        long_clip = render_scene("steps", tmp_path / "long.mp4", width=320, height=240, seconds=40, seed=3).path
        job_id = submit(base, long_clip, 9)
        deadline = time.monotonic() + 60
        while (job := get_json(f"{base}/api/v1/jobs/{job_id}"))["state"] != "running":
            assert time.monotonic() < deadline and job["state"] == "queued", job
            time.sleep(0.05)
        victim = workers[int(job["worker"].rsplit(":", 1)[1])]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        deadline = time.monotonic() + 120
        while (job := get_json(f"{base}/api/v1/jobs/{job_id}"))["state"] != "done":
            assert time.monotonic() < deadline and job["state"] != "failed", job
            time.sleep(0.3)
        assert job["attempts"] == 2 and int(job["worker"].rsplit(":", 1)[1]) != victim.pid
    finally:
        stop_all(processes)
