"""Evaluation clips of our own: a rendered scene with a sound at every true impact time.

The shared development clips are only six; these let `foley eval` (and the tests of teach and
eval) run on clips with a known truth that were never used to tune the engine.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from appliance.engine.mux import mux_mp4
from appliance.mixing import SAMPLE_RATE


def hit_sound(rng: np.random.Generator) -> np.ndarray:
    """A short decaying knock with a random pitch and decay (no two alike)."""
    t = np.arange(int(0.2 * SAMPLE_RATE)) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * rng.uniform(150, 600) * t) + 0.5 * rng.standard_normal(len(t))
    return (0.5 * tone * np.exp(-t / rng.uniform(0.02, 0.06))).astype(np.float32)


def with_hit_sounds(video: Path, duration: float, times: list[float], out: Path, seed: int = 0) -> Path:
    """`video`'s picture with a new sound track: one hit sound starting at each of `times`."""
    rng = np.random.default_rng(seed)
    audio = np.zeros((int(duration * SAMPLE_RATE), 2), np.float32)
    for time in times:
        start = int(time * SAMPLE_RATE)
        sound = hit_sound(rng)[: max(0, len(audio) - start)]
        audio[start : start + len(sound)] += sound[:, None]
    mux_mp4(Path(video), audio, SAMPLE_RATE, Path(out))
    return Path(out)
