"""Streaming H.264 (or other) encoding of BGR frames: one frame in at a time, nothing held.

Used by the synthetic clips of tests and benchmarks and by `foley capture`, which encodes a
recording while it is being made so the clip is ready the moment recording stops.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CODECS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".webm": "libvpx", ".avi": "mpeg4"}
MS = Fraction(1, 1000)
PIXEL_FORMATS = {"mjpeg": "yuvj420p"}  # a webcam's MJPEG is full-range; its encoder refuses yuv420p


def ms_pts(time: float, last_pts: int) -> int:
    """A frame's timestamp in milliseconds (MS), at least one past the previous frame's: the
    encoder refuses two frames with one time."""
    return max(round(time * 1000), last_pts + 1)


class VideoWriter:
    """Encode frames to `path` (container from the suffix) as they come.

    With `timed=True` each frame carries its own presentation time (variable frame rate: a
    camera's real capture times); otherwise frames are spaced 1/fps apart. `preset` is x264's
    speed/size trade (a live camera on a Pi needs "ultrafast"); `rotation` writes a display
    matrix as phones do."""

    def __init__(self, path: str | Path, fps: float, *, timed: bool = False, rotation: int = 0,
                 codec: str | None = None, preset: str = "veryfast", container_format: str | None = None):
        self.path = Path(path)
        self.codec = codec or CODECS.get(self.path.suffix.lower(), "libx264")
        self.timed = timed
        self.frames = 0
        self._last_pts = -1
        self._failed: OSError | None = None
        self._container = av.open(str(self.path), mode="w", format=container_format)
        self._stream = self._container.add_stream(self.codec, rate=Fraction(fps).limit_denominator(1001))
        self._stream.pix_fmt = PIXEL_FORMATS.get(self.codec, "yuv420p")
        if self.codec == "libx264":
            self._stream.options = {"preset": preset, "crf": "20"}
        if timed:
            self._stream.codec_context.time_base = MS
        if rotation:
            self._stream.set_display_rotation(rotation)

    def write(self, image: np.ndarray, time: float | None = None) -> None:
        """Encode one BGR uint8 frame (`time` in seconds from the clip's start when timed).

        Timed frames are stamped in milliseconds; one read less than half a millisecond after the
        previous (a camera catching up after a late frame) goes to the next millisecond, as the
        encoder refuses two frames with one time (which would lose the whole recording)."""
        if self.frames == 0:
            self._stream.width, self._stream.height = image.shape[1], image.shape[0]
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        if self.timed:
            self._last_pts = ms_pts(time, self._last_pts)
            frame.pts, frame.time_base = self._last_pts, MS
        self._mux(self._stream.encode(frame))
        self.frames += 1

    def _mux(self, packets) -> None:
        """Write `packets`; after a failed write (a full disk) nothing more is muxed: FFmpeg's
        muxer, called again once the container's header could not be written, crashed the
        whole process (a segfault in libavformat), where the caller expected an OSError."""
        if self._failed is not None:
            raise OSError(self._failed.errno, f"an earlier write of {self.path} failed: {self._failed.strerror}")
        try:
            for packet in packets:
                self._container.mux(packet)
        except OSError as exc:
            self._failed = exc
            raise

    def close(self) -> None:
        """Flush the encoder and finish the container (its index is written here); after a
        failed write only the container is closed (the file is incomplete: the caller's to drop)."""
        if self._container is None:
            return
        try:
            if self.frames and self._failed is None:
                self._mux(self._stream.encode())
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
