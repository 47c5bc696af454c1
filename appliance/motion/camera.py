"""Separate what the camera and the light do from what objects do.

Two things change every pixel at once without anything happening in the scene: the camera
(hand-held shake, panning) and the light (a lamp switched on, auto-exposure, flicker). Each frame
is normalised to zero mean and unit contrast, which cancels global gain and offset changes. The
camera's motion between two frames is a similarity transform (translation, rotation, zoom) fitted
with RANSAC to dense optical flow sampled on a grid; the previous frame warped by it lines up with
the current one, so their difference shows only objects that moved.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_WIDTH = 160
"""Analysis width: enough for hand-sized objects at ~1–2 ms a frame."""
GRID_STEP = 8
"""Spacing (pixels) of the flow samples the camera motion is fitted to."""
_CONTRAST = 40.0


def normalise_light(grey: np.ndarray) -> tuple[np.ndarray, float]:
    """Map a frame to mean 128 and standard deviation 40: global brightness/contrast steps vanish.
    Also returns the contrast gain applied: a dim, flat frame's codec noise is amplified by it."""
    mean, std = cv2.meanStdDev(grey)
    gain = _CONTRAST / max(float(std[0, 0]), 1.0)
    return cv2.convertScaleAbs(grey, alpha=gain, beta=128.0 - gain * float(mean[0, 0])), gain


def working_frame(grey: np.ndarray, width: int = WORK_WIDTH) -> tuple[np.ndarray, float]:
    """Resize to the analysis width and normalise the light: (frame, contrast gain applied)."""
    if grey.shape[1] != width:
        height = max(8, round(grey.shape[0] * width / grey.shape[1]))
        grey = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA)
    return normalise_light(grey)


@dataclass
class CameraStep:
    """Motion between two working frames."""

    warped_previous: np.ndarray
    """The previous frame moved by the camera motion onto the current one."""
    matrix: np.ndarray
    """2×3 similarity transform, previous → current pixel coordinates."""
    flow_magnitude: float
    """Mean |optical flow| in frame widths per frame, camera included (the raw signal AV-Align uses)."""
    object_speed: np.ndarray
    """H×W |optical flow − camera motion| in pixels per frame: how fast each pixel's content moves."""
    object_flow: np.ndarray | None = None
    """H×W×2 optical flow − camera motion (pixels per frame): where each pixel's content moves."""


class CameraTracker:
    """Estimates camera motion between consecutive working frames from DIS optical flow."""

    def __init__(self) -> None:
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._grid: np.ndarray | None = None
        self._pixels: np.ndarray | None = None

    def _sample_grid(self, shape: tuple[int, int]) -> np.ndarray:
        if self._grid is None or self._grid_shape != shape:
            h, w = shape
            ys, xs = np.mgrid[GRID_STEP // 2:h:GRID_STEP, GRID_STEP // 2:w:GRID_STEP]
            self._grid = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
            self._grid_shape = shape
        return self._grid

    def step(self, previous: np.ndarray, current: np.ndarray) -> CameraStep:
        flow = self._dis.calc(previous, current, None)
        src = self._sample_grid(current.shape)
        dst = src + flow[src[:, 1].astype(int), src[:, 0].astype(int)]
        matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0,
                                                maxIters=200, confidence=0.99, refineIters=5)
        if matrix is None:  # too few consistent points: fall back to the median translation
            matrix = np.float32([[1, 0, 0], [0, 1, 0]])
            matrix[:, 2] = np.median(dst - src, axis=0)
        h, w = current.shape
        warped = cv2.warpAffine(previous, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        magnitude = float(np.mean(cv2.magnitude(flow[..., 0], flow[..., 1]))) / w  # cv2.mean: not reproducible
        if self._pixels is None or self._pixels.shape[:2] != (h, w):
            ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
            self._pixels = np.dstack([xs, ys])
        # OpenCV calls on the 160 px planes: numpy's matmul and hypot cost ~10× more here.
        residual = flow - (cv2.transform(self._pixels, matrix) - self._pixels)
        return CameraStep(warped_previous=warped, matrix=matrix, flow_magnitude=magnitude,
                          object_speed=cv2.magnitude(residual[..., 0], residual[..., 1]), object_flow=residual)
