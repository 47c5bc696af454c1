"""The live recorder's sound against its picture, on synthetic frames and blocks with known
times: the sound is as long as the picture, and every sound heard within the picture is in it,
at its time, including one handed before the first frame reached the recorder and one handed
after the picture ended (the device latency ahead of the speaker)."""
import shutil
import time

import numpy as np
import pytest
import soundfile

from appliance.live import recorder as recorder_module
from appliance.live.recorder import LiveRecorder
from appliance.video.writer import VideoWriter

SR = 48000
BLOCK = 256
LATENCY = 0.016
ORIGIN = 100.0
"""Monotonic capture time of the first frame: time 0 of the recording."""


def _stream(start: float, stop: float, clicks: list[float], click_samples: int = 48, clock: float = 1.0):
    """(block, handed_at) on the stream's sample clock, heard from `start` to `stop` (seconds
    from ORIGIN); a click of 0.5 at each of `clicks`. `clock`: the device's seconds per second
    of the machine's (blocks handed that much sooner)."""
    count = round((stop - start) * SR / BLOCK)
    signal = np.zeros((count * BLOCK, 2), np.float32)
    for click in clicks:
        at = round((click - start) * SR)
        signal[at:at + click_samples] = 0.5
    for k in range(count):
        yield signal[k * BLOCK:(k + 1) * BLOCK], ORIGIN + start + k * BLOCK / SR * clock - LATENCY


def _record(tmp_path, feed) -> tuple[np.ndarray, LiveRecorder]:
    """`feed(recorder)` hands over frames and blocks; the played sound as filed, and the recorder."""
    recorder = LiveRecorder(tmp_path / "live.mp4", 30.0)
    feed(recorder)
    kept = tmp_path / "played.wav"
    assert recorder.finish(lambda _: {}, lambda _picture, played, _timeline: shutil.copyfile(played, kept))
    played, rate = soundfile.read(kept, dtype="float32")
    assert rate == SR
    return played, recorder


def _frames(recorder, count: int = 30) -> None:
    for index in range(count):
        recorder.frame(np.full((64, 64, 3), index, np.uint8), ORIGIN + index / 30)


def _heard(played: np.ndarray) -> list[float]:
    """Seconds where each click starts."""
    loud = np.abs(played).max(axis=1) > 0.25
    starts = np.flatnonzero(loud & ~np.concatenate([[False], loud[:-1]]))
    return [round(s / SR, 3) for s in starts]


@pytest.mark.parametrize("ended_at", [0.9, 1.1], ids=["before the sound's end was handed", "after"])
def test_the_sound_is_the_pictures_length_with_each_sound_heard_within_it(tmp_path, ended_at):
    def feed(recorder):
        stream = _stream(-0.01, 1.1, clicks=[0.25, 0.98, 1.05])
        for block, handed_at in stream:  # heard while the first frame is on its way (a 0.3 s hop)
            recorder.block(block, handed_at, LATENCY)
            if handed_at + LATENCY >= ORIGIN + 0.3:
                break
        _frames(recorder)  # one second of picture
        for block, handed_at in stream:
            recorder.block(block, handed_at, LATENCY)
            if handed_at + LATENCY >= ORIGIN + ended_at:
                break
        recorder.end_picture()  # its last frame ends at 1.0 s; the sound goes on being handed over
        for block, handed_at in stream:
            recorder.block(block, handed_at, LATENCY)

    played, recorder = _record(tmp_path, feed)
    assert recorder.duration == pytest.approx(1.0) and len(played) == SR
    assert _heard(played) == [0.25, 0.98], "heard while the picture ran; the click at 1.05 s is past it"


def test_a_sound_that_stopped_short_of_the_picture_is_padded_with_silence(tmp_path):
    def feed(recorder):
        _frames(recorder)
        for block, handed_at in _stream(0.0, 0.5, clicks=[0.2]):  # then the device was lost
            recorder.block(block, handed_at, LATENCY)

    played, _ = _record(tmp_path, feed)
    assert len(played) == SR and _heard(played) == [0.2]


def test_a_writer_that_cannot_keep_up_skips_frames_and_keeps_every_sound(tmp_path, monkeypatch):
    """A board whose encoder takes 100 ms a frame, fed two seconds of picture at 30 frames a
    second: the frames waiting are bounded (each 720p frame is 2.7 MB; 5 here), the others
    skipped and counted; the sound, handed over beside them, is all there."""
    monkeypatch.setattr(recorder_module, "FRAME_BACKLOG", 5)
    encode = VideoWriter.write
    monkeypatch.setattr(VideoWriter, "write", lambda writer, image, at: (time.sleep(0.1), encode(writer, image, at)))

    backlog = []

    def feed(recorder):
        stream = _stream(0.0, 2.0, clicks=[0.5, 1.0, 1.5])
        for index in range(60):
            recorder.frame(np.full((64, 64, 3), index, np.uint8), ORIGIN + index / 30)
            backlog.append(index + 1 - recorder.frames_skipped - recorder.frames)
            for _ in range(6):  # 2 s of 256-sample blocks beside 60 frames
                block, handed_at = next(stream, (None, None))
                if block is not None:
                    recorder.block(block, handed_at, LATENCY)
            time.sleep(1 / 30)

    played, recorder = _record(tmp_path, feed)
    assert recorder.frames_skipped > 0 and recorder.frames + recorder.frames_skipped == 60
    assert max(backlog) <= 5 + 1 and recorder.blocks_lost == 0  # waiting, and the one being encoded
    assert _heard(played) == [0.5, 1.0, 1.5]


def test_a_device_clock_faster_than_the_machines_does_not_push_the_sound_late(tmp_path):
    """Blocks handed over 2 % sooner than their length (a sound card's clock running fast
    against the monotonic clock): the sound stays where each block says it was heard, within a
    block, instead of drifting later and later."""
    def feed(recorder):
        _frames(recorder)
        # 20 ms sounds, at these times on the device's clock
        for block, handed_at in _stream(0.0, 1.0, clicks=[0.25, 0.5, 0.97], click_samples=960, clock=0.98):
            recorder.block(block, handed_at, LATENCY)

    played, _ = _record(tmp_path, feed)
    assert len(played) == SR
    for placed, expected in zip(_heard(played), (0.25 * 0.98, 0.5 * 0.98, 0.97 * 0.98), strict=True):
        assert abs(placed - expected) <= 2 * BLOCK / SR, (placed, expected)


def test_a_recorder_that_cannot_write_raises_an_oserror_and_leaves_nothing(tmp_path):
    """On a full disk libsndfile said only "System error." (a traceback in `foley live`, a 500
    from the page's Record) and an empty partial stayed. Now an OSError with its errno (what
    the command line and the API turn into one line and a 507), and nothing left."""
    import errno

    from tests.conftest import fill_leaving, small_disk

    with small_disk(tmp_path / "disk", "1m") as disk:
        fill_leaving(disk, 0)
        with pytest.raises(OSError) as failed:
            LiveRecorder(disk / "live.mp4", 30.0)
        assert failed.value.errno == errno.ENOSPC
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_a_recording_switched_off_at_once_is_not_kept(tmp_path):
    """Record on and off again within a fraction of a second (a double click) files nothing."""
    recorder = LiveRecorder(tmp_path / "live.mp4", 30.0)
    _frames(recorder, count=6)  # 0.2 s of picture
    filed = []
    assert recorder.finish(lambda _: {}, lambda *args: filed.append(args)) is None
    assert "too short to keep" in recorder.failure and not filed
    assert sorted(p.name for p in tmp_path.iterdir()) == []
