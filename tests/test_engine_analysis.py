"""The streaming analysis pass: the decode thread changes nothing but the timing."""
from __future__ import annotations

import threading

import pytest

from appliance.engine.analysis import ANALYSIS_WIDTH, _ahead, analyse_clip
from appliance.engine.framehash import frame_hash
from appliance.errors import UsageError
from appliance.motion import detect_events
from appliance.video import iter_frames
from appliance.video.synthetic import render_scene


def test_decoding_ahead_gives_the_serial_result(tmp_path):
    clip = render_scene("stick", tmp_path / "stick.mp4", width=320, height=240, fps=30, seconds=3, seed=3).path
    analysis = analyse_clip(clip, 60, 2)
    events, trace = detect_events(iter_frames(clip, ANALYSIS_WIDTH, threads=2))
    assert [(e.time, e.kind, e.frame_index) for e in analysis.events] == [(e.time, e.kind, e.frame_index) for e in events]
    assert analysis.trace.flow == trace.flow
    for keyframe in [*analysis.keyframes.values(), *analysis.scene]:
        assert keyframe.hash == frame_hash(keyframe.grey) and keyframe.bgr.shape[:2] == keyframe.grey.shape


def test_a_decoder_error_reaches_the_consumer_in_order():
    def frames():
        yield 1
        yield 2
        raise UsageError("corrupt after frame 2")

    received = []
    with pytest.raises(UsageError, match="corrupt"):
        for item in _ahead(frames(), 1):
            received.append(item)
    assert received == [1, 2]


def test_stopping_early_stops_and_closes_the_decoder():
    closed = threading.Event()

    def frames():
        try:
            yield from range(10_000)
        finally:
            closed.set()

    ahead = _ahead(frames(), 2)
    assert next(ahead) == 0
    ahead.close()
    assert closed.is_set()
    assert not any(t.name == "foley-decode" for t in threading.enumerate())
