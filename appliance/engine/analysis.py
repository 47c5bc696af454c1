"""One streaming pass over the clip: decode, motion events, frame hashes, keyframes.

Nothing here holds the whole clip: frames flow from the decoder through the motion analyser
and the hasher and are dropped, except a short ring of recent frames from which the keyframe of
each detected action is taken (events are reported a few frames late), and a handful of scene
frames spread over the clip for the ambience decision. Memory is therefore flat in clip length.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from appliance.engine.framehash import frame_hash
from appliance.motion import ActionEvent, MotionAnalyser, MotionTrace
from appliance.video import VideoInfo, iter_frames, probe

RING_FRAMES = 48  # longer than the analyser's reporting delay at 60 fps
SCENE_SAMPLES = 3
ANALYSIS_WIDTH = 256


@dataclass
class Keyframe:
    index: int
    time: float
    bgr: np.ndarray
    hash: int


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


def analyse_clip(
    path: Path,
    max_seconds: float,
    threads: int,
    progress: Callable[[float], None] | None = None,
) -> ClipAnalysis:
    """Decode `path` once and return its events with their keyframes and the scene frames."""
    info = probe(path, max_seconds=max_seconds)
    analyser = MotionAnalyser()
    ring: deque[Keyframe] = deque(maxlen=RING_FRAMES)
    keyframes: dict[int, Keyframe] = {}
    scene: list[Keyframe] = []
    scene_times = [info.duration * (k + 0.5) / SCENE_SAMPLES for k in range(SCENE_SAMPLES)]
    spent = {"motion": 0.0, "hash": 0.0}
    count = 0
    started = time.perf_counter()
    for frame in iter_frames(path, ANALYSIS_WIDTH, max_seconds=max_seconds, threads=threads, colour=True):
        t0 = time.perf_counter()
        keyframe = Keyframe(frame.index, frame.time, frame.bgr, frame_hash(frame.grey))
        t1 = time.perf_counter()
        ring.append(keyframe)
        if scene_times and frame.time >= scene_times[0]:
            scene.append(keyframe)
            scene_times.pop(0)
        for event in analyser.push(frame):
            _keep_keyframe(event, ring, keyframes)
        spent["hash"] += t1 - t0
        spent["motion"] += time.perf_counter() - t1
        count += 1
        if progress and info.duration and count % 30 == 0:
            progress(min(1.0, frame.time / info.duration))
    t0 = time.perf_counter()
    for event in analyser.finish():
        _keep_keyframe(event, ring, keyframes)
    spent["motion"] += time.perf_counter() - t0
    if not scene and ring:
        scene.append(ring[-1])
    total = time.perf_counter() - started
    stage_seconds = {"decode": total - spent["motion"] - spent["hash"], **spent}
    return ClipAnalysis(info, analyser.events, analyser.trace, keyframes, scene, count, stage_seconds)


def _keep_keyframe(event: ActionEvent, ring: deque, keyframes: dict[int, Keyframe]) -> None:
    """The ring frame nearest the event's frame (sustained actions end long after they start)."""
    if event.frame_index in keyframes or not ring:
        return
    nearest = min(ring, key=lambda k: abs(k.index - event.frame_index))
    keyframes[event.frame_index] = nearest
