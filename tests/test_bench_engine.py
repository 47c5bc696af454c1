"""`foley bench` (the engine): rounds run round-robin, each against its own round's bare decode,
and the reported row is the median round of its configuration."""
from __future__ import annotations

import json

from tests.conftest import run_foley


def test_bench_engine_rounds(tmp_path):
    result = run_foley("bench", "--seconds", "2", "--rounds", "2", "--json",
                       env={"FOLEY_STATE_DIR": str(tmp_path)}, timeout=900)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rounds"] == 2 and len(report["bare_decode_rounds_s"]) == 2
    labels = [row["configuration"] for row in report["rows"]]
    assert labels[:2] == ["int8 + cache", "int8, cache off"]
    for row in report["rows"]:
        ratios = row["round_ratios"]
        assert len(ratios) == 2 and row["ratio_to_bare_decode"] == min(ratios)  # lower middle of two
        assert row["bare_decode_s"] in report["bare_decode_rounds_s"]
        assert abs(row["cold_s"] / row["bare_decode_s"] - row["ratio_to_bare_decode"]) < 1e-9
        assert row["events"] > 0 and row["peak_rss_mb"] > 0


def test_bench_engine_refuses_no_rounds():
    result = run_foley("bench", "--rounds", "0")
    assert result.returncode != 0 and "--rounds must be at least 1" in result.stderr
