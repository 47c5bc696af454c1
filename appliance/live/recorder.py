"""`foley live --record` and the page's Record while live: the camera picture and exactly the sound
that was played, as one MP4.

The picture is encoded as it is captured (H.264 with the frames' real capture times, like a
recording of the camera daemon); the sound is the mixer's output blocks themselves, written to
a WAV beside it as they are handed to the device. Each block is placed where it reached the
speaker relative to the first frame (hand-over time + device latency − the first frame's capture
time), so the MP4 has the sound where the audience heard it — the live latency included. Blocks
follow each other; where none came (an underrun, a lost device) the gap is filled with silence,
and a block more than a block behind the sound written (a device clock faster than the
machine's) loses its head, so the sound keeps to the clock its timeline was stamped by.
The sound is exactly as long as the picture: blocks handed before the first frame reached the
recorder (the camera's hop) are held and placed once its time is known, and when the picture
ends (`end_picture`) the blocks that reach the speaker before its last frame ends, handed up to
a device latency later, are still taken; past that end they are cut, and a sound that stopped
short of it is padded with silence. Every sound the timeline lists within the picture is heard
in the recording. At the end the two are muxed (engine/mux.py: video packets copied, AAC) into
OUT.mp4, atomically, and the timeline of the sounds beside it. Encoding and writing run in the
recorder's own thread: the analysis and the audio thread only hand over references; a writer
behind by a second of picture skips frames (counted, said at the end) and keeps the sound.
"""
from __future__ import annotations

import errno
import logging
import queue
import shutil
import threading
import time
from collections import deque
from contextlib import suppress
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile

from appliance.atomic import write_json_atomic
from appliance.engine.mux import mux_mp4
from appliance.mixing import SAMPLE_RATE
from appliance.video.writer import VideoWriter

log = logging.getLogger("foley.live")
QUEUE_ITEMS = 4096
"""Items the writer may fall behind by: sound blocks (small: ~20 s of them) and at most
FRAME_BACKLOG frames."""
FRAME_BACKLOG = 30
"""Frames the writer may fall behind by (a second of picture, 83 MB at 720p): a board whose
encoder cannot keep up skips frames past it, counted, rather than holding picture until the
memory runs out. The picture's times are its frames' own, so the others stay in place, and the
sound's blocks (small, cheap to write) are not held back by it."""
HELD_BLOCKS = 512
"""Blocks kept while the first frame is on its way (2.7 s of 256-sample blocks; the camera's hop
is a few frames): older ones would be heard before the picture starts."""
PARTIAL = ".{name}.{part}.partial.{suffix}"
"""The picture and the sound while recording, beside OUT; muxed into OUT and removed at the end."""
MIN_RECORDING_S = 0.5
"""A recording shorter than this is not kept: Record switched on and off again at once (a double
click, a change of mind) filed clips of a fraction of a second in the history."""


def remove_partials(folder: Path, idle_seconds: float = 0.0) -> None:
    """Remove what recordings cut by a crash or power loss left in `folder`: never muxed, so
    never a result, and nothing else removes them (the sound alone is ~23 MB a minute). With
    `idle_seconds`, only those unchanged for that long: a recording in progress writes its sound
    every few milliseconds (another `foley live --output seam --record` into the same folder)."""
    stale = time.time() - idle_seconds
    for partial in folder.glob(PARTIAL.format(name="*", part="*", suffix="*")):
        with suppress(FileNotFoundError):
            if idle_seconds and partial.stat().st_mtime > stale:
                continue
            log.warning("removing %s: a live recording cut when its process stopped", partial.name)
            partial.unlink()


def _open_wav(path: Path, sr: int) -> soundfile.SoundFile:
    """The sound's WAV, opened for writing. An OSError with its errno when it cannot be: the file
    is created here first (no inode left, a name too long), and libsndfile's own failure (a full
    disk: "System error.") is told as ENOSPC when the disk has no room left."""
    path.open("wb").close()
    try:
        return soundfile.SoundFile(str(path), "w", sr, 2, "FLOAT", format="WAV")
    except soundfile.LibsndfileError as exc:
        full = shutil.disk_usage(path.parent).free < 64 * 1024
        raise OSError(errno.ENOSPC if full else errno.EIO, "No space left on device" if full else str(exc),
                      str(path)) from None


class LiveRecorder:
    def __init__(self, out: Path, fps: float, sr: int = SAMPLE_RATE):
        self.out, self.fps, self.sr = Path(out), fps, sr
        self.video_path = self.out.with_name(PARTIAL.format(name=self.out.name, part="video", suffix="mp4"))
        self.audio_path = self.out.with_name(PARTIAL.format(name=self.out.name, part="audio", suffix="wav"))
        self.origin: float | None = None
        """Monotonic capture time of the first frame: time 0 of the MP4."""
        self.frames = self.frames_skipped = self.blocks_lost = 0
        """Frames written; frames skipped by a writer behind by FRAME_BACKLOG; sound blocks lost
        to a writer behind by QUEUE_ITEMS (a silent gap in the recording)."""
        self.last_frame_at: float | None = None
        """Monotonic capture time of the newest frame written."""
        self.samples = 0
        self.end: int | None = None
        """The sound's length in samples, the picture's, once the picture has ended."""
        self.failure: str | None = None
        self._writer = self._wav = None
        try:
            self._writer = VideoWriter(self.video_path, fps, timed=True, preset="ultrafast", container_format="mp4")
            self._wav = _open_wav(self.audio_path, sr)
        except BaseException:  # a full disk, no inode left, a name too long: nothing is left behind
            for opened in (self._writer, self._wav):
                if opened is not None:
                    with suppress(Exception):
                        opened.close()
            self.video_path.unlink(missing_ok=True)
            self.audio_path.unlink(missing_ok=True)
            raise
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_ITEMS)
        self._frame_room = threading.Semaphore(FRAME_BACKLOG)
        self._thread = threading.Thread(target=self._run, name="foley-live-recorder", daemon=True)
        self._thread.start()

    def frame(self, image: np.ndarray, captured_at: float) -> None:
        """From the capture thread: a camera frame."""
        if not self._frame_room.acquire(blocking=False):
            self.frames_skipped += 1
            return
        if not self._put(("frame", image, captured_at)):
            self._frame_room.release()
            self.frames_skipped += 1

    def block(self, samples: np.ndarray, handed_at: float, device_latency: float) -> None:
        """From the audio thread: an output block as handed to the device."""
        if not self._put(("audio", samples, handed_at + device_latency)):
            self.blocks_lost += 1

    def end_picture(self) -> None:
        """From any thread: the picture ends with the frames handed so far; blocks are still
        taken, up to the picture's end, until `finish`."""
        self._queue.put(("end", None, None))

    def _put(self, item) -> bool:
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            return False

    def _run(self) -> None:
        held: deque[tuple[np.ndarray, float]] = deque(maxlen=HELD_BLOCKS)
        while (item := self._queue.get()) is not None:
            kind, data, at = item
            if kind == "frame":
                self._frame_room.release()  # held here until written: at most one over the backlog
            if self.failure:
                continue
            try:
                if kind == "end" and self.end is None:
                    self._end_sound(round(self.duration * self.sr))
                elif kind == "frame" and self.end is None:
                    if self.origin is None:
                        self.origin = at
                    self._writer.write(data, at - self.origin)  # one time per frame: video/writer.py
                    self.frames += 1
                    self.last_frame_at = at
                    while held:  # the blocks handed while this first frame was on its way
                        self._write_audio(*held.popleft())
                elif kind == "audio" and self.last_frame_at is None:
                    held.append((data, at))
                elif kind == "audio":
                    self._write_audio(data, at)
            except Exception as exc:  # disk full, encoder failure: the recording cannot be completed
                self._fail(exc)
        if self.failure is None:
            try:
                self._silence_to(self.end)  # the sound as long as the picture
            except Exception as exc:
                self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self.failure = f"writing the recording failed: {exc}"
        log.error("live: %s", self.failure)

    @property
    def duration(self) -> float:
        """Seconds of picture: to the newest frame's capture time, plus one frame. Not frames / fps:
        a camera that delivers fewer frames than its rate (a loaded board, the daemon's hand-off
        skipping some) would shorten the clip against the clock its sounds were heard by."""
        if self.origin is None or self.last_frame_at is None:
            return 0.0
        return self.last_frame_at - self.origin + 1 / self.fps

    def _write_audio(self, block: np.ndarray, heard_at: float) -> None:
        """`block`, heard from `heard_at` on, at its sample of the MP4: gaps of more than a block
        become silence, and a block more than a block behind the sound written (a device clock
        faster than the machine's, a block before time 0) keeps only its part after it; otherwise
        blocks follow on (clock jitter of the hand-over is not a gap). Nothing past the end."""
        position = round((heard_at - self.origin) * self.sr)
        if self.samples - position > len(block) or (self.samples == 0 and position < 0):
            block = block[self.samples - position:]
        elif position - self.samples > len(block) or (self.samples == 0 and position > 0):
            self._silence_to(position)
        if self.end is not None:
            block = block[:max(0, self.end - self.samples)]
        if len(block):
            self._wav.write(block)
            self.samples += len(block)

    def _end_sound(self, end: int) -> None:
        """The sound ends at sample `end`: what was written past it (heard after the picture's
        last frame, handed before the picture ended) is cut."""
        self.end = end
        if self.samples > end:
            self._wav.truncate(end)
            self.samples = end

    def _silence_to(self, position: int) -> None:
        """Silence from the sound written so far to `position` (not past the end)."""
        if self.end is not None:
            position = min(position, self.end)
        if position > self.samples:
            self._wav.write(np.zeros((position - self.samples, 2), np.float32))
            self.samples = position

    def finish(self, timeline_of: Callable[["LiveRecorder"], dict | None],
               file_job: Callable[[Path, Path, dict], None] | None = None) -> Path | None:
        """Close, mux OUT.mp4 and write the timeline (`timeline_of(self)` once every frame is
        written, OUT with .json); None if nothing usable was recorded (the reason in `failure`).
        `file_job(picture, played, timeline)` may take the camera-only MP4 and the played sound's
        WAV (live/history.py) before they are removed."""
        self.end_picture()  # if not already ended
        self._queue.put(None)
        self._thread.join()
        timeline = timeline_of(self)
        try:
            self._writer.close()
            self._wav.close()
            if self.failure is None and self.frames < 2:
                self.failure = "no camera picture was recorded"
            if self.failure is None and self.duration < MIN_RECORDING_S:
                self.failure = (f"it lasted {self.duration:.2f} s, too short to keep "
                                f"(at least {MIN_RECORDING_S:g} s: Record pressed twice in a row?)")
            if self.failure is None:
                with soundfile.SoundFile(str(self.audio_path)) as audio:
                    mux_mp4(self.video_path, audio.blocks(blocksize=1 << 15, dtype="float32", always_2d=True),
                            self.sr, self.out)
                if timeline is not None:
                    write_json_atomic(self.out.with_suffix(".json"), timeline)
                if file_job is not None and timeline is not None:
                    file_job(self.video_path, self.audio_path, timeline)
                return self.out
            return None
        finally:
            self.video_path.unlink(missing_ok=True)
            self.audio_path.unlink(missing_ok=True)
