"""What the motion analysis measures in each frame interval, and the geometry read from it.

An `EnergySample` is one interval's motion: the camera-compensated difference energy over the
pixels that really moved (overall and per grid cell), the flow speed and direction of the moving
pixels, and the raw frame difference. The helpers below read the motion of the thing that
stopped from two consecutive samples (the cells whose motion collapsed), which is what tells a
blow on a surface from the turn-around at the top of a swing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ENERGY_FLOOR = 0.02
"""Energy (mean object speed over the frame, pixels per frame at 160 px wide) below which nothing
moves (the sustained-action floor)."""


@dataclass
class EnergySample:
    """Motion energy of the interval that ends at frame `time`."""

    time: float
    energy: float
    x: float
    y: float
    """Centre of the motion in this interval (0..1 of the frame)."""
    frame_index: int
    cells: np.ndarray | None = None
    """Motion energy per grid cell (rows × columns) in this interval."""
    cell_flow: np.ndarray | None = None
    """Mean object motion (pixels per frame) per grid cell, rows × columns × 2."""
    coherence: float = 0.0
    """|mean motion vector| / mean speed of the moving pixels: 1 when everything moves one way."""
    speed: float = 0.0
    """Mean object speed (optical flow minus camera motion) of the moving pixels."""
    difference: float = 0.0
    """Mean absolute grey-level difference from the previous frame, camera motion included (the
    naive frame-difference signal)."""


def approach(moving: EnergySample, contact: EnergySample) -> np.ndarray:
    """Mean motion, in the interval before a drop, of the cells whose motion collapsed at the drop.

    This is the motion of the thing that stopped, not of the whole frame (a hand, a shadow or a
    second object moving elsewhere do not enter it)."""
    if moving.cells is None or moving.cell_flow is None:
        return np.zeros(2)
    after = contact.cells if contact.cells is not None else np.zeros_like(moving.cells)
    lost = np.maximum(moving.cells - after, 0.0)
    total = float(lost.sum())
    if total <= 0:
        return np.zeros(2)
    return (moving.cell_flow * (lost / total)[..., None]).sum(axis=(0, 1))


def toward_centre(moving: EnergySample, contact: EnergySample) -> float:
    """Cosine between the approach (see `approach`) and the direction from the place where the motion
    collapsed (centroid of the cells' energy losses) to the frame centre; 0 when either is unknown."""
    if moving.cells is None:
        return 0.0
    after = contact.cells if contact.cells is not None else np.zeros_like(moving.cells)
    lost = np.maximum(moving.cells - after, 0.0)
    total = float(lost.sum())
    velocity = approach(moving, contact)
    speed = float(np.hypot(*velocity))
    if total <= 0 or speed <= 0:
        return 0.0
    rows, cols = lost.shape
    x = float(lost.sum(axis=0) @ (np.arange(cols) + 0.5)) / (total * cols)
    y = float(lost.sum(axis=1) @ (np.arange(rows) + 0.5)) / (total * rows)
    inward = np.array([0.5 - x, 0.5 - y])
    distance = float(np.hypot(*inward))
    return float(velocity @ inward) / (speed * distance) if distance > 0 else 0.0


def mean_flow(sample: EnergySample) -> np.ndarray:
    """Energy-weighted mean object motion of an interval."""
    if sample.cells is None or sample.cell_flow is None or sample.cells.sum() <= 0:
        return np.zeros(2)
    return (sample.cell_flow * (sample.cells / sample.cells.sum())[..., None]).sum(axis=(0, 1))
