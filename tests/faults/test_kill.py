"""kill -9 mid-job, of the scoring worker and of `foley serve` itself: the job is not lost — it is
run again to the end (attempts 2) — and the time to recover is measured."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from appliance.video.synthetic import render_scene
from tests.conftest import start_server


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> bytes:
    """A clip long enough (12 s) that the worker is still on it when it is killed."""
    folder = tmp_path_factory.mktemp("kill")
    return render_scene("steps", folder / "long.mp4", width=320, height=240, seconds=12, seed=3).path.read_bytes()


def running_job(ledger, base: str, clip: bytes, wait: float = 90) -> dict:
    """Submit `clip` and return its job once a worker has started on it (its pid in job["worker"])."""
    status, _, job = ledger.upload(base, clip)
    assert status == 202, job
    deadline = time.monotonic() + wait
    while (job := ledger.get_json(f"{base}/api/v1/jobs/{job['id']}"))["state"] != "running":
        assert time.monotonic() < deadline and job["state"] == "queued", job
        time.sleep(0.05)
    return job


def rerun_to_done(ledger, base: str, job_id: str, since: float, cause: str, wait: float = 120) -> None:
    """The job is run again by a new worker (attempts 2) to `done`; the times from `since` (the
    kill or the restart, `cause`) to its resuming and to its end are recorded."""
    deadline = time.monotonic() + wait
    while (job := ledger.get_json(f"{base}/api/v1/jobs/{job_id}"))["attempts"] < 2 and job["state"] != "done":
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    ledger.recovered(f"{cause} to job resumed", since)
    done = ledger.settle(expect={"done"})[job_id]
    ledger.recovered(f"{cause} to job done", since)
    assert done["attempts"] == 2, done


def test_worker_killed_mid_job_reruns_it(tmp_path, long_clip, ledger):
    served = start_server(tmp_path)
    try:
        job = running_job(ledger, served.base, long_clip)
        killed = time.monotonic()
        os.kill(int(job["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
        rerun_to_done(ledger, served.base, job["id"], killed, "kill")
    finally:
        assert served.stop() == 0


def test_serve_killed_mid_job_leaves_no_orphan_worker_and_the_job_is_done_after_restart(tmp_path, long_clip, ledger):
    """kill -9 of `foley serve` while its worker scores: the worker does not outlive it, and the
    restarted service re-runs the interrupted job to the end."""
    served = start_server(tmp_path)
    job = running_job(ledger, served.base, long_clip)
    worker_pid = int(job["worker"].rsplit(":", 1)[1])
    served.process.send_signal(signal.SIGKILL)
    served.process.wait(10)
    deadline = time.monotonic() + 10
    try:
        while Path(f"/proc/{worker_pid}").exists() and "zombie" not in Path(f"/proc/{worker_pid}/status").read_text():
            assert time.monotonic() < deadline, "the worker outlived foley serve"
            time.sleep(0.1)
    except AssertionError:
        os.kill(worker_pid, signal.SIGKILL)  # no orphan left behind by a failing test
        raise
    except FileNotFoundError:
        pass  # gone between the checks
    restarted = time.monotonic()
    again = start_server(tmp_path)
    ledger.recovered("restart to /healthz", restarted)
    try:
        ledger.accepted[job["id"]] = again.base
        rerun_to_done(ledger, again.base, job["id"], restarted, "restart")
    finally:
        assert again.stop() == 0
