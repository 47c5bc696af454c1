"""`foley bench live`'s measurement on a short drops clip: contacts are matched to the sounds
started for them and counted, the latencies come from the frames' capture times (their size is
not asserted: the machine is shared; the figures are in docs/benchmarks.md)."""
import pytest

from appliance.bench.live import DROP_SECONDS, MATCH_S, bench_scene, render_drops
from appliance.config import LiveConfig
from appliance.engine.pipeline import Engine


def test_drops_repeat_one_bounce_with_known_contacts(tmp_path):
    clip = render_drops(tmp_path / "drops.mp4", 3 * DROP_SECONDS, seed=11)
    per_drop = len(clip.impacts) // 3
    assert per_drop >= 1 and len(clip.impacts) == 3 * per_drop
    assert clip.impacts[per_drop] - clip.impacts[0] == pytest.approx(clip.duration / 3)


def test_bench_scene_matches_sounds_to_contacts(tmp_path):
    result = bench_scene("drops", 3 * DROP_SECONDS / 3.5, LiveConfig(output="seam"), tmp_path, 11, Engine())
    assert result["contacts"] >= 3
    assert len(result["matched"]) + result["missed"] == result["contacts"]
    # A sound the model placed a few frames before the contact (it may fire on the falling ball's
    # last frames) is matched with a latency below zero, by at most the matching window.
    assert len(result["matched"]) >= 1 and all(-MATCH_S < latency < 1 for latency in result["matched"])
    assert len(result["all"]) == len(result["matched"]) + result["extra"]
    assert result["report"]["output"].startswith("audio seam")
