"""Load: slow-header clients, many `?wait=1` waiters, a burst of uploads — against the app served
by the real server set-up (appliance.service.server) in this process, in bounded time. The full
figures (500 connections held 60 s) come from the same harness, tests/reliability.py, and are in
docs/benchmarks.md."""
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


def test_slow_header_clients_do_not_stop_normal_requests(served, ledger):
    """500 connections trickling header lines (5x waitress's default connection limit, which
    they filled: 0 requests answered): normal requests — /healthz and the page — keep being
    answered in < 1 s, and the slow ones are closed once their headers are older than
    header_timeout."""
    base = served(header_timeout=2.0)
    result = slow_headers(base, connections=500, hold=6.0, every=1.0, probe_every=0.5, paths=("/healthz", "/"))
    ledger.figures.update(result)
    assert result["probes"] >= 8 and result["answered"] == result["probes"], result
    assert result["max_latency_s"] < 1.0, result
    assert result["closed_by_server"] >= 450, result
    assert timed_get(base) is not None


def test_waiters_are_bounded_and_do_not_hold_the_page(served, tmp_path, ledger):
    """20 `?wait=1` uploads waiting on jobs that never run: /healthz keeps being answered (within
    a second: a held page waits for good; its latency is a figure of tests/reliability.py, not a
    pass mark on a shared machine), and a 21st waiter gets 503 with Retry-After at once."""
    base = served(max_waiters=20)
    clip = render_scene("stick", tmp_path / "c.mp4", width=160, height=120, seconds=1, seed=1).path.read_bytes()
    result = waiters(base, 20, clip)
    ledger.figures.update(result)
    assert result["healthz_max_s"] < 1.0, result
    assert result["extra_waiter_status"] == 503 and result["extra_waiter_retry_after"], result
    assert result["extra_waiter_s"] < 2.0, result
    # None lost; then the waiters are released: each gets 410 once its job is deleted.
    jobs = ledger.get_json(f"{base}/api/v1/jobs")["jobs"]
    assert len(jobs) == 20 and all(j["state"] == "queued" for j in jobs)
    for job in jobs:
        assert ledger.delete_job(base, job["id"]) == 204
    time.sleep(0.5)


def test_a_burst_of_50_uploads_is_202_or_503_never_500(served, tmp_path, ledger):
    """50 uploads at once (no worker running): exactly queue.max_waiting (20) are accepted and
    all 20 are queued afterwards (none lost), the rest get 503 with Retry-After, none fails
    otherwise, and the page keeps answering."""
    from concurrent.futures import ThreadPoolExecutor

    base = served()
    clip = render_scene("stick", tmp_path / "c.mp4", width=160, height=120, seconds=1, seed=1).path.read_bytes()
    started = time.monotonic()
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: ledger.upload(base, clip)[:2], range(50)))
    statuses = sorted(status for status, _ in answers)
    ledger.figures.update(burst=50, accepted=statuses.count(202), refused_503=statuses.count(503),
                          burst_s=round(time.monotonic() - started, 2))
    assert set(statuses) <= {202, 503}, statuses
    assert statuses.count(202) == 20, statuses
    assert all(head.get("Retry-After") for status, head in answers if status == 503)
    assert timed_get(base) is not None
    ledger.settle(expect={"queued"}, wait=0)
