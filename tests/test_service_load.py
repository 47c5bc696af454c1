"""Connection exhaustion and long waits, against the app served by the real server set-up
(appliance.service.server) in this process, in bounded time. The full figures (500 connections
held 60 s) come from the same harness, tests/reliability.py, and are in docs/benchmarks.md."""
from __future__ import annotations

import time

import pytest

from appliance.config import Config, ServiceConfig
from appliance.video.synthetic import render_scene
from tests.reliability import slow_headers, start_app_server, timed_get, waiters


@pytest.fixture
def served(tmp_path):
    started = []

    def start(**service):
        base, server = start_app_server("foley", Config(service=ServiceConfig(**service)), tmp_path / "service")
        started.append(server)
        return base

    (tmp_path / "service").mkdir()
    yield start
    for server in started:
        server.close()


def test_slow_header_clients_do_not_stop_normal_requests(served):
    """500 connections trickling header lines (5x waitress's default connection limit, which
    they filled: 0 requests answered): normal requests keep being answered in < 1 s, and the
    slow ones are closed once their headers are older than header_timeout."""
    base = served(header_timeout=2.0)
    result = slow_headers(base, connections=500, hold=6.0, every=1.0, probe_every=0.5)
    assert result["probes"] >= 8 and result["answered"] == result["probes"], result
    assert result["max_latency_s"] < 1.0, result
    assert result["closed_by_server"] >= 450, result
    assert timed_get(base) is not None


def test_waiters_are_bounded_and_do_not_hold_the_page(served, tmp_path):
    """20 `?wait=1` uploads waiting on jobs that never run: /healthz answers in < 100 ms, and a
    21st waiter gets 503 with Retry-After at once."""
    base = served(max_waiters=20)
    clip = render_scene("stick", tmp_path / "c.mp4", width=160, height=120, seconds=1, seed=1).path.read_bytes()
    result = waiters(base, 20, clip)
    assert result["healthz_max_s"] < 0.1, result
    assert result["extra_waiter_status"] == 503 and result["extra_waiter_retry_after"], result
    assert result["extra_waiter_s"] < 2.0, result
    # Release the waiters: each gets 410 once its job is deleted.
    import json
    import urllib.request

    jobs = json.loads(urllib.request.urlopen(f"{base}/api/v1/jobs", timeout=10).read())["jobs"]
    assert len(jobs) == 20 and all(j["state"] == "queued" for j in jobs)
    for job in jobs:
        urllib.request.urlopen(urllib.request.Request(f"{base}/api/v1/jobs/{job['id']}", method="DELETE"), timeout=10)
    time.sleep(0.5)


def test_a_burst_of_50_uploads_is_202_or_503_never_500(served, tmp_path):
    """50 uploads at once (no worker running): exactly queue.max_waiting (20) are accepted, the
    rest get 503 with Retry-After, none fails otherwise, and the page keeps answering."""
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    base = served()
    clip = render_scene("stick", tmp_path / "c.mp4", width=160, height=120, seconds=1, seed=1).path.read_bytes()
    boundary = "burstboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"video\"; filename=\"c.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode() + clip + f"\r\n--{boundary}--\r\n".encode()

    def post(_):
        request = urllib.request.Request(f"{base}/api/v1/score", data=body, method="POST",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Retry-After")

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(post, range(50)))
    statuses = sorted(status for status, _ in answers)
    assert set(statuses) <= {202, 503}, statuses
    assert statuses.count(202) == 20, statuses
    assert all(retry for status, retry in answers if status == 503)
    assert timed_get(base) is not None
