"""One streaming pass over the clip: decode, motion events, keyframes (hashed when chosen).

Nothing here holds the whole clip: frames flow from the decoder through the motion analyser
and are dropped, except a short ring of recent frames from which the keyframe of each detected
action is taken (events are reported a few frames late), and a handful of scene frames spread
over the clip for the ambience decision. The keyframes of impact candidates a regular train
may still confirm grow with the clip (1280 on 5 minutes of footsteps): past the first
RAW_KEYFRAMES they are kept compressed, losslessly, and the heap is trimmed as the frames pass.

Decoding and scaling run in a producer thread, a few frames ahead of the motion analysis: both
spend their time in FFmpeg/OpenCV code that releases the GIL, so on a multi-core CPU the motion
work hides behind the decode instead of adding to it. The perceptual hash is only needed for
the keyframes the vision model and the caches see, so it is computed for those alone.
"""
from __future__ import annotations

import ctypes
import hashlib
import queue
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from appliance.engine.framehash import frame_hash
from appliance.motion import ActionEvent, MotionAnalyser, MotionTrace
from appliance.motion.event_model import EventModel, bundled_event_model
from appliance.video import VideoInfo, iter_frames, probe
from appliance.video.decode import AnalysisFrame

RING_FRAMES = 48  # longer than the analyser's reporting delay at 60 fps
SCENE_SAMPLES = 3
ANALYSIS_WIDTH = 256
DECODE_AHEAD = 8  # frames the decoder thread may run ahead: enough to ride out jitter, ~1 MB
RAW_KEYFRAMES = 64
"""Keyframes kept as they are (3.5 MB); later ones are compressed (see Keyframe.pack): a long clip
keeps one for every impact candidate (1280 on 5 minutes of footsteps: 68 MB raw, ~30 MB packed)."""
TRIM_EVERY = 30
"""Frames between heap trims during a file's analysis: the decoder thread allocates every frame
and the analysis frees it, and glibc does not hand that thread's freed pages back by itself."""
_MALLOC_TRIM = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc (Raspberry Pi OS); elsewhere None


def trim_heap() -> None:
    """Hand freed memory back to the OS. Frames are allocated by the decoder thread and freed by
    the analysis; glibc keeps such small blocks in that thread's arena unless asked."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class Keyframe:
    """A frame kept for the vision model and the caches: converted to BGR and hashed on use.

    `pack` stores the frame zlib-compressed (lossless, ~45 % of its 55 KB on camera footage):
    the pixels the vision model and the hash see are the same bytes either way."""

    def __init__(self, index: int, time: float, frame: AnalysisFrame):
        self.index = index
        self.time = time
        self._frame: AnalysisFrame | None = frame
        self._packed: tuple | None = None

    @property
    def frame(self) -> AnalysisFrame:
        frame = self._frame  # read once: another thread (capture's vision pre-warm) may read while it is packed
        return frame if frame is not None else _unpack(self.index, self.time, self._packed)

    def pack(self) -> None:
        """Keep the frame compressed from now on (idempotent)."""
        frame = self._frame
        if frame is not None:
            self._packed = _pack(frame)
            self._frame = None

    @property
    def bgr(self) -> np.ndarray:
        return self.frame.bgr

    @cached_property
    def hash(self) -> int:
        """64-bit DCT hash (appliance.engine.framehash) of the grey frame."""
        return frame_hash(self.frame.grey)

    @cached_property
    def digest(self) -> str:
        """sha256 of the frame's pixels (grey and colour planes): equal digests, equal pictures."""
        frame = self.frame
        digest = hashlib.sha256()
        for plane in (frame.grey, frame.colour):
            if plane is not None:
                digest.update(repr(plane.shape).encode())
                digest.update(np.ascontiguousarray(plane).tobytes())
        return digest.hexdigest()[:32]


def _pack(frame: AnalysisFrame) -> tuple:
    planes = [frame.grey] if frame.colour is None else [frame.grey, frame.colour]
    data = b"".join(np.ascontiguousarray(p).tobytes() for p in planes)
    return zlib.compress(data, 1), [p.shape for p in planes]


def _unpack(index: int, time: float, packed: tuple) -> AnalysisFrame:
    data, shapes = packed
    flat = np.frombuffer(zlib.decompress(data), np.uint8)
    planes, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        planes.append(flat[start:start + size].reshape(shape))
        start += size
    return AnalysisFrame(index=index, time=time, grey=planes[0], colour=planes[1] if len(planes) > 1 else None)


@dataclass
class ClipAnalysis:
    info: VideoInfo
    events: list[ActionEvent]
    trace: MotionTrace
    keyframes: dict[int, Keyframe]
    """The frame of each action (by frame index), for the vision model."""
    scene: list[Keyframe]
    """Frames spread over the clip, for the scene (ambience) decision."""
    frame_count: int
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def keep_event_keyframes(self) -> None:
        """Keep only the final events' keyframes. The motion analysis keeps one for every impact
        candidate a regular train might still confirm; the unconfirmed ones (55 KB each) would
        otherwise stay until the mix, under the vision model's memory."""
        used = {event.frame_index for event in self.events}
        unused = [index for index in self.keyframes if index not in used]
        for index in unused:
            del self.keyframes[index]
        if unused:
            trim_heap()

    def release_frames(self) -> None:
        """Drop the keyframes once every decision is made (55 KB an action: 40 MB for a 5-minute
        clip), and hand the freed memory back to the OS (`trim_heap`) before the mix."""
        self.keyframes.clear()
        self.scene.clear()
        trim_heap()


class StreamingAnalysis:
    """The analysis of frames handed in one at a time, from a file's decoder or a live camera.

    `push` each frame in order, then `finish` once: the motion analyser, the keyframe ring and
    the scene samples see each frame exactly once, so a recording is analysed while it is being
    made and its result is ready the moment it stops. `expected_seconds` spreads the scene
    samples (a recording stopped early keeps the ones taken so far, or its last frame)."""

    def __init__(self, expected_seconds: float | None, event_model: EventModel | None = None,
                 on_keyframe: Callable[[Keyframe], None] | None = None, fps: float | None = None):
        """event_model: what decides impacts (default: the bundled one). on_keyframe: told of each
        keyframe kept (an action's or a scene frame) as soon as it is (engine/vision_ahead.py).
        fps: the footage's nominal rate (high-speed footage is analysed at 60 fps or less)."""
        self.analyser = MotionAnalyser(event_model or bundled_event_model(), fps=fps)
        self.on_keyframe = on_keyframe
        self.ring: deque[Keyframe] = deque(maxlen=RING_FRAMES)
        self.keyframes: dict[int, Keyframe] = {}
        self.scene: list[Keyframe] = []
        span = expected_seconds or 0.0
        self.scene_times = [span * (k + 0.5) / SCENE_SAMPLES for k in range(SCENE_SAMPLES)] if span else []
        self.count = 0
        self.last_time: float | None = None
        self.seconds = 0.0
        """Time spent in push/finish (the "motion" stage)."""

    def push(self, frame: AnalysisFrame) -> None:
        t0 = time.perf_counter()
        keyframe = Keyframe(frame.index, frame.time, frame)
        self.ring.append(keyframe)
        if self.scene_times and frame.time >= self.scene_times[0]:
            self.scene.append(keyframe)
            self.scene_times.pop(0)
            self._kept(keyframe)
        for event in self.analyser.push(frame):
            self._kept(_keep_keyframe(event, self.ring, self.keyframes))
        self.count += 1
        self.last_time = frame.time
        self.seconds += time.perf_counter() - t0

    def finish(self, info: VideoInfo, stage_seconds: dict[str, float] | None = None) -> ClipAnalysis:
        """The analysis of the frames pushed, for the clip `info` describes (its duration measured
        from the frames when the header gives none: see `_with_duration`)."""
        t0 = time.perf_counter()
        for event in self.analyser.finish():
            self._kept(_keep_keyframe(event, self.ring, self.keyframes))
        if not self.scene and self.ring:
            self.scene.append(self.ring[-1])
            self._kept(self.ring[-1])
        self.seconds += time.perf_counter() - t0
        stages = {**(stage_seconds or {}), "motion": self.seconds}
        return ClipAnalysis(_with_duration(info, self.last_time), self.analyser.events, self.analyser.trace,
                            self.keyframes, self.scene, self.count, stages)

    def _kept(self, keyframe: Keyframe | None) -> None:
        if keyframe is not None and self.on_keyframe is not None:
            self.on_keyframe(keyframe)


def _with_duration(info: VideoInfo, last_time: float | None) -> VideoInfo:
    """`info`, with a duration when its header gave none (a live or streamed WebM/MKV, raw H.264
    or MJPEG): the last frame's time plus one frame period, the span that frame is shown. Every
    consumer (the mix's length, the timeline, a saved analysis) then has a number, as for a clip
    whose header says it."""
    if info.duration is not None or last_time is None:
        return info
    return replace(info, duration=last_time + 1.0 / info.fps)


def analyse_clip(
    path: Path,
    max_seconds: float,
    threads: int,
    progress: Callable[[float], None] | None = None,
    event_model: EventModel | None = None,
    on_keyframe: Callable[[Keyframe], None] | None = None,
) -> ClipAnalysis:
    """Decode `path` once and return its events with their keyframes and the scene frames
    (each also handed to `on_keyframe` as soon as it is kept).

    stage_seconds: "decode" is the time spent waiting for decoded frames (what the motion
    analysis did not hide), "motion" the analysis itself."""
    info = probe(path, max_seconds=max_seconds)
    analysis = StreamingAnalysis(info.duration, event_model, on_keyframe, fps=info.fps)
    started = time.perf_counter()
    frames = iter_frames(path, ANALYSIS_WIDTH, max_seconds=max_seconds, threads=threads, colour=True)
    for frame in _ahead(frames, DECODE_AHEAD):
        analysis.push(frame)
        if analysis.count % TRIM_EVERY == 0:
            trim_heap()
        if progress and info.duration and analysis.count % 30 == 0:
            progress(min(1.0, frame.time / info.duration))
    decode = time.perf_counter() - started - analysis.seconds
    return analysis.finish(info, {"decode": decode})


def _ahead(frames: Iterator[AnalysisFrame], depth: int) -> Iterator[AnalysisFrame]:
    """`frames`, produced by a daemon thread at most `depth` frames ahead of the consumer.

    The producer's exception (a corrupt clip's UsageError) is raised here, in order; when the
    consumer stops early or fails, the producer is told to stop and closes the decoder."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for frame in frames:
                if not offer(frame):
                    return
            offer(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            offer(exc)
        finally:
            frames.close()

    producer = threading.Thread(target=produce, name="foley-decode", daemon=True)
    producer.start()
    try:
        while (item := handoff.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join()


def _keep_keyframe(event: ActionEvent, ring: deque, keyframes: dict[int, Keyframe]) -> Keyframe | None:
    """The ring frame nearest the event's frame (sustained actions end long after they start),
    kept as the event's keyframe; None when it had one already (or there is no frame)."""
    if event.frame_index in keyframes or not ring:
        return None
    nearest = min(ring, key=lambda k: abs(k.index - event.frame_index))
    keyframes[event.frame_index] = nearest
    if len(keyframes) > RAW_KEYFRAMES:
        nearest.pack()
    return nearest
