"""One recording: frames encoded to H.264 and analysed for motion as they are captured.

Doing both while recording (in the recording's own thread, so the capture loop never waits) is
what makes a 10 s clip's result ready moments after the recording stops: at the stop only the
encoder's last frames, the analysis's last events and the hand-over remain. The clip is written
under a temporary name and renamed when complete, so a crash or a pulled camera never leaves a
file that looks finished but is not.
"""
from __future__ import annotations

import logging
import queue
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from appliance.atomic import durable_replace
from appliance.capture.preroll import StoredFrame
from appliance.engine.analysis import ANALYSIS_WIDTH, ClipAnalysis, StreamingAnalysis
from appliance.video import probe
from appliance.video.decode import AnalysisFrame
from appliance.video.writer import VideoWriter

if TYPE_CHECKING:
    from appliance.capture.scoring import RecordingScorer

log = logging.getLogger("foley.capture")
QUEUE_SECONDS = 2.0
"""Live frames the recording thread may fall behind by before frames are dropped."""


@dataclass
class FinishedClip:
    id: str
    path: Path
    analysis: ClipAnalysis | None
    """None when it was used up by a failed attempt to score it here: the worker decodes the clip."""
    description: str | None


def analysis_frame(index: int, time_s: float, image: np.ndarray) -> AnalysisFrame:
    """A camera frame as the motion analysis sees a decoded one: ANALYSIS_WIDTH wide, even sides."""
    height, width = image.shape[:2]
    scale = min(1.0, ANALYSIS_WIDTH / width)
    size = (max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    # As I420, like a decoded frame: luma for the motion analysis, chroma at a quarter size
    # (half the memory of BGR, in the keyframe ring and in the analysis handed to the worker).
    yuv = cv2.cvtColor(small, cv2.COLOR_BGR2YUV_I420)
    return AnalysisFrame(index, time_s, yuv[: size[1]], yuv[size[1]:])


def new_recording_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


class Recording:
    """Takes frames (pre-roll JPEGs first, then live ones) from any thread; a thread of its own
    encodes and analyses them. `finish` or `discard` ends it exactly once."""

    def __init__(self, folder: Path, fps: float, origin: float, seconds: float, description: str | None,
                 preroll: list[StoredFrame], start_scoring: Callable[["Recording"], RecordingScorer | None] | None = None):
        """`start_scoring(recording)`: the scorer that makes the result while recording
        (capture/scoring.py), told after each frame how far the analysis has got; None: the
        service's worker scores the clip after the stop."""
        self.id = new_recording_id()
        self.folder = folder
        self.description = description
        self.origin = origin
        """Monotonic time of the clip's first frame."""
        self.seconds = seconds
        self.final_path = folder / f"{self.id}.mp4"
        self.temp_path = folder / f".{self.id}.mp4.partial"
        self.frames = 0
        self.dropped = 0
        self.failure: str | None = None
        self._last_time = -1.0
        self._keyframes_seen = 0
        self.analysis = StreamingAnalysis(seconds, fps=fps)
        self.scorer = start_scoring(self) if start_scoring else None
        try:
            self._writer = VideoWriter(self.temp_path, fps, timed=True, preset="ultrafast", container_format="mp4")
        except BaseException:  # no file to write to (a disk out of inodes): nothing is recorded
            if self.scorer is not None:
                self.scorer.discard()
            raise
        self._queue: queue.Queue = queue.Queue(maxsize=len(preroll) + int(fps * QUEUE_SECONDS) + 4)
        for stored in preroll:
            self._queue.put_nowait(stored)
        self._thread = threading.Thread(target=self._work, name=f"foley-recording-{self.id}", daemon=True)
        self._thread.start()

    def offer(self, image: np.ndarray, captured_at: float) -> None:
        try:
            self._queue.put_nowait((captured_at, image))
        except queue.Full:
            self.dropped += 1

    def elapsed(self, now: float) -> float:
        return now - self.origin

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self.failure:
                continue  # drain: the recording is already lost
            captured_at, image = (item.time, item.image()) if isinstance(item, StoredFrame) else item
            t = captured_at - self.origin
            if t <= self._last_time:
                continue
            try:
                self._writer.write(image, t)
                self.analysis.push(analysis_frame(self.frames, t, image))
            except Exception as exc:  # disk full, encoder failure: the clip cannot be completed
                self.failure = f"writing the clip failed: {exc}"
                log.error("recording %s: %s", self.id, self.failure)
                continue
            self.frames += 1
            self._last_time = t
            self._hash_keyframes()
            if self.scorer is not None:
                self.scorer.update(t)

    def _hash_keyframes(self) -> None:
        """Hash the keyframes of actions found since the last frame: now, while recording, not after the stop."""
        keyframes = self.analysis.keyframes
        if len(keyframes) == self._keyframes_seen:
            return
        for keyframe in list(keyframes.values())[self._keyframes_seen:]:
            keyframe.hash
        self._keyframes_seen = len(keyframes)

    def _close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def finish(self, min_seconds: float) -> FinishedClip | None:
        """Complete the clip; None (with the reason logged and nothing left on disk) when it
        failed or is shorter than `min_seconds`."""
        self._close()
        problem = self.failure
        try:
            self._writer.close()
        except Exception as exc:
            problem = problem or f"finishing the clip failed: {exc}"
        # the last frame lasts one average frame interval
        duration = self._last_time * self.frames / (self.frames - 1) if self.frames > 1 else 0.0
        if problem is None and duration < min_seconds:
            problem = f"only {duration:.2f} s were recorded (at least {min_seconds:g} s are kept)"
        if problem is None:
            try:
                # durable: a name lost to a power cut leaves the .partial, which the next start deletes
                durable_replace(self.temp_path, self.final_path)
                info = probe(self.final_path)
                return FinishedClip(self.id, self.final_path, self.analysis.finish(info), self.description)
            except Exception as exc:
                problem = f"the finished clip is not readable: {exc}"
                self.final_path.unlink(missing_ok=True)
        log.warning("recording %s discarded: %s", self.id, problem)
        self.temp_path.unlink(missing_ok=True)
        self.failure = problem
        return None

    def discard(self, reason: str) -> None:
        self._close()
        if self.scorer is not None:
            self.scorer.discard()
        try:
            self._writer.close()
        except Exception:  # the file is being thrown away anyway
            pass
        self.temp_path.unlink(missing_ok=True)
        self.failure = reason
        log.info("recording %s cancelled: %s", self.id, reason)
