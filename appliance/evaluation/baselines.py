"""The naive baselines every evaluation reports beside the engine, rendered and scored the same way.

- clicks at frame-difference peaks (`event_training.difference_peaks`, its picking — threshold,
  least gap, place in the interval — fitted on the training folds over the grid the event
  model's is chosen from, like everything the engine learns);
- random clicks: uniformly random times, as many as the clip's own onsets (it is told the rate,
  which the engine is not).
Both become a track of short knock-like clicks, so their onsets go through exactly the
detection the engine's track does.
"""
from __future__ import annotations

import numpy as np

from appliance.mixing import SAMPLE_RATE, Placement, render_track

CLICK_S = 0.12


def click() -> np.ndarray:
    """A knock-like burst: 1 ms rise, ~25 ms decay, low-passed noise (fixed seed)."""
    n = int(CLICK_S * SAMPLE_RATE)
    noise = np.convolve(np.random.default_rng(0).normal(0, 1, n), np.ones(6) / 6, mode="same")
    envelope = np.minimum(np.arange(n) / (0.001 * SAMPLE_RATE), 1.0) * np.exp(-np.arange(n) / (0.025 * SAMPLE_RATE))
    audio = (noise * envelope).astype(np.float32)
    return audio / np.abs(audio).max()


def click_track(times: np.ndarray, duration: float) -> np.ndarray:
    """Stereo track at SAMPLE_RATE with a click whose attack lands on each time."""
    sound = click()
    return render_track([Placement(sound, 0.001, float(t), gain=0.5) for t in times], duration)


def random_times(count: int, duration: float, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).uniform(0.0, duration, count))
