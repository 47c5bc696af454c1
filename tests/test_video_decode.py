"""Streaming decode: sizes, real timestamps (constant and variable rate), rotation, containers."""
import numpy as np
import pytest

from appliance.video import bare_decode_seconds, iter_frames, probe, read_audio
from appliance.video.synthetic import render_scene, write_video


def test_frames_are_small_timed_and_streamed(tmp_path):
    clip = render_scene("bounce", tmp_path / "c.mp4", width=320, height=240, fps=25, seconds=1.2)
    frames = iter_frames(clip.path, width=160)
    assert not isinstance(frames, list)  # a generator: the clip is never held whole
    frames = list(frames)
    assert len(frames) == 30
    assert frames[0].grey.shape == (120, 160) and frames[0].grey.dtype == np.uint8
    assert np.allclose([f.time for f in frames], np.arange(30) / 25, atol=1e-3)
    assert [f.index for f in frames] == list(range(30))


def test_colour_frames_match_grey(tmp_path):
    clip = render_scene("still", tmp_path / "c.mp4", width=320, height=240, fps=10, seconds=0.5)
    frame = next(iter_frames(clip.path, width=160, colour=True))
    assert frame.bgr.shape == (120, 160, 3)
    grey_from_bgr = frame.bgr.astype(float) @ [0.114, 0.587, 0.299]
    assert np.abs(grey_from_bgr - frame.grey).mean() < 12  # limited- vs full-range luma


def test_variable_frame_rate_keeps_presentation_times(tmp_path):
    times = [0.0, 0.04, 0.1, 0.13, 0.3, 0.31, 0.5]
    clip = render_scene("stick", tmp_path / "vfr.mkv", width=160, height=120, times=times, seconds=0.6)
    assert np.allclose([f.time for f in iter_frames(clip.path)], times, atol=2e-3)


def test_frames_captured_within_one_millisecond_are_all_kept(tmp_path):
    """A camera catching up after a late frame hands two within half a millisecond: the second
    goes to the next millisecond instead of failing the encoder (and losing the recording)."""
    times = [0.0, 0.0333, 0.1, 0.1002, 0.1004, 0.1333]
    clip = render_scene("stick", tmp_path / "burst.mp4", width=160, height=120, times=times, seconds=0.2)
    decoded = [f.time for f in iter_frames(clip.path)]
    assert len(decoded) == len(times) and decoded == sorted(set(decoded))
    assert np.allclose(decoded, [0.0, 0.033, 0.1, 0.101, 0.102, 0.133], atol=1.5e-3)


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotation_metadata_is_applied(tmp_path, rotation):
    image = np.zeros((64, 128, 3), np.uint8)
    image[:16, :16] = 255  # a white mark in the stored top-left corner
    path = write_video(tmp_path / "rot.mp4", [image] * 3, 10, rotation=rotation)
    grey = next(iter_frames(path, width=64)).grey
    assert grey.shape == (128, 64)  # portrait as displayed
    corner = (slice(-8, None), slice(0, 8)) if rotation == 90 else (slice(0, 8), slice(-8, None))
    assert grey[corner].mean() > 200  # counter-clockwise 90 puts top-left at bottom-left


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".webm", ".avi"])
def test_containers(tmp_path, suffix):
    clip = render_scene("bounce", tmp_path / f"c{suffix}", width=160, height=120, fps=15, seconds=0.8)
    assert len(list(iter_frames(clip.path))) == 12
    assert probe(clip.path).fps == pytest.approx(15, rel=0.01)


def test_bare_decode_counts_frames(tmp_path):
    clip = render_scene("still", tmp_path / "c.mp4", width=160, height=120, fps=20, seconds=1)
    seconds, frames = bare_decode_seconds(clip.path, threads=2)
    assert frames == 20 and seconds > 0


def test_read_audio_track(tmp_path):
    import av
    path = tmp_path / "a.mp4"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)).astype(np.float32)
        for i in range(0, 48000, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, i:i + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, i
            for p in audio.encode(frame):
                out.mux(p)
        for p in audio.encode():
            out.mux(p)
        for i in range(10):
            for p in video.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="bgr24")):
                out.mux(p)
        for p in video.encode():
            out.mux(p)
    samples = read_audio(path, 48000)
    assert abs(len(samples) - 48000) < 3000
    assert 0.3 < np.abs(samples[10000:20000]).max() < 0.7


@pytest.mark.parametrize("suffix", [".mkv", ".ts"])
def test_a_clip_whose_timestamps_start_late_is_timed_from_its_first_frame(tmp_path, suffix):
    """Frames at 1.4–5.4 s (a cut Matroska file, an MPEG-TS): their times and the duration count
    from the first frame; Matroska's header duration counts from 0, which is no truncation."""
    times = [1.4 + i / 25 for i in range(100)]
    clip = render_scene("stick", tmp_path / f"late{suffix}", width=160, height=120, fps=25, times=times, seconds=5.4)
    frames = [f.time for f in iter_frames(clip.path)]
    assert np.allclose(frames, np.array(times) - 1.4, atol=2e-3)
    assert probe(clip.path).duration == pytest.approx(4.0, abs=0.05)
