"""Put one sound template into the mix: attack on the event sample, pan, gain, pitch.

A template's attack (its onset, measured when the library was built) is what the ear ties to
the visible impact, so the template is placed so that its attack sample lands on the event's
sample, not its file start. Pan is equal-power (constant loudness across the stereo field).

Choke: a sound of a source is cut when the next sound of the same source starts, as a drummer's
hand stops a ringing hi-hat. Without it, dense hits pile their tails on one another and blur into
a wash in which the next hit's onset no longer stands out. The cut is a raised-cosine fade of
CHOKE_FADE_S starting at the next sound's attack: 15 ms is short enough that the old tail is gone
before the new sound's own body (the first 20-30 ms of a hit) and inside the onset detector's
frame (23 ms at 22.05 kHz), so the new attack is the only rise there; and long enough (two
periods of 130 Hz) that the cut itself makes no click. "Same source" is the same sound category
(set by the engine), so a drummer's alternating hits on one drum choke each other, while a
footstep never cuts a door slam under it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

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
    source: str = ""
    """What makes the sound (the engine uses its category); "" never chokes nor is choked."""
    choke: float | None = None
    """Clip time (s) where the next sound of the same source starts: from there this one fades
    out over CHOKE_FADE_S and stops. Set by `choked`, not by callers."""


CHOKE_FADE_S = 0.015


def choked(placements: list[Placement], sr: int) -> list[Placement]:
    """The placements with `choke` set where the next placement of the same source starts before
    this one has ended (order kept)."""
    out = list(placements)
    by_source: dict[str, list[int]] = {}
    for i, placement in enumerate(placements):
        if placement.source:
            by_source.setdefault(placement.source, []).append(i)
    for indices in by_source.values():
        indices.sort(key=lambda i: placements[i].time)
        for this, following in zip(indices, indices[1:]):
            first, count = extent(placements[this], sr)
            if round(placements[following].time * sr) < first + count:
                out[this] = replace(placements[this], choke=placements[following].time)
    return out


def pan_gains(pan: float) -> tuple[float, float]:
    """Equal-power (sin/cos) gains for left and right; both 1/√2 in the centre."""
    angle = (float(np.clip(pan, -1.0, 1.0)) + 1.0) * np.pi / 4
    return float(np.cos(angle)), float(np.sin(angle))


def repitch(audio: np.ndarray, ratio: float, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """Samples lo:hi of `audio` played `ratio` times faster (linear interpolation; small ratios
    only, for variation). A slice is computed on its own, with the values of the whole."""
    if ratio == 1.0:
        return audio[lo:hi]
    count = max(0, math.ceil((len(audio) - 1) / ratio))
    positions = np.arange(*slice(lo, hi).indices(count), dtype=np.float64) * ratio  # as np.arange(0, n - 1, ratio)
    if not len(positions):
        return audio[:0]
    # Only the source samples around the positions (interpolation between the same two samples).
    first, last = int(positions[0]), min(len(audio), int(positions[-1]) + 2)
    source, grid = audio[first:last], np.arange(first, last, dtype=np.float64)
    if audio.ndim == 1:
        return np.interp(positions, grid, source).astype(np.float32)
    return np.stack([np.interp(positions, grid, source[:, c]) for c in range(audio.shape[1])],
                    axis=1).astype(np.float32)


def stereo_of(placement: Placement, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """Samples lo:hi of the placement's audio as (n, 2), with pitch, gain and pan applied."""
    audio = repitch(np.asarray(placement.audio, np.float32), placement.pitch, lo, hi)
    left, right = pan_gains(placement.pan)
    if audio.ndim == 1:
        return np.stack([audio * left, audio * right], axis=1) * placement.gain
    # Stereo source: balance, scaled so the centre leaves it unchanged.
    return audio[:, :2] * (np.array([left, right], np.float32) * np.sqrt(2) * placement.gain)


def extent(placement: Placement, sr: int) -> tuple[int, int]:
    """(first sample, sample count) the placement covers in the track (attack on the event sample,
    up to the end of its choke fade)."""
    count = len(placement.audio)
    if placement.pitch != 1.0:
        count = max(0, math.ceil((count - 1) / placement.pitch))  # repitch's length
    first = round(placement.time * sr) - round(placement.attack / placement.pitch * sr)
    if placement.choke is not None:
        count = max(0, min(count, round(placement.choke * sr) + round(CHOKE_FADE_S * sr) - first))
    return first, count


def choke_envelope(placement: Placement, sr: int, lo: int, hi: int) -> np.ndarray | None:
    """Gains for samples lo:hi of the placement (None: all 1): a raised-cosine fade from the choke."""
    if placement.choke is None:
        return None
    first, _ = extent(placement, sr)
    position = np.arange(lo, hi) + first - round(placement.choke * sr)
    fade = round(CHOKE_FADE_S * sr)
    ramp = 0.5 * (1 + np.cos(np.pi * np.clip(position, 0, fade) / fade))
    return ramp.astype(np.float32)[:, None]


def add_placement(mix: np.ndarray, placement: Placement, sr: int, offset: int = 0) -> None:
    """Add `placement` into `mix` (n, 2) in place, attack on the event sample, cut at both ends.
    `mix` holds the track's samples from `offset` on (a block of it, or all of it); only the
    part of the placement that falls in it is computed."""
    first, count = extent(placement, sr)
    start = first - offset
    lo, hi = max(0, -start), min(count, len(mix) - start)
    if hi > lo:
        part = stereo_of(placement, lo, hi)
        envelope = choke_envelope(placement, sr, lo, hi)
        mix[start + lo:start + hi] += part if envelope is None else part * envelope
