"""Render the Foley track: placements plus an optional ambience bed, loudness-normalised.

Output is 48 kHz stereo float32 of exactly the video's duration (rounded to the sample), at a
configurable integrated loudness with true peak ≤ the ceiling (default −1 dBTP).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from appliance.mixing.limiter import limit_true_peak
from appliance.mixing.loudness import block_powers, gated_loudness
from appliance.mixing.placement import Placement, add_placement, stereo_of

SAMPLE_RATE = 48000
DEFAULT_TARGET_LUFS = -20.0
"""Between broadcast (−23) and streaming (−14…−16): sparse impacts keep their transients."""
NORMALISE_PASSES = 4
"""Limiting lowers loudness; gain and limit again until within TOLERANCE_LU (or this many passes)."""
TOLERANCE_LU = 0.5
DEFAULT_CEILING_DB = -1.0
LOOP_CROSSFADE_S = 0.05


@dataclass(frozen=True)
class Ambience:
    """A bed looped under the whole clip (room tone, rain, kitchen), at a fixed gain and pan."""

    audio: np.ndarray
    gain: float = 0.3
    pan: float = 0.0


def add_loop(mix: np.ndarray, audio: np.ndarray, sr: int) -> None:
    """Add (n, 2) `audio` repeated over the whole of `mix` in place, crossfading each seam so the
    loop does not click (period by period: no track-sized copy of the bed)."""
    fade = min(int(LOOP_CROSSFADE_S * sr), len(audio) // 4)
    if len(audio) == 0:
        return
    # One period: the body, with its tail faded into its head so consecutive periods join smoothly.
    period = audio
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)[:, None]
        period = audio[:-fade].copy()
        period[:fade] = audio[:fade] * ramp + audio[-fade:] * (1 - ramp)
    for start in range(0, len(mix), len(period)):
        part = mix[start:start + len(period)]
        part += period[:len(part)]


def normalise(mix: np.ndarray, sr: int, target_lufs: float, ceiling_db: float) -> np.ndarray:
    """Gain to `target_lufs`, then limit to `ceiling_db` true peak, in place (silence stays silent).

    Loudness is measured once: a gain g scales every gating block's power by g², so the gained
    track's loudness follows without filtering it again; only a pass where the limiter changed
    the track measures anew. Very peaky tracks cannot reach a high target without heavy
    limiting; they end up as close as NORMALISE_PASSES passes get, always under the ceiling."""
    powers = block_powers(mix, sr)
    loudness = gated_loudness(powers)
    if not np.isfinite(loudness):
        return mix
    for _ in range(NORMALISE_PASSES):
        gain = 10 ** ((target_lufs - loudness) / 20)
        mix *= gain
        powers = block_powers(mix, sr) if limit_true_peak(mix, sr, ceiling_db) else powers * gain ** 2
        loudness = gated_loudness(powers)
        if abs(loudness - target_lufs) <= TOLERANCE_LU:
            break
    return mix


def render_track(placements: list[Placement], duration: float, *, ambience: Ambience | None = None,
                 sr: int = SAMPLE_RATE, target_lufs: float = DEFAULT_TARGET_LUFS,
                 ceiling_db: float = DEFAULT_CEILING_DB) -> np.ndarray:
    """The mixed track, (round(duration·sr), 2) float32."""
    mix = np.zeros((round(duration * sr), 2), np.float32)
    if ambience is not None:
        bed = stereo_of(Placement(audio=ambience.audio, attack=0.0, time=0.0, gain=ambience.gain, pan=ambience.pan))
        add_loop(mix, bed, sr)
    for placement in placements:
        add_placement(mix, placement, sr)
    return normalise(mix, sr, target_lufs, ceiling_db)
