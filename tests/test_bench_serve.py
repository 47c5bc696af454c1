"""`foley bench serve`: concurrent uploads from a second process; every one answered, server up;
its numbers checked before any clip is rendered or server started."""
from __future__ import annotations

import json

import pytest

from tests.conftest import run_foley


def test_bench_serve_small_load():
    result = run_foley("bench", "serve", "--requests", "4", "--seconds", "1", "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["statuses"]) <= {"200", "503"} and sum(report["statuses"].values()) == 4
    assert report["completed"] >= 1 and report["server_alive_after"] is True
    assert report["p50_seconds"] > 0 and report["throughput_per_minute"] > 0


@pytest.mark.parametrize("option, value, says", [
    ("--concurrency", "-1", "--concurrency must be at least 1, not -1"),
    ("--requests", "0", "--requests must be at least 1, not 0"),
    ("--seconds", "-1", "--seconds must be a finite number of seconds above 0, not -1"),
    ("--seconds", "nan", "--seconds must be a finite number of seconds above 0, not nan"),
    ("--seconds", "0", "--seconds must be a finite number of seconds above 0, not 0")])
def test_bench_serve_refuses_bad_numbers_at_once(option, value, says):
    """--concurrency -1 was the thread pool's ValueError, --seconds -1 an IndexError and nan a
    ValueError from rendering the clip; --seconds 0 was silently the default 3 s."""
    result = run_foley("bench", "serve", f"{option}={value}", timeout=60)
    assert result.returncode == 2 and result.stderr.strip() == f"foley bench: {says}", result.stderr
