"""Every bad input of issue 4 item 9 gives a UsageError with a clear message."""
import importlib
import os
import struct
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
import soundfile as sf

from appliance.errors import UsageError
from appliance.video import iter_frames, probe
from appliance.video.synthetic import render_scene

probe_module = importlib.import_module("appliance.video.probe")  # `appliance.video.probe` is also the function


def _decode(path, **kw):
    return list(iter_frames(path, **kw))


def _avi(path, size=(32, 32), frames=10):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), i * 20, np.uint8))
    writer.release()
    return bytearray(path.read_bytes())


def _raw_avi(path, width=None, height=None, rate=None):
    """An uncompressed AVI whose header claims another size or frame rate (as broken muxers
    write); raw video, because FFmpeg would re-read a compressed stream's own size."""
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("rawvideo", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "bgr24"
        for i in range(5):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 20, np.uint8), "bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = bytearray(path.read_bytes())
    avih, strh, strf = data.find(b"avih") + 8, data.find(b"strh") + 8, data.find(b"strf") + 8
    if width is not None:
        struct.pack_into("<II", data, avih + 32, width, height)
        struct.pack_into("<ii", data, strf + 4, width, height)
    if rate is not None:
        struct.pack_into("<I", data, avih, 100)
        struct.pack_into("<II", data, strh + 20, 1, rate)
    path.write_bytes(bytes(data))
    return path


def _frozen_clock_mkv(path):
    """Frames that all carry timestamp 0: what a 0 fps header amounts to once FFmpeg has read it
    (FFmpeg replaces a literal 0 rate in AVI by 25, so the symptom is what can be checked)."""
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuvj420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 20, np.uint8), "rgb24").reformat(format="yuvj420p")
            for packet in stream.encode(frame):
                packet.pts = packet.dts = 0
                out.mux(packet)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        probe(tmp_path / "nope.mp4")


def test_a_folder_is_said_to_be_one(tmp_path):
    """`foley library teach FOLDER` (and score) said "no such file" of a folder that is there."""
    (tmp_path / "clips.mp4").mkdir()
    with pytest.raises(UsageError, match="clips.mp4: is a folder, not a video file"):
        probe(tmp_path / "clips.mp4")
    os.mkfifo(tmp_path / "pipe.mp4")  # /dev/stdin or <(cat clip) said "no such file" too
    with pytest.raises(UsageError, match="pipe.mp4: is a pipe or device, not a file"):
        probe(tmp_path / "pipe.mp4")


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(UsageError, match="empty"):
        _decode(tmp_path / "empty.mp4")


def test_not_a_video(tmp_path):
    (tmp_path / "notes.mp4").write_text("hello " * 200)
    with pytest.raises(UsageError, match="not a"):
        _decode(tmp_path / "notes.mp4")


def test_still_image_is_not_a_video(tmp_path):
    cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(UsageError, match="not a video"):
        _decode(tmp_path / "photo.png")


def test_truncated_file(tmp_path):
    clip = render_scene("bounce", tmp_path / "c.mp4", width=160, height=120, fps=15, seconds=2)
    data = clip.path.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="truncated|not a readable"):
        _decode(tmp_path / "cut.mp4")


def test_truncated_with_index_first(tmp_path):
    clip = render_scene("bounce", tmp_path / "c.mkv", width=160, height=120, fps=15, seconds=3)
    data = clip.path.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 3])
    with pytest.raises(UsageError, match="truncated|not a readable"):
        _decode(tmp_path / "cut.mkv")


def test_short_low_rate_clip_is_whole_and_a_cut_one_is_truncated(tmp_path):
    """Its last frame lasts a frame period: a complete 1 fps clip of 3 frames (at 0, 1, 2 s; 3 s
    in its header) ends at 3 s, not 2 (was refused as truncated). The same rate cut by a frame
    or more is still refused (FFV1: every frame stands alone, so the cut ends on a frame)."""
    whole = render_scene("bounce", tmp_path / "whole.mp4", width=160, height=120, fps=1, seconds=3)
    assert probe(whole.path).duration == pytest.approx(3.0)
    assert [f.time for f in _decode(whole.path)] == pytest.approx([0.0, 1.0, 2.0])
    clip = render_scene("bounce", tmp_path / "c.mkv", width=160, height=120, fps=1, seconds=8, codec="ffv1")
    data = clip.path.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) * 9 // 10])
    with pytest.raises(UsageError, match="truncated: frames stop at 7.00 s of the 8.00 s"):
        _decode(tmp_path / "cut.mkv")


def test_audio_only(tmp_path):
    sf.write(tmp_path / "voice.wav", np.zeros(8000, np.float32), 8000)
    with pytest.raises(UsageError, match="audio only"):
        _decode(tmp_path / "voice.wav")


def test_zero_frames(tmp_path):
    _avi(tmp_path / "none.avi", frames=0)
    with pytest.raises(UsageError, match="no decodable frames|not a readable|no video"):
        _decode(tmp_path / "none.avi")


@pytest.mark.parametrize("size,match", [((1, 1), "too small"), ((20000, 20000), "frame size")])
def test_absurd_header_sizes(tmp_path, size, match):
    with pytest.raises(UsageError, match=match):
        _decode(_raw_avi(tmp_path / "size.avi", *size))


def huge_mjpeg_mkv(path, side=20000):
    """An 8 KB Matroska file whose header and JPEG frames (SOF0) both say side×side: encoded at
    256×256 and patched, so nothing big is ever allocated to make it."""
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuvj420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((256, 256, 3), i * 40, np.uint8), "rgb24")
            for packet in stream.encode(frame.reformat(format="yuvj420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = bytearray(path.read_bytes())
    for element in (b"\xb0\x82\x01\x00", b"\xba\x82\x01\x00"):  # PixelWidth, PixelHeight = 256
        struct.pack_into(">H", data, data.index(element) + 2, side)
    at = data.find(b"\xff\xc0")
    while at != -1:  # each frame's SOF0: height, width
        struct.pack_into(">HH", data, at + 5, side, side)
        at = data.find(b"\xff\xc0", at + 1)
    path.write_bytes(bytes(data))
    return path


def test_huge_compressed_frames_are_refused_from_the_header(tmp_path):
    """20000×20000 MJPEG: FFmpeg would decode a first frame to learn the stream and fail there
    (the size then reads 0×0); the header's size is refused by name before any decoding."""
    path = huge_mjpeg_mkv(tmp_path / "huge.mkv")
    assert path.stat().st_size < 20_000
    with pytest.raises(UsageError, match="frame size 20000×20000 is too large .*before decoding"):
        probe(path)
    with pytest.raises(UsageError, match="20000×20000"):
        _decode(path)


def test_10000_fps_header(tmp_path):
    with pytest.raises(UsageError, match="frame rate 10000"):
        _decode(_raw_avi(tmp_path / "rate.avi", rate=10000))


def test_zero_fps_clock(tmp_path):
    with pytest.raises(UsageError, match="do not advance"):
        _decode(_frozen_clock_mkv(tmp_path / "frozen.mkv"))


def test_over_length_limit(tmp_path):
    clip = render_scene("still", tmp_path / "c.mp4", width=160, height=120, fps=10, seconds=3)
    with pytest.raises(UsageError, match="limit"):
        _decode(clip.path, max_seconds=2)
    assert len(_decode(clip.path, max_seconds=5)) == 30


def _song_with_cover_art(path):
    """An MP3 with its cover art: FFmpeg lists the picture as a one-frame video stream (attached_pic)."""
    with av.open(str(path), "w", format="mp3") as out:
        sound = out.add_stream("libmp3lame", rate=44100, layout="stereo")
        cover = out.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 100, np.uint8), "rgb24").reformat(format="yuvj420p")
        for packet in [*cover.encode(picture), *cover.encode()]:
            out.mux(packet)
        for i in range(40):
            frame = av.AudioFrame.from_ndarray(np.zeros((2, 1152), np.float32), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 44100, i * 1152
            for packet in sound.encode(frame):
                out.mux(packet)
        for packet in sound.encode():
            out.mux(packet)
    return path


def test_audio_with_cover_art_is_audio_only(tmp_path):
    with pytest.raises(UsageError, match="audio only"):
        _decode(_song_with_cover_art(tmp_path / "song.mp3"))


def _jpeg_packets(width, height, count):
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt, codec.time_base = width, height, "yuvj420p", Fraction(1, 10)
    picture = av.VideoFrame.from_ndarray(np.full((height, width, 3), 90, np.uint8), "rgb24")
    return [bytes(packet) for packet in codec.encode(picture.reformat(format="yuvj420p"))] * count


def _growing_mjpeg_mkv(path, width, height):
    """MJPEG whose header and first frames say 320×240 and whose later frames are width×height
    (each JPEG states its own size)."""
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuvj420p"
        for i, data in enumerate(_jpeg_packets(320, 240, 3) + _jpeg_packets(width, height, 2)):
            packet = av.Packet(data)
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, i, i, Fraction(1, 10)
            out.mux(packet)
    return path


def test_a_frame_larger_than_its_header_says_is_refused(tmp_path):
    """A frame over the per-side limit is refused when it is decoded, not scaled and analysed
    (a 16000×16000 one would take half a gigabyte a frame)."""
    path = _growing_mjpeg_mkv(tmp_path / "grows.mkv", 9000, 64)
    assert probe(path).width == 320
    frames = iter_frames(path)
    assert len([next(frames) for _ in range(3)]) == 3
    with pytest.raises(UsageError, match="a frame of 9000×64 is too large .*though the header says less"):
        next(frames)


def test_a_frame_over_the_pixel_bound_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    """The decoder itself refuses a picture over the area bound, so a frame claiming 16000×16000
    is never allocated. Shown with the bound lowered to 1000² (a real 16000² JPEG would take the
    test half a gigabyte to make): a 2000×1000 frame, within the per-side limit that is checked
    after decoding, is not decoded at all."""
    monkeypatch.setattr(probe_module, "MAX_SIDE", 1000)
    frames = iter_frames(_growing_mjpeg_mkv(tmp_path / "grows.mkv", 2000, 1000))
    assert len([next(frames) for _ in range(3)]) == 3
    with pytest.raises(UsageError, match="a frame after frame 3 is over .* pixels, or its data is corrupt; it was not decoded$"):
        next(frames)


WRITE_ONTO = """
import sys
import numpy as np
from appliance.video.writer import VideoWriter
writer = VideoWriter(sys.argv[1], 30, timed=True)
failures = []
for i in range(30):
    try:
        writer.write(np.full((240, 320, 3), i, np.uint8), i / 30)
    except OSError as exc:
        failures.append(exc.errno)
writer.close()
print(len(failures), failures[0] if failures else None)
"""


def test_a_video_written_onto_a_full_disk_fails_with_an_oserror(tmp_path):
    """The capture daemon died of a segfault when a recording started on a full disk: the MP4's
    header could not be written, and the writer muxed again (the next frame, then the flush at
    close), which crashes libavformat. Each write after the first failure is an OSError too, and
    close finishes quietly (in a child process here: a segfault would end the test run)."""
    import errno
    import subprocess
    import sys

    from tests.conftest import REPO, fill_leaving, small_disk

    with small_disk(tmp_path / "disk", "1m") as disk:
        fill_leaving(disk, 0)
        done = subprocess.run([sys.executable, "-c", WRITE_ONTO, str(disk / "clip.mp4")], capture_output=True,
                              text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    failures, first = done.stdout.split()  # the encoder holds its first frames back: no write for them
    assert int(failures) >= 10 and first == str(errno.ENOSPC), done.stdout
