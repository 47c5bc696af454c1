"""`foley bench capture`: a real service and daemon, recordings made and timed from stop to result;
its numbers checked against the capture config before anything starts, and a start the daemon
refuses said at once."""
from __future__ import annotations

import json

import pytest

from appliance.bench.capture import _started
from tests.conftest import run_foley


def test_bench_capture_one_short_recording():
    result = run_foley("bench", "capture", "--recordings", "1", "--seconds", "2", "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (row,) = report["recordings"]
    assert row["state"] == "done" and row["frames"] > 60 and row["events"] >= 1
    assert 0 < row["stop_to_job_created"] < row["stop_to_result"]
    assert report["median"]["stop_to_result"] == row["stop_to_result"]


@pytest.mark.parametrize("option, value, says", [
    ("--recordings", "0", "--recordings must be at least 1, not 0"),
    ("--seconds", "5000", "--seconds (capture) must be between 0.5 and 3600, not 5000.0"),
    ("--seconds", "0.2", "--seconds (capture) must be between 0.5 and 3600, not 0.2")])
def test_bench_capture_refuses_what_the_capture_config_would_before_starting(option, value, says):
    """--recordings 0 was a StatisticsError once the service and the daemon were up; --seconds
    over capture.record_seconds' range stopped the daemon at its start and the bench waited for
    it a minute, then said only "not done within 60 s"."""
    result = run_foley("bench", "capture", f"{option}={value}", timeout=60)
    assert result.returncode == 2 and result.stderr.strip() == f"foley bench: {says}", result.stderr


def test_bench_capture_says_when_the_daemon_refuses_a_start():
    """A refused start (over max_record_seconds, no camera, a full disk) used to be waited for
    until the poll's timeout: now its reason at once."""
    with pytest.raises(RuntimeError, match="refused to record: no camera: gone"):
        _started({"ok": False, "error": "no camera: gone", "status": 503})
    assert _started({"ok": True, "id": "r1"})["id"] == "r1"
