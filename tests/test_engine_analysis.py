"""The streaming analysis pass: the decode thread changes nothing but the timing."""
from __future__ import annotations

import threading

import av
import cv2
import numpy as np
import pytest

from appliance.engine.analysis import ANALYSIS_WIDTH, _ahead, analyse_clip
from appliance.engine.framehash import frame_hash
from appliance.errors import UsageError
from appliance.motion import detect_events
from appliance.video import iter_frames, probe
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


HEADERLESS = {"live.webm": ("webm", "libvpx", "yuv420p", {"live": "1"}), "raw.h264": ("h264", "libx264", "yuv420p", {}),
              "raw.mjpeg": ("mjpeg", "mjpeg", "yuvj420p", {})}
"""Files whose header gives no duration: a live (streamed) WebM, raw H.264 and raw MJPEG."""


def headerless_clip(folder, name, seconds=2.0):
    """The stick scene at 25 fps in the HEADERLESS format `name`."""
    source = render_scene("stick", folder / "source.mp4", width=160, height=120, fps=25, seconds=seconds, seed=3).path
    file_format, codec, pixels, options = HEADERLESS[name]
    with av.open(str(source)) as clip, av.open(str(folder / name), "w", format=file_format, options=options) as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, pixels
        for frame in clip.decode(video=0):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="bgr24"), format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return folder / name


@pytest.mark.parametrize("name", HEADERLESS)
def test_a_clip_without_a_duration_gets_its_frames_span(tmp_path, name):
    """The mix, the timeline and the scene samples need the clip's length: where the header has
    none, it is the last frame's time plus one frame period."""
    clip = headerless_clip(tmp_path, name)
    assert probe(clip).duration is None
    analysis = analyse_clip(clip, 60, 2)
    last = [frame.time for frame in iter_frames(clip)][-1]
    assert analysis.info.duration == pytest.approx(last + 1 / 25) == pytest.approx(2.0)
