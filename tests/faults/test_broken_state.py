"""The real service on broken state: started on garbage jobs, queue and cache databases (moved
aside or rebuilt, and it scores again), and on a small disk that fills up (a real 4 MB tmpfs:
507 before accepting work, cached results evicted, recovery once space is freed)."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from appliance.video.synthetic import render_scene
from tests.conftest import start_server


def test_serve_starts_with_garbage_databases_says_so_and_scores(tmp_path, ledger):
    service = tmp_path / "state" / "service"
    service.mkdir(parents=True)
    (service / "jobs.sqlite3").write_bytes(b"\x00garbage" * 500)
    (service / "queue.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\xff" * 3000)
    (tmp_path / "state" / "cache").mkdir()
    (tmp_path / "state" / "cache" / "cache.sqlite3").write_bytes(b"nonsense" * 100)
    (service / "uploads" / "tmpdead").mkdir(parents=True)
    (service / "uploads" / "tmpdead" / "big.flac").write_bytes(b"\0" * 100_000)
    (service / "uploads" / "upload-abc123").write_bytes(b"\0" * 100_000)
    started = time.monotonic()
    served = start_server(tmp_path)
    ledger.recovered("start to /healthz with damaged databases", started)
    try:
        notices = ledger.get_json(f"{served.base}/api/v1/version")["notices"]
        assert len(notices) == 2 and all("moved aside" in n for n in notices), notices
        assert ledger.get_json(f"{served.base}/api/v1/jobs")["jobs"] == []
        assert ledger.request("GET", f"{served.base}/metrics")[0] == 200
        clip = render_scene("stick", tmp_path / "clip.mp4", width=160, height=120, seconds=1, seed=1).path.read_bytes()
        assert ledger.upload(served.base, clip)[0] == 202  # work is accepted and scored again
        ledger.settle(expect={"done"}, wait=120)
        ledger.recovered("start to a job done on the rebuilt cache", started)
    finally:
        assert served.stop() == 0
    assert len(list(service.glob("jobs.sqlite3.corrupt-*Z"))) == 1
    assert len(list(service.glob("queue.sqlite3.corrupt-*Z"))) == 1
    assert list((service / "uploads").iterdir()) == []
    log = served.log_path.read_text()
    assert "Traceback" not in log and "moved aside" in log and "cache database" in log, log[-3000:]


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB file system for the state folder (tmpfs, where root can mount)."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here: mounting needs root (or CAP_SYS_ADMIN)")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_small_disk_refuses_work_evicts_results_and_recovers(tmp_path, small_disk, ledger):
    """The real service on a 4 MB disk, clips submitted until it is full: every answer is 202 or
    507 JSON with free/needed, given before the upload is stored (never a 500); the cached
    results are evicted under pressure first; every accepted job ends done or failed saying the
    disk is full (none lost); the service keeps answering; once jobs are deleted the next clip
    is accepted and scored (recovery timed)."""

    clip = render_scene("stick", tmp_path / "clip.mp4", width=320, height=240, seconds=3, seed=8).path.read_bytes()
    config = tmp_path / "config.yaml"
    config.write_text("service:\n  min_free_mb: 1\n")
    state_dir = small_disk / "state"
    served = start_server(tmp_path, env={"FOLEY_STATE_DIR": str(state_dir)}, args=("--config", str(config)))
    results = state_dir / "cache" / "results"
    try:
        statuses = []
        for seed in range(12):
            status, _, body = ledger.upload(served.base, clip, seed=str(seed))
            statuses.append(status)
            assert status in (202, 507), (status, body)
            if status == 507:
                assert {"free_mb", "needed_mb"} <= set(body) and "MB free" in body["error"], body
                assert not [p for p in results.iterdir() if not p.name.startswith(".")], "results not evicted"
                if statuses.count(507) == 2:
                    break
            else:
                ledger.settle(wait=120)  # one job at a time fills the disk step by step
        ledger.figures["small_disk_statuses"] = statuses
        assert 507 in statuses and 202 in statuses, statuses
        for job_id, job in ledger.settle().items():
            assert job["state"] == "done" or "disk is full" in (job["error"] or ""), job
        assert ledger.request("GET", f"{served.base}/metrics")[0] == 200
        freed = time.monotonic()
        for job_id in list(ledger.accepted):
            assert ledger.delete_job(served.base, job_id) == 204
        status, _, job = ledger.upload(served.base, clip, seed="99")
        assert status == 202, job
        ledger.recovered("space freed to clip accepted", freed)
        assert ledger.settle(expect={"done"})[job["id"]]["state"] == "done"
        ledger.recovered("space freed to clip scored", freed)
    finally:
        assert served.stop() == 0
    log = served.log_path.read_text()
    assert "internal error" not in log, log[-3000:]
    assert "cached results evicted" in log



def test_edits_on_a_full_disk_are_507_and_the_outputs_stay_whole(tmp_path, small_disk, ledger):
    """A finished job on a 4 MB disk, then the disk filled to the last byte: a move, a delete, an
    added sound, an undo and the first thumbnail each get 507 JSON (never a 500), the job's
    outputs stay as they were, and once space is freed the same edit goes through."""
    import errno
    import json

    clip = render_scene("stick", tmp_path / "clip.mp4", width=160, height=120, seconds=2, seed=8).path.read_bytes()
    config = tmp_path / "config.yaml"
    config.write_text("service:\n  min_free_mb: 1\n")
    state_dir = small_disk / "state"
    served = start_server(tmp_path, env={"FOLEY_STATE_DIR": str(state_dir)}, args=("--config", str(config)))
    base = served.base
    try:
        status, _, job = ledger.upload(base, clip)
        assert status == 202, job
        assert ledger.settle(expect={"done"})[job["id"]]["state"] == "done"
        jobs = f"{base}/api/v1/jobs/{job['id']}"
        first = ledger.get_json(f"{jobs}/timeline.json")["events"][0]
        folder = state_dir / "service" / "jobs" / job["id"]
        outputs = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".wav", ".mp4", ".json", ".txt")}
        filler = small_disk / "filler"
        def fill() -> None:
            """To the last byte (again: a refused edit may have evicted cached results first)."""
            descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            for size in (65536, 4096, 1):
                try:
                    while True:
                        os.write(descriptor, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
            os.close(descriptor)

        as_json = {"Content-Type": "application/json"}
        for method, url, body in (("PATCH", f"{jobs}/events/{first['n']}", {"time": round(first["time"] + 0.1, 3)}),
                                  ("DELETE", f"{jobs}/events/{first['n']}", None),
                                  ("POST", f"{jobs}/events", {"template_id": first["template_id"], "time": 0.5}),
                                  ("GET", f"{jobs}/thumbnail.jpg", None)):
            fill()
            status, _, answer = ledger.request(method, url, json.dumps(body).encode() if body else None,
                                               as_json if body else None)
            assert status == 507 and "disk" in json.loads(answer)["error"], (method, url, status, answer[:300])
        assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in outputs} == outputs
        filler.unlink()
        status, _, answer = ledger.request("PATCH", f"{jobs}/events/{first['n']}",
                                           json.dumps({"time": round(first["time"] + 0.1, 3)}).encode(), as_json)
        assert status == 200, answer[:300]
    finally:
        assert served.stop() == 0
    log = served.log_path.read_text()
    assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]
