"""The MP4 with the Foley track: the picture keeps the clip's timing on the analysis' timeline
(where the track's 0 is), its display rotation and its frames, copied or re-encoded."""
from __future__ import annotations

import av
import numpy as np
import pytest

from appliance.engine.mux import mux_mp4
from appliance.video import iter_frames
from appliance.video.synthetic import render_scene
from tests.test_engine_analysis import headerless_clip

RATE = 48000


def _mux(clip, tmp_path, seconds):
    """`clip` muxed with a silent track of `seconds`: (what mux_mp4 did, the MP4's frames, its audio seconds)."""
    out = tmp_path / "out.mp4"
    done = mux_mp4(clip, np.zeros((round(seconds * RATE), 2), np.float32), RATE, out)
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
        audio = container.streams.audio[0]
        return done, frames, float(audio.duration * audio.time_base)


def _analysis_times(clip):
    return [frame.time for frame in iter_frames(clip, 64)]


def test_a_variable_frame_rate_webm_keeps_its_frame_times(tmp_path):
    """VP8 is re-encoded: 30 fps for 2 s then 5 fps to 5.8 s stays so, under as long a track."""
    times = [i / 30 for i in range(60)] + [2 + i / 5 for i in range(20)]
    clip = render_scene("stick", tmp_path / "vfr.webm", width=160, height=120, times=times, seconds=5.85).path
    done, frames, audio_seconds = _mux(clip, tmp_path, 5.85)
    assert done["video"] == "re-encoded from vp8 to mpeg4"
    assert np.allclose([frame.time for frame in frames], times, atol=1.5e-3)
    assert audio_seconds == pytest.approx(5.85, abs=0.05)


def test_a_re_encoded_picture_keeps_its_rotation(tmp_path):
    clip = render_scene("stick", tmp_path / "turned.mkv", width=160, height=120, fps=10, seconds=1, codec="mjpeg",
                        rotation=90).path
    done, frames, _ = _mux(clip, tmp_path, 1)
    assert done["video"] == "re-encoded from mjpeg to mpeg4"
    assert frames[0].rotation == 90 and (frames[0].width, frames[0].height) == (160, 120)


def test_an_odd_frame_size_is_re_encoded_at_even_sides(tmp_path):
    clip = render_scene("stick", tmp_path / "webcam.avi", width=321, height=241, fps=10, seconds=1, codec="mjpeg").path
    _, frames, _ = _mux(clip, tmp_path, 1)
    assert len(frames) == 10 and {(frame.width, frame.height) for frame in frames} == {(320, 240)}


def test_a_picture_wider_than_mpeg4_takes_is_re_encoded_smaller(tmp_path):
    """An 8192-wide clip (the largest taken) that must be re-encoded failed once scored: MPEG-4
    Part 2 encodes at most 8190 px a side ("Invalid argument", with a staged file's name)."""
    clip = render_scene("stick", tmp_path / "wide.mkv", width=8192, height=32, fps=5, seconds=1, codec="ffv1").path
    done, frames, _ = _mux(clip, tmp_path, 1)
    assert done["video"] == "re-encoded from ffv1 to mpeg4"
    assert {(frame.width, frame.height) for frame in frames} == {(8190, 30)}


@pytest.mark.skipif("libsvtav1" not in av.codecs_available, reason="no AV1 encoder in this PyAV")
def test_an_av1_clip_is_named_as_such_and_muxed(tmp_path):
    """The codec was looked up by its decoder's name ("re-encoded from libdav1d"). Named "av1" it
    is one MP4 carries, but this PyAV makes no stream to copy it into (it looks for an encoder
    named libdav1d): it is re-encoded, said as from av1, and the MP4 is whole."""
    from appliance.video import probe

    clip = render_scene("stick", tmp_path / "av1.mp4", width=320, height=240, fps=10, seconds=1, codec="libsvtav1").path
    assert probe(clip).codec == "av1"
    done, frames, _ = _mux(clip, tmp_path, 1)
    assert done["video"] in ("copied", "re-encoded from av1 to mpeg4") and len(frames) == 10


@pytest.mark.parametrize("suffix", [".ts", ".mkv"])
def test_copied_packets_start_at_the_clips_origin(tmp_path, suffix):
    """H.264 whose timestamps start at 1.4 s: copied, the MP4's first frame is at 0 like the
    track's first sample, and each frame at the time the analysis gave it. (Matroska's first
    packets of a stream with B-frames carry no decoding time, the keyframe among them.)"""
    times = [1.4 + i / 25 for i in range(100)]
    clip = render_scene("stick", tmp_path / f"late{suffix}", width=160, height=120, fps=25, times=times,
                        seconds=5.4).path
    done, frames, _ = _mux(clip, tmp_path, 4.0)
    assert done["video"] == "copied"
    assert np.allclose([frame.time for frame in frames], _analysis_times(clip), atol=1.5e-3)
    assert frames[0].time == pytest.approx(0, abs=1e-3)


def test_raw_h264_without_timestamps_is_re_encoded_at_its_frame_rate(tmp_path):
    clip = headerless_clip(tmp_path, "raw.h264")
    done, frames, _ = _mux(clip, tmp_path, 2.0)
    assert done["video"] == "re-encoded from h264 to mpeg4"
    assert np.allclose([frame.time for frame in frames], np.arange(50) / 25, atol=1.5e-3)
