"""Rendered clips whose action times are known exactly, for tests, evaluation and `foley bench`.

Real clips tell how the engine does on real footage but not what the true event times are; these
scenes do. Objects are drawn at their analytic position at each frame's timestamp with sub-pixel
anti-aliasing, so impacts fall between frames as they do in life. Camera shake (global
translation of the whole picture) and lighting changes (global brightness steps and flicker) can
be added to any scene to check they produce no events.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import av
import cv2
import numpy as np

from appliance.video.writer import VideoWriter

SCENES = ("stick", "bounce", "steps", "slide", "still")
_SHIFT = 4  # cv2 drawing with 4 fractional bits: 1/16 px positions


@dataclass
class SyntheticClip:
    """Where a rendered clip was written and what happens in it."""

    path: Path
    fps: float
    duration: float
    impacts: list[float] = field(default_factory=list)
    """True times (s) of each impact / landing."""
    sustained: list[tuple[float, float]] = field(default_factory=list)
    """(start, end) of sustained actions (sliding)."""


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, *,
                times: Iterable[float] | None = None, rotation: int = 0, codec: str | None = None) -> Path:
    """Encode BGR uint8 frames to `path` (container from the suffix).

    `times` gives each frame's presentation time for variable frame rate; `rotation` writes a
    display-matrix rotation (degrees counter-clockwise) as phones do."""
    time_iter = iter(times) if times is not None else None
    with VideoWriter(path, fps, timed=time_iter is not None, rotation=rotation, codec=codec) as writer:
        for image in frames:
            writer.write(image, next(time_iter) if time_iter is not None else None)
    return Path(path)


def _texture(width: int, height: int, rng: np.random.Generator, margin: int) -> np.ndarray:
    """A blurred-noise background larger than the frame, so a shaken camera has something to see."""
    noise = rng.integers(0, 255, (height + 2 * margin, width + 2 * margin, 3), dtype=np.uint8)
    blurred = cv2.GaussianBlur(noise, (0, 0), 3)
    return cv2.normalize(blurred, None, 60, 200, cv2.NORM_MINMAX)


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x * (1 << _SHIFT)), round(y * (1 << _SHIFT))


def _stick_scene(w: int, h: int, seconds: float, rng: np.random.Generator):
    """A stick pivoting at its handle strikes a block; hit intervals vary, the swing reverses at contact."""
    hits, t = [], 0.35 + rng.uniform(0, 0.2)
    while t < seconds - 0.2:
        hits.append(t)
        t += rng.uniform(0.45, 0.9)
    pivot = (0.18 * w, 0.55 * h)
    length, theta_max = 0.55 * w, np.radians(50)

    def draw(img: np.ndarray, t: float) -> None:
        bounds = [0.0] + hits + [seconds + 1.0]
        k = max(i for i, b in enumerate(bounds[:-1]) if b <= t)
        a, b = bounds[k], bounds[k + 1]
        # Before the first hit the stick starts raised and swings down (half a sine arch).
        u = (t - a) / (b - a) if k > 0 else 0.5 + 0.5 * t / b
        theta = theta_max * np.sin(np.pi * u)
        tip = (pivot[0] + length * np.cos(theta), pivot[1] - length * np.sin(theta))
        cv2.rectangle(img, (int(pivot[0] + 0.8 * length), int(pivot[1] + 4)), (int(pivot[0] + 1.1 * length), h - 1),
                      (40, 90, 150), -1)
        cv2.line(img, _pt(*pivot), _pt(*tip), (230, 230, 240), max(2, w // 80), cv2.LINE_AA, _SHIFT)

    return draw, hits, []


def _bounce_scene(w: int, h: int, seconds: float, rng: np.random.Generator):
    """A ball dropped under gravity bounces with restitution 0.7 until it rests."""
    floor, radius = 0.85 * h, 0.06 * h
    g = 2.5 * h  # px/s²: a fall of the frame height takes ~0.9 s
    t0, drop = 0.3 + rng.uniform(0, 0.2), floor - radius - 0.1 * h
    v = np.sqrt(2 * g * drop)
    hits, t = [t0 + v / g], t0 + v / g
    while v * 0.7 > 0.35 * g / 10 and t < seconds:
        v *= 0.7
        t += 2 * v / g
        hits.append(t)
    hits = [float(x) for x in hits if x < seconds - 0.1]
    x = 0.35 * w + rng.uniform(0, 0.3) * w

    def height(t: float) -> float:
        if t < t0:
            return drop
        if not hits or t < hits[0]:
            return max(0.0, drop - 0.5 * g * (t - t0) ** 2)
        for i in range(len(hits) - 1):
            if hits[i] <= t < hits[i + 1]:
                v0 = 0.5 * g * (hits[i + 1] - hits[i])
                return v0 * (t - hits[i]) - 0.5 * g * (t - hits[i]) ** 2
        return 0.0

    def draw(img: np.ndarray, t: float) -> None:
        cv2.rectangle(img, (0, int(floor)), (w - 1, h - 1), (70, 70, 70), -1)
        cv2.circle(img, _pt(x, floor - radius - height(t)), round(radius * (1 << _SHIFT)), (60, 200, 240), -1,
                   cv2.LINE_AA, _SHIFT)

    return draw, hits, []


def _steps_scene(w: int, h: int, seconds: float, rng: np.random.Generator):
    """Two feet take turns: lift, swing forward, land, every `period` seconds (walking).

    Each swing takes 60 % of a step, so both feet stand still between landing and the next lift
    (the double-support phase of a real gait)."""
    period, ground, lift = 0.5 + rng.uniform(-0.05, 0.05), 0.88 * h, 0.12 * h
    start = 0.3
    landings = [start + period * (k + 1) for k in range(int((seconds - start) / period)) if start + period * (k + 1) < seconds - 0.1]
    stride = 0.8 * w / max(1, len(landings) + 2)
    foot_w, foot_h = 0.12 * w, 0.06 * h

    def foot_state(t: float, which: int) -> tuple[float, float]:
        steps_done = sum(1 for i, land in enumerate(landings) if land <= t and i % 2 == which)
        x = 0.05 * w + stride * (2 * steps_done + which)
        for i, land in enumerate(landings):
            swing = 0.6 * period
            if i % 2 == which and land - swing <= t < land:
                u = (t - (land - swing)) / swing
                return x + 2 * stride * u, lift * np.sin(np.pi * u)
        return x, 0.0

    def draw(img: np.ndarray, t: float) -> None:
        cv2.rectangle(img, (0, int(ground)), (w - 1, h - 1), (50, 60, 50), -1)
        for which, colour in ((0, (30, 30, 200)), (1, (200, 60, 30))):
            x, up = foot_state(t, which)
            y = ground - up - foot_h
            cv2.rectangle(img, _pt(x, y), _pt(x + foot_w, y + foot_h), colour, -1, cv2.LINE_AA, _SHIFT)

    return draw, landings, []


def _slide_scene(w: int, h: int, seconds: float, rng: np.random.Generator):
    """A box slides across a table with smooth acceleration and braking: sustained, no impact."""
    a, b = 0.4, max(0.8, seconds - 0.4)
    x0, x1, y = 0.1 * w, 0.75 * w, 0.55 * h

    def draw(img: np.ndarray, t: float) -> None:
        u = min(1.0, max(0.0, (t - a) / (b - a)))
        x = x0 + (x1 - x0) * (0.5 - 0.5 * np.cos(np.pi * u))
        cv2.rectangle(img, (0, int(y + 0.15 * h)), (w - 1, h - 1), (60, 100, 120), -1)
        cv2.rectangle(img, _pt(x, y), _pt(x + 0.15 * w, y + 0.15 * h), (200, 200, 60), -1, cv2.LINE_AA, _SHIFT)

    return draw, [], [(a, b)]


def _still_scene(w: int, h: int, seconds: float, rng: np.random.Generator):
    """Nothing moves: any event found here comes from the camera or the light."""
    return (lambda img, t: None), [], []


_BUILDERS: dict[str, Callable] = {"stick": _stick_scene, "bounce": _bounce_scene, "steps": _steps_scene,
                                  "slide": _slide_scene, "still": _still_scene}


def render_scene(scene: str, path: str | Path, *, width: int = 320, height: int = 240, fps: float = 30.0,
                 seconds: float = 4.0, shake: float = 0.0, flicker: float = 0.0, seed: int = 0,
                 times: list[float] | None = None, rotation: int = 0, codec: str | None = None) -> SyntheticClip:
    """Render `scene` (one of SCENES) to `path` and return its ground truth.

    shake: camera shake amplitude in pixels (random walk plus jitter, whole picture);
    flicker: relative size of brightness steps and per-frame flicker (0.3 = ±30 %);
    times: explicit frame times for a variable-frame-rate clip (else a constant `fps`);
    codec: the encoder (default: the container's, H.264 for .mp4)."""
    rng = np.random.default_rng(seed)
    margin = int(np.ceil(3 * shake)) + 2
    background = _texture(width, height, rng, margin)
    draw, impacts, sustained = _BUILDERS[scene](width, height, seconds, rng)
    vfr = times is not None
    times = list(times) if vfr else [i / fps for i in range(int(round(seconds * fps)))]
    offsets = np.cumsum(rng.normal(0, shake * 0.5, (len(times), 2)), axis=0)
    offsets = np.clip(offsets, -2 * shake, 2 * shake) + rng.normal(0, shake * 0.5, (len(times), 2))
    step_times = sorted(rng.uniform(0, seconds, 3)) if flicker else []
    levels = 1.0 + rng.uniform(-flicker, flicker, len(step_times) + 1)

    def frames():
        for i, t in enumerate(times):
            canvas = background.copy()
            scene_view = canvas[margin:margin + height, margin:margin + width]
            draw(scene_view, t)
            dx, dy = offsets[i] if shake else (0.0, 0.0)
            shift = np.float32([[1, 0, dx - margin], [0, 1, dy - margin]])
            image = cv2.warpAffine(canvas, shift, (width, height), flags=cv2.INTER_LINEAR) if shake else scene_view
            if flicker:
                gain = levels[sum(1 for s in step_times if s <= t)] * (1 + rng.uniform(-0.1, 0.1) * flicker)
                image = cv2.convertScaleAbs(image, alpha=gain)
            yield image

    write_video(path, frames(), fps, times=times if vfr else None, rotation=rotation, codec=codec)
    return SyntheticClip(path=Path(path), fps=fps, duration=times[-1] + 1.0 / fps, impacts=impacts,
                         sustained=sustained)


def reencode(source: str | Path, target: str | Path, codec: str = "libx264") -> Path:
    """The same pictures in different bytes (decoded and encoded again): a near-duplicate of `source`, as
    when a clip is uploaded again after a phone re-compressed it."""
    with av.open(str(source)) as container:
        fps = float(container.streams.video[0].average_rate or 30)
        frames = (frame.to_ndarray(format="bgr24") for frame in container.decode(video=0))
        return write_video(target, frames, fps, codec=codec)
