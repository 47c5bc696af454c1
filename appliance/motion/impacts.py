"""Impacts from motion energy: the moment a moving thing stops or turns back.

The signal is the motion energy of each frame interval: the mean speed of object motion (optical
flow minus camera motion) over the pixels that really changed between the previous frame, moved
onto the current one by the camera motion, and the current frame (changes above sensor/codec
noise; this gate removes flow noise on still texture). When something that was moving stops (a stick on a
desk, a foot landing) or reverses sharply (a bounce, a chop), the energy of the interval that
contains the contact collapses compared with the interval before it, because the object ends
that interval where it began it or moves only part of it. Peaks of this energy drop are impacts.
Smooth turning points (the top of a swing) spread the slowdown over several frames and give
small drops; peaks of motion itself (mid-swing, what a frame-difference detector finds) give none.

Time: the drop sample sits on the frame between the two intervals; a parabola through the drop
at that frame and its neighbours places the peak between frames (sub-frame precision).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

SCALE_WINDOW_S = 2.0
"""Drops are judged against the largest motion energy of this recent window."""
MIN_RELATIVE_DROP = 0.3
"""A drop must be at least this fraction of the recent largest energy …"""
MAX_REMAINING = 0.6
"""… and leave at most this fraction of the energy before it."""
ENERGY_FLOOR = 0.02
"""Energy (mean object speed over the frame, pixels per frame at 160 px wide) below which nothing moves."""
MIN_GAP_S = 0.1
"""Two impacts closer than this are one (the second is dropped)."""


@dataclass
class EnergySample:
    """Motion energy of the interval that ends at frame `time`."""

    time: float
    energy: float
    x: float
    y: float
    """Centre of the motion in this interval (0..1 of the frame)."""
    frame_index: int


@dataclass
class Impact:
    time: float
    strength: float
    x: float
    y: float
    frame_index: int


def _parabola_offset(a: float, b: float, c: float) -> float:
    """Vertex of the parabola through (-1, a), (0, b), (1, c), clipped to ±0.5."""
    denominator = a - 2 * b + c
    if denominator >= 0:
        return 0.0
    return float(np.clip(0.5 * (a - c) / denominator, -0.5, 0.5))


class ImpactDetector:
    """Streaming: feed EnergySamples in time order; each push returns impacts now decided.

    Latency is one frame interval (a drop is a peak only once the next drop is known)."""

    def __init__(self) -> None:
        self._samples: deque[EnergySample] = deque(maxlen=4)
        self._drops: deque[float] = deque(maxlen=3)
        self._recent: deque[tuple[float, float]] = deque()
        self._last_time = -np.inf

    def _scale(self, now: float) -> float:
        while self._recent and self._recent[0][0] < now - SCALE_WINDOW_S:
            self._recent.popleft()
        return max((e for _, e in self._recent), default=0.0)

    def push(self, sample: EnergySample) -> list[Impact]:
        self._recent.append((sample.time, sample.energy))
        previous = self._samples[-1] if self._samples else None
        self._samples.append(sample)
        self._drops.append(max(0.0, previous.energy - sample.energy) if previous else 0.0)
        if len(self._drops) < 3 or len(self._samples) < 4:
            return []
        before, drop, after = self._drops
        # The middle drop compares interval k-1 (moving) with interval k (contact).
        moving, contact, following = self._samples[-3], self._samples[-2], self._samples[-1]
        scale = self._scale(sample.time)
        if not (drop >= before and drop > after and moving.energy >= ENERGY_FLOOR
                and drop >= MIN_RELATIVE_DROP * scale and contact.energy <= MAX_REMAINING * moving.energy):
            return []
        offset = _parabola_offset(before, drop, after)
        span = (contact.time - moving.time) if offset > 0 else (moving.time - self._samples[-4].time)
        time = moving.time + offset * span
        if time - self._last_time < MIN_GAP_S:
            return []
        self._last_time = time
        strength = (drop / scale) * (1.0 - np.exp(-moving.energy / (4 * ENERGY_FLOOR)))
        return [Impact(time=time, strength=float(np.clip(strength, 0.0, 1.0)), x=moving.x, y=moving.y,
                       frame_index=moving.frame_index)]
