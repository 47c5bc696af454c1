"""`foley bench capture`: a real service and daemon, recordings made and timed from stop to result."""
from __future__ import annotations

import json

from tests.conftest import run_foley


def test_bench_capture_one_short_recording():
    result = run_foley("bench", "capture", "--recordings", "1", "--seconds", "2", "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (row,) = report["recordings"]
    assert row["state"] == "done" and row["frames"] > 60 and row["events"] >= 1
    assert 0 < row["stop_to_job_created"] < row["stop_to_result"]
    assert report["median"]["stop_to_result"] == row["stop_to_result"]
