"""`foley bench` (the engine): rounds run round-robin, each against its own round's bare decode,
and the reported row is the median round of its configuration; the engine decodes on --threads
threads as the bare decode does. `foley bench models`: its options checked before any model loads."""
from __future__ import annotations

import json

import pytest

from tests.conftest import run_foley


def test_bench_engine_rounds(tmp_path):
    result = run_foley("bench", "--seconds", "2", "--rounds", "2", "--threads", "1", "--json",
                       env={"FOLEY_STATE_DIR": str(tmp_path)}, timeout=900)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rounds"] == 2 and len(report["bare_decode_rounds_s"]) == 2 and report["threads"] == 1
    labels = [row["configuration"] for row in report["rows"]]
    assert labels[:2] == ["int8 + cache", "int8, cache off"]
    for row in report["rows"]:
        ratios = row["round_ratios"]
        assert len(ratios) == 2 and row["ratio_to_bare_decode"] == min(ratios)  # lower middle of two
        assert row["bare_decode_s"] in report["bare_decode_rounds_s"]
        assert abs(row["cold_s"] / row["bare_decode_s"] - row["ratio_to_bare_decode"]) < 1e-9
        assert row["events"] > 0 and row["peak_rss_mb"] > 0
        assert row["decode_threads"] == 1, "the engine decoded on the bare decode's threads (was default_threads())"


@pytest.mark.parametrize("args, says", [
    (["--rounds", "0"], "--rounds must be at least 1, not 0"), (["--threads", "0"], "--threads must be at least 1, not 0"),
    (["--seconds", "0"], "--seconds must be a finite number of seconds above 0, not 0"),
    (["--seconds", "601"], "--seconds: the engine takes clips of at most 600 s, not 601"),
    (["models", "--model-threads", "abc"], "--model-threads must be a whole number of at least 1, not 'abc'"),
    (["models", "--model-threads=1,-3"], "--model-threads must be at least 1, not -3"),
    (["models", "--repeat", "0"], "--repeat must be at least 1, not 0"),
    (["models", "--model-threads", "1,20000"], "--model-threads must be at most 64, not 20000")])
def test_bench_refuses_counts_below_one_before_any_work(args, says):
    """--model-threads abc was a traceback and -3 was taken; --repeat 0 a StatisticsError once
    the models were loaded; --threads 0 gave the engine its default threads and the bare decode
    one; --seconds 0 was taken as the default length. Now one line and exit 2, at once."""
    result = run_foley("bench", *args, timeout=60)
    assert result.returncode == 2 and result.stderr.strip() == f"foley bench: {says}", result.stderr


def test_an_engine_run_that_fails_says_why_at_once(tmp_path):
    """A clip the engine child refused left the parent waiting an hour for figures."""
    import multiprocessing
    import time

    from appliance.bench.engine import _run_child
    from appliance.errors import UsageError

    not_a_clip = tmp_path / "clip.mp4"
    not_a_clip.write_bytes(b"not a video")
    started = time.monotonic()
    with pytest.raises(UsageError, match=r"the int8 engine run on .*clip.mp4 failed: .*clip.mp4"):
        _run_child(multiprocessing.get_context("spawn"), not_a_clip, "int8", False, tmp_path / "near.mkv", 1)
    assert time.monotonic() - started < 60


def test_a_damaged_clip_is_one_line_before_anything_is_made_of_it(tmp_path):
    """An MP4 with its index first, cut in half, opens and probes fine: the bare decode's timing
    raised FFmpeg's InvalidDataError as a traceback, after a re-encode of it had been made."""
    import av

    from appliance.video.synthetic import render_scene

    clip = render_scene("stick", tmp_path / "clip.mp4", width=320, height=240, seconds=3, seed=1).path
    faststart = tmp_path / "faststart.mp4"
    with av.open(str(clip)) as source, av.open(str(faststart), "w", options={"movflags": "faststart"}) as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    data = faststart.read_bytes()
    faststart.write_bytes(data[: len(data) // 2])
    result = run_foley("bench", str(faststart), env={"FOLEY_STATE_DIR": str(tmp_path / "state")}, timeout=120)
    assert result.returncode == 2 and result.stderr.strip() == f"foley bench: {faststart}: corrupt or truncated video data", \
        result.stderr
    assert not list((tmp_path / "state").glob("bench/*reencoded*"))
