"""The last few seconds of camera frames, kept as JPEG so a recording can start before its trigger.

Raw 720p frames are 2.7 MB each: two seconds at 30 fps would be 166 MB, too much for a 1 GB
board. As JPEG (quality 80) they are ~60–120 KB; the encode costs a few milliseconds a frame,
and the newest JPEG doubles as the live preview's frame, so nothing is encoded twice.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class StoredFrame:
    time: float
    """Monotonic capture time (seconds)."""
    jpeg: bytes

    def image(self) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR)


class PreRoll:
    """A ring of StoredFrames covering `seconds`; thread-safe (capture loop writes, others read)."""

    def __init__(self, seconds: float, quality: int):
        self.seconds = seconds
        self.quality = quality
        self._frames: deque[StoredFrame] = deque()
        self._lock = threading.Lock()

    def add(self, image: np.ndarray, time: float) -> StoredFrame:
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        stored = StoredFrame(time, jpeg.tobytes())
        with self._lock:
            self._frames.append(stored)
            while self._frames and self._frames[0].time < time - self.seconds:
                self._frames.popleft()
        return stored

    def since(self, start: float) -> list[StoredFrame]:
        """Frames captured at or after `start` (oldest first)."""
        with self._lock:
            return [f for f in self._frames if f.time >= start]

    def latest(self) -> StoredFrame | None:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
