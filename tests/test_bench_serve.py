"""`foley bench serve`: concurrent uploads from a second process; every one answered, server up."""
from __future__ import annotations

import json

from tests.conftest import run_foley


def test_bench_serve_small_load():
    result = run_foley("bench", "serve", "--requests", "4", "--seconds", "1", "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["statuses"]) <= {"200", "503"} and sum(report["statuses"].values()) == 4
    assert report["completed"] >= 1 and report["server_alive_after"] is True
    assert report["p50_seconds"] > 0 and report["throughput_per_minute"] > 0
