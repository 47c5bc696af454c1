"""The streaming analysis pass: the decode thread changes nothing but the timing."""
from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from appliance.engine.analysis import ANALYSIS_WIDTH, _ahead, analyse_clip
from appliance.engine.framehash import frame_hash
from appliance.errors import UsageError
from appliance.motion import detect_events
from appliance.video import iter_frames
from appliance.video.synthetic import render_scene, write_video


def test_decoding_ahead_gives_the_serial_result(tmp_path):
    clip = render_scene("stick", tmp_path / "stick.mp4", width=320, height=240, fps=30, seconds=3, seed=3).path
    analysis = analyse_clip(clip, 60, 2)
    events, trace = detect_events(iter_frames(clip, ANALYSIS_WIDTH, threads=2))
    assert [(e.time, e.kind, e.frame_index) for e in analysis.events] == [(e.time, e.kind, e.frame_index) for e in events]
    assert analysis.trace.flow == trace.flow
    for keyframe in [*analysis.keyframes.values(), *analysis.scene]:
        assert keyframe.hash == frame_hash(keyframe.frame.grey) and keyframe.bgr.shape[:2] == keyframe.frame.grey.shape


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


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_keyframe_colour_converted_late_equals_the_rotated_frame(tmp_path, rotation):
    rng = np.random.default_rng(8)
    images = [cv2.GaussianBlur(rng.integers(0, 256, (96, 160, 3), dtype=np.uint8), (9, 9), 3) for _ in range(2)]
    turned = next(iter_frames(write_video(tmp_path / "b.mp4", images, 10, rotation=rotation), 80, colour=True))
    stored_width = turned.grey.shape[0 if rotation % 180 else 1]
    upright = next(iter_frames(write_video(tmp_path / "a.mp4", images, 10), stored_width, colour=True))
    assert turned.colour.nbytes * 2 == turned.grey.nbytes  # the chroma only, until asked for
    assert np.array_equal(turned.bgr, np.rot90(upright.bgr, rotation // 90))


def test_frames_are_released_before_the_mix(tmp_path):
    clip = render_scene("stick", tmp_path / "stick.mp4", width=320, height=240, fps=30, seconds=2, seed=3).path
    analysis = analyse_clip(clip, 60, 2)
    assert analysis.keyframes and analysis.scene
    analysis.release_frames()
    assert not analysis.keyframes and not analysis.scene


def test_packed_keyframes_give_the_same_pixels_and_hash(tmp_path, monkeypatch):
    import appliance.engine.analysis as analysis_module

    clip = render_scene("stick", tmp_path / "stick.mp4", width=320, height=240, fps=30, seconds=3, seed=3).path
    raw = analyse_clip(clip, 60, 2)
    monkeypatch.setattr(analysis_module, "RAW_KEYFRAMES", 0)
    packed = analyse_clip(clip, 60, 2)
    assert raw.keyframes and packed.keyframes.keys() == raw.keyframes.keys()
    assert all(k._frame is None for k in packed.keyframes.values())  # stored compressed
    for index, keyframe in raw.keyframes.items():
        again = packed.keyframes[index]
        assert (again.index, again.time) == (keyframe.index, keyframe.time)
        assert np.array_equal(again.frame.grey, keyframe.frame.grey)
        assert np.array_equal(again.bgr, keyframe.bgr) and again.hash == keyframe.hash
