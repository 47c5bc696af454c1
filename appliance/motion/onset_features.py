"""The cues the learned event model reads, one row per frame interval, computed as frames stream.

Each row describes the interval that ends at frame k, using the frames up to k+1 (one frame of
look-ahead): the motion energy before, during and after it relative to the recent largest
(a contact makes the energy collapse), the flow speed and its direction (a bounce reverses it),
the grid cells whose motion collapsed (the thing that stopped, and whether it was coming in
towards the struck surface at the frame centre or going away), and the raw frame difference
(the naive baseline's signal, so the model can only add to it). Every cue is a ratio or a
logarithm: clips differ in size, frame rate, lighting and how much moves, and a model fitted on
a few dozen real clips must not learn their absolute scales.

The model and its training read the same rows from the same code (`OnsetFeatures`), so what
was cross-validated is exactly what runs on the board.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from appliance.motion.samples import EnergySample, approach, mean_flow, toward_centre

SCALE_WINDOW_S = 2.0
"""Energies and differences are judged against the largest of this recent window."""
EPS = 1e-3

FEATURE_NAMES = (
    "energy_before", "energy", "energy_after", "energy_before2",
    "drop", "drop_after", "energy_peak",
    "log_energy_before", "log_energy", "log_scale",
    "speed_ratio", "speed_ratio_after", "log_speed_before",
    "coherence_before", "coherence",
    "reversal", "reversal_after",
    "toward_centre", "approach_down", "approach_speed",
    "cell_collapse", "cells_moving",
    "difference", "difference_before", "difference_after", "difference_peak",
    "frame_period",
)
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass(frozen=True)
class FeatureRow:
    """The cues of one frame interval: it spans frames k-1 → k (`start`, `end` in seconds)."""

    start: float
    end: float
    frame_index: int
    """Index of frame k-1, the last frame before the contact (the keyframe of the action)."""
    x: float
    y: float
    values: np.ndarray
    """float32, in FEATURE_NAMES order."""


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.hypot(*a)), float(np.hypot(*b))
    return float(a @ b) / (na * nb) if na > 0 and nb > 0 else 0.0


def _cell_collapse(moving: EnergySample, contact: EnergySample) -> tuple[float, float]:
    """(largest single-cell loss of motion / largest cell motion before, share of cells moving before)."""
    if moving.cells is None:
        return 0.0, 0.0
    after = contact.cells if contact.cells is not None else np.zeros_like(moving.cells)
    top = float(moving.cells.max())
    if top <= 0:
        return 0.0, 0.0
    loss = float(np.max(moving.cells - after))
    return max(loss, 0.0) / top, float(np.mean(moving.cells > 0.1 * top))


class OnsetFeatures:
    """Streaming: `push` each frame's EnergySample in order; each push returns the row of the
    interval one frame back (it needs the next frame), or None until there is one."""

    def __init__(self) -> None:
        self._samples: deque[EnergySample] = deque(maxlen=4)
        self._recent: deque[tuple[float, float, float]] = deque()
        """(time, energy, difference) of the last SCALE_WINDOW_S."""

    def _scales(self, now: float) -> tuple[float, float]:
        while self._recent and self._recent[0][0] < now - SCALE_WINDOW_S:
            self._recent.popleft()
        return (max(e for _, e, _ in self._recent) + EPS, max(d for _, _, d in self._recent) + EPS)

    def push(self, sample: EnergySample) -> FeatureRow | None:
        self._samples.append(sample)
        self._recent.append((sample.time, sample.energy, sample.difference))
        if len(self._samples) < 4:
            return None
        before2, before, now, after = self._samples
        energy_scale, difference_scale = self._scales(after.time)
        e2, e0, e1, e3 = (s.energy / energy_scale for s in (before, now, after, before2))
        d0, d1, d2 = (s.difference / difference_scale for s in (before, now, after))
        flow_before, flow_now, flow_after = mean_flow(before), mean_flow(now), mean_flow(after)
        velocity = approach(before, now)
        speed = float(np.hypot(*velocity))
        collapse, moving = _cell_collapse(before, now)
        values = (
            e2, e0, e1, e3,
            e2 - e0, e0 - e1, e0 - max(e2, e1),
            np.log10(before.energy + EPS), np.log10(now.energy + EPS), np.log10(energy_scale),
            (now.speed + 0.1) / (before.speed + 0.1), (after.speed + 0.1) / (now.speed + 0.1),
            np.log10(before.speed + 0.1),
            before.coherence, now.coherence,
            _cosine(flow_before, flow_now), _cosine(flow_now, flow_after),
            toward_centre(before, now), velocity[1] / speed if speed > 0 else 0.0, np.log10(speed + 0.1),
            collapse, moving,
            d1, d0, d2, d1 - max(d0, d2),
            now.time - before.time,
        )
        return FeatureRow(start=before.time, end=now.time, frame_index=before.frame_index,
                          x=before.x, y=before.y, values=np.asarray(values, np.float32))
