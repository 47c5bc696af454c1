"""Put one sound template into the mix: attack on the event sample, pan, gain, pitch.

A template's attack (its onset, measured when the library was built) is what the ear ties to
the visible impact, so the template is placed so that its attack sample lands on the event's
sample, not its file start. Pan is equal-power (constant loudness across the stereo field).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Placement:
    """One template to place. `audio` float32 at the mix rate, (n,) mono or (n, 2) stereo."""

    audio: np.ndarray
    attack: float
    """Seconds from the template's first sample to its attack."""
    time: float
    """Event time in the clip (s): where the attack lands."""
    gain: float = 1.0
    """Linear gain (from the event strength)."""
    pan: float = 0.0
    """-1 left … 0 centre … 1 right."""
    pitch: float = 1.0
    """Playback-rate ratio (1.05 = 5 % higher and shorter), for variation between repeats."""


def pan_gains(pan: float) -> tuple[float, float]:
    """Equal-power (sin/cos) gains for left and right; both 1/√2 in the centre."""
    angle = (float(np.clip(pan, -1.0, 1.0)) + 1.0) * np.pi / 4
    return float(np.cos(angle)), float(np.sin(angle))


def repitch(audio: np.ndarray, ratio: float) -> np.ndarray:
    """Play `audio` `ratio` times faster (linear interpolation; small ratios only, for variation)."""
    if ratio == 1.0:
        return audio
    positions = np.arange(0, len(audio) - 1, ratio)
    if audio.ndim == 1:
        return np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)
    return np.stack([np.interp(positions, np.arange(len(audio)), audio[:, c]) for c in range(audio.shape[1])],
                    axis=1).astype(np.float32)


def stereo_of(placement: Placement) -> np.ndarray:
    """The placement's audio as (n, 2) with pitch, gain and pan applied."""
    audio = repitch(np.asarray(placement.audio, np.float32), placement.pitch)
    left, right = pan_gains(placement.pan)
    if audio.ndim == 1:
        return np.stack([audio * left, audio * right], axis=1) * placement.gain
    # Stereo source: balance, scaled so the centre leaves it unchanged.
    return audio[:, :2] * (np.array([left, right], np.float32) * np.sqrt(2) * placement.gain)


def add_placement(mix: np.ndarray, placement: Placement, sr: int) -> None:
    """Add `placement` into `mix` (n, 2) in place, attack on the event sample, cut at both ends."""
    audio = stereo_of(placement)
    attack = round(placement.attack / placement.pitch * sr)
    start = round(placement.time * sr) - attack
    first = max(0, -start)
    end = min(len(mix), start + len(audio))
    if end > start + first:
        mix[start + first:end] += audio[first:end - start]
