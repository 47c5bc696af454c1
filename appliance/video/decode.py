"""Streaming decode of a video file into small analysis frames with real timestamps.

Motion analysis needs every frame (timing) but only a few hundred pixels across, so frames are
scaled down inside FFmpeg (libswscale) right after decoding and handed out one at a time: memory
stays flat however long the clip is. Timestamps are the frames' own presentation times, so
variable-frame-rate phone clips keep their timing; rotation metadata is applied so positions
(pan) match what the viewer sees. PyAV was chosen over OpenCV's VideoCapture for this: it is
faster to small frames, gives true timestamps and rotation, and also reads the audio track
(figures in docs/benchmarks.md, "Decode").
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from appliance.errors import UsageError
from appliance.video.probe import (DEFAULT_MAX_SECONDS, MAX_SIDE, VideoInfo, bound_decoder, clip_origin, open_container,
                                   probe_open, video_stream)

DEFAULT_WIDTH = 256
# Pixel formats whose first plane is 8-bit luma (read directly); the I420 ones also have
# quarter-size 8-bit U and V planes that OpenCV turns into BGR.
_Y_FIRST_FORMATS = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"}
_I420_FORMATS = {"yuv420p", "yuvj420p"}
DEFAULT_THREADS = 2
# A clip whose frames stop this much before the duration its header announces is truncated.
TRUNCATION_TOLERANCE_S = 0.5
TRUNCATION_TOLERANCE_FRACTION = 0.1

log = logging.getLogger("foley.video")


@dataclass(frozen=True)
class AnalysisFrame:
    """One decoded frame, scaled to analysis size and rotated for display."""

    index: int
    """Position among the frames handed out (0, 1, 2 …)."""
    time: float
    """Presentation time in seconds from the start of the clip (the timeline the sound follows)."""
    grey: np.ndarray
    """uint8 H×W luma."""
    colour: np.ndarray | None = None
    """Only when asked for: for the usual I420 video just the chroma, U then V as (H/2)×W uint8
    (with `grey`, a third of a BGR frame's memory: the engine keeps a keyframe per action); for
    other formats H×W×3 BGR. `bgr` gives BGR either way."""

    @property
    def bgr(self) -> np.ndarray | None:
        """uint8 H×W×3, converted on each call (only the few keyframes that meet the vision model)."""
        if self.colour is None or self.colour.ndim == 3:
            return self.colour
        return cv2.cvtColor(np.concatenate([self.grey, self.colour]), cv2.COLOR_YUV2BGR_I420)


def _configure_decoder(stream: av.video.stream.VideoStream, threads: int) -> None:
    stream.codec_context.thread_count = max(1, int(threads))
    stream.codec_context.thread_type = "AUTO"
    bound_decoder(stream)


def _analysis_size(frame: av.VideoFrame, width: int) -> tuple[int, int]:
    """Stored (w, h) to scale to so that the displayed (rotated) width is `width`, never upscaling.
    Even sides, so the chroma planes scale to exactly half."""
    display_w = frame.height if frame.rotation % 180 else frame.width
    scale = min(1.0, width / display_w)
    return max(2, 2 * round(frame.width * scale / 2)), max(2, 2 * round(frame.height * scale / 2))


def _plane(frame: av.VideoFrame, index: int, width: int, height: int) -> np.ndarray:
    """One 8-bit plane of `frame` as a (height, width) view, without copying."""
    plane = frame.planes[index]
    return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:height, :width]


def _small(frame: av.VideoFrame, size: tuple[int, int], colour: bool) -> tuple[np.ndarray, tuple | np.ndarray | None]:
    """Scale the decoded frame to `size`: (grey, colour or None), colour being the (U, V) planes
    for I420 video, else BGR.

    For the usual 8-bit YUV formats the planes are resized by OpenCV (area filter, SIMD): that
    costs ~0.2 ms a 720p frame where libswscale's grey conversion costs ~1.5 ms (measured, see
    docs/benchmarks.md). Other pixel formats (10-bit, RGB …) go through libswscale."""
    w, h = size
    if frame.format.name in _Y_FIRST_FORMATS:
        grey = cv2.resize(_plane(frame, 0, frame.width, frame.height), size, interpolation=cv2.INTER_AREA)
        if not colour:
            return grey, None
        if frame.format.name in _I420_FORMATS and w % 2 == 0 and h % 2 == 0:
            cw, ch = (frame.width + 1) // 2, (frame.height + 1) // 2
            return grey, tuple(cv2.resize(_plane(frame, i, cw, ch), (w // 2, h // 2), interpolation=cv2.INTER_AREA)
                               for i in (1, 2))
    bgr = frame.reformat(width=w, height=h, format="bgr24", interpolation="AREA").to_ndarray()
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), (bgr if colour else None)


def _rotated(grey: np.ndarray, colour: tuple | np.ndarray | None, turns: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply `turns` quarter turns and pack I420 chroma as AnalysisFrame.colour. Rotating the
    planes one by one gives the same BGR as rotating the converted frame (even sides: each 2×2
    luma block keeps its chroma sample)."""
    if turns:
        grey = np.ascontiguousarray(np.rot90(grey, turns))
    if isinstance(colour, tuple):
        colour = np.concatenate([np.rot90(plane, turns).reshape(-1) for plane in colour]).reshape(-1, grey.shape[1])
    elif colour is not None and turns:
        colour = np.ascontiguousarray(np.rot90(colour, turns))
    return grey, colour


class FrameClock:
    """Each decoded frame's time on the clip's timeline: its presentation time from the clip's
    origin, or one nominal period after the previous frame when it has none (raw H.264). A frame
    whose time does not advance past the previous one's is counted as stalled and gets None: no
    timeline (nor encoder) can hold two pictures at one time."""

    def __init__(self, origin: float, step: float):
        self.origin, self.step = origin, step
        self.last: float | None = None
        self.stalled = 0

    def time(self, frame: av.VideoFrame) -> float | None:
        if frame.time is not None:
            t = frame.time - self.origin
        else:
            t = 0.0 if self.last is None else self.last + self.step
        if self.last is not None and t <= self.last:
            self.stalled += 1
            return None
        self.last = t
        return t


def check_frame_size(path: Path, frame: av.VideoFrame) -> None:
    """Refuse a decoded frame over MAX_SIDE: the header's size was checked (`probe`), but a stream
    such as MJPEG states a size in every frame, and one may be far larger than its header's."""
    if frame.width > MAX_SIDE or frame.height > MAX_SIDE:
        raise UsageError(f"{path}: a frame of {frame.width}×{frame.height} is too large (at most {MAX_SIDE} px a "
                         "side), though the header says less")


def _end_checks(info: VideoInfo, last_time: float | None, count: int, stalled: int, period: float) -> None:
    """After the last frame: nothing decoded, timestamps that never advanced, or a short stream.
    The last frame is shown for one frame `period` after its time, so the stream ends there: at
    1 fps a complete 3 s clip's last frame starts at 2 s (compared by its start, a whole second
    looked missing)."""
    if count == 0:
        raise UsageError(f"{info.path}: the video stream has no decodable frames")
    if stalled > count:
        raise UsageError(f"{info.path}: frame timestamps do not advance (a 0 fps or broken header)")
    if info.duration is None or last_time is None:
        return
    end = last_time + period
    if info.duration - end > max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_FRACTION * info.duration):
        raise UsageError(f"{info.path}: the file is truncated: frames stop at {end:.2f} s "
                         f"of the {info.duration:.2f} s its header announces")


def iter_frames(path: str | Path, width: int = DEFAULT_WIDTH, *, max_seconds: float = DEFAULT_MAX_SECONDS,
                threads: int = DEFAULT_THREADS, colour: bool = False) -> Iterator[AnalysisFrame]:
    """Yield the clip's frames in presentation order, scaled so the displayed width is `width`.

    Validates the file first (see `appliance.video.probe.probe`) and keeps checking while
    decoding: frames past `max_seconds`, undecodable data and a stream that ends well before its
    header's duration raise UsageError. Frames whose timestamp does not advance are dropped (and
a clip made mostly of them is rejected: its frame rate is effectively 0)."""
    path = Path(path)
    with open_container(path) as container:
        info = probe_open(path, container, max_seconds)
        stream = video_stream(container)
        _configure_decoder(stream, threads)
        clock = FrameClock(clip_origin(container), 1.0 / info.fps)
        size = None
        count = 0
        try:
            for frame in container.decode(stream):
                t = clock.time(frame)
                if t is None:
                    continue
                if t > max_seconds:
                    raise UsageError(f"{path}: the clip runs past the limit of {max_seconds:g} s")
                check_frame_size(path, frame)
                if size is None:
                    size = _analysis_size(frame, width)
                grey, colour_planes = _small(frame, size, colour)
                grey, colour_planes = _rotated(grey, colour_planes, round(frame.rotation / 90) % 4)
                yield AnalysisFrame(index=count, time=t, grey=grey, colour=colour_planes)
                count += 1
        # The decoder's own words go to the log; the user reads a sentence (the page shows it).
        except av.error.ArgumentError as exc:  # what the decoder's pixel bound (bound_decoder) raises
            log.info("%s: decoding stopped after frame %d: %s", path, count, exc)
            raise UsageError(f"{path}: a frame after frame {count} is over {MAX_SIDE}×{MAX_SIDE} pixels, or its data is "
                             f"corrupt; it was not decoded") from None
        except av.error.FFmpegError as exc:
            log.info("%s: decoding stopped after frame %d: %s", path, count, exc)
            raise UsageError(f"{path}: corrupt or truncated video data after frame {count}") from None
        _end_checks(info, clock.last, count, clock.stalled, clock.step)


def bare_decode_seconds(path: str | Path, threads: int = DEFAULT_THREADS) -> tuple[float, int]:
    """Wall time to decode every frame with the same decoder and threads and nothing else.

    This is the floor the scoring pipeline is compared to (`foley bench`). Returns
    (seconds, frames decoded)."""
    with open_container(path) as container:
        stream = video_stream(container)
        _configure_decoder(stream, threads)
        start = time.perf_counter()
        try:
            frames = sum(1 for _ in container.decode(stream))
        except av.error.FFmpegError as exc:  # a damaged clip: said as scoring says it, not a traceback
            log.info("%s: decoding stopped: %s", path, exc)
            raise UsageError(f"{path}: corrupt or truncated video data") from None
        return time.perf_counter() - start, frames
