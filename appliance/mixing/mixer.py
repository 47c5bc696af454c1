"""Render the Foley track: placements plus an optional ambience bed, loudness-normalised.

Output is 48 kHz stereo float32 of exactly the video's duration (rounded to the sample), at a
configurable integrated loudness with true peak ≤ the ceiling (default −1 dBTP).

A `Track` is a recipe: a source that renders any range of samples (`Mix`: the bed and the
placements) followed by the gain stages normalisation decided (per pass a scalar, the limiter's
gain curves over short spans and its trim). The meter, the limiter's scan, the WAV writer and
the muxer read it block by block. A block goes through the same float32 operations in the same
order as the whole track would, so reading in blocks gives the same samples as reading it at
once (tested). Reading places the sounds again (a few full reads per track), so a track of up
to HELD_BYTES (87 s) keeps its summed mix and reads copy from it; a longer one is never held
whole. Memory is therefore bounded (32 MB, or a 1.3 s block and the curves), not 115 MB of
float32 for 5 minutes.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace
from typing import Callable, Iterator

import numpy as np

from appliance.mixing.limiter import limit_true_peak
from appliance.mixing.loudness import block_powers, filter_chunk, gated_loudness
from appliance.mixing.placement import Placement, add_placement, choked, extent, stereo_of

SAMPLE_RATE = 48000
DEFAULT_TARGET_LUFS = -20.0
"""Between broadcast (−23) and streaming (−14…−16): sparse impacts keep their transients."""
NORMALISE_PASSES = 4
"""Limiting lowers loudness; gain and limit again until within TOLERANCE_LU (or this many passes)."""
TOLERANCE_LU = 0.5
DEFAULT_CEILING_DB = -1.0
LOOP_CROSSFADE_S = 0.05
BED_MARGIN_DB = 10.0
"""The bed's loudest moment sits at least this far below the quietest spot sound's (BS.1770
momentary loudness, 400 ms): a bed never masks a hit. Measured rather than ducked: a duck lifts
the bed again after each hit, and that rise is itself an onset; a bed held below the hits makes
none. 10 dB keeps a noise bed's spectral flux well under a hit's (tested with the onset detector)."""
EDGE_FADE_S = 0.01
"""The track fades out over its last 10 ms (what rings past the clip's end, the bed, a sustained
sound, was cut at the last sample: -9.6 dBFS there on a real clip) and the bed fades in over its
first 10 ms (it started at full level on sample 0); hits are left alone, one at 0 s keeps its attack."""
HELD_BYTES = 32 << 20
"""A track up to this size (87 s of stereo float32) keeps its summed mix, so that a read copies
samples instead of placing the sounds again; a longer one places them on every read."""


@dataclass(frozen=True)
class Ambience:
    """A bed looped under the whole clip (room tone, rain, kitchen), at a fixed gain and pan."""

    audio: np.ndarray
    gain: float = 0.3
    pan: float = 0.0


def loop_period(audio: np.ndarray, sr: int) -> np.ndarray:
    """One period of (n, 2) `audio` looped: its tail crossfaded into its head, so consecutive
    periods join without a click. Equal-power (sine/cosine): a bed's head and tail are unrelated
    noise, whose linear crossfade dipped ~3 dB at every loop point (measured on rain and river
    beds); a user's bed reaches here as recorded, not made loopable as the bundled ones are."""
    fade = min(int(LOOP_CROSSFADE_S * sr), len(audio) // 4)
    if not fade:
        return audio
    angle = np.linspace(0.0, np.pi / 2, fade, dtype=np.float64)[:, None]
    rise, fall = np.sin(angle).astype(np.float32), np.cos(angle).astype(np.float32)
    period = audio[:-fade].copy()
    period[:fade] = audio[:fade] * rise + audio[-fade:] * fall
    return period


def add_loop(mix: np.ndarray, period: np.ndarray, offset: int = 0) -> None:
    """Add `period`, repeated from the track's first sample on, into `mix` in place; `mix` holds
    the track's samples from `offset` on."""
    position, phase = 0, offset % len(period)
    while position < len(mix):
        part = mix[position:position + len(period) - phase]
        part += period[phase:phase + len(part)]
        position, phase = position + len(part), 0


def fade_in(count: int, start: int, stop: int) -> np.ndarray | None:
    """Gains for the track's samples start:stop of a raised-cosine rise over its first `count`
    samples (None: all 1). Computed from the absolute position, so any block reads alike."""
    if start >= count:
        return None
    position = np.arange(start, min(stop, count), dtype=np.float64)
    return (0.5 - 0.5 * np.cos(np.pi * (position + 0.5) / count)).astype(np.float32)[:, None]


class Mix:
    """The bed and the placements summed over any range of samples, bed first (faded in over the
    track's first EDGE_FADE_S) and placements in their order, as they would be added into the
    whole track."""

    def __init__(self, placements: list[Placement], sr: int, bed: np.ndarray | None = None):
        self.placements, self.sr = placements, sr
        self.period = loop_period(bed, sr) if bed is not None and len(bed) else None
        extents = np.array([extent(p, sr) for p in placements], np.int64).reshape(-1, 2)
        self.ends = extents[:, 0] + extents[:, 1]
        self.order = np.argsort(extents[:, 0], kind="stable")
        self.firsts = extents[self.order, 0]
        self.longest = int(extents[:, 1].max(initial=0))

    def __call__(self, start: int, stop: int) -> np.ndarray:
        mix = np.zeros((stop - start, 2), np.float32)
        if self.period is not None:
            add_loop(mix, self.period, start)
            rise = fade_in(round(EDGE_FADE_S * self.sr), start, stop)  # the bed alone is in `mix` yet
            if rise is not None:
                mix[:len(rise)] *= rise
        # Placements starting after `stop`, or longest-length before `start`, cannot reach the range.
        lo, hi = np.searchsorted(self.firsts, [start - self.longest, stop])
        for i in np.sort(self.order[lo:hi]):
            if self.ends[i] > start:
                add_placement(mix, self.placements[i], self.sr, offset=start)
        return mix


def faded_out(source: Callable[[int, int], np.ndarray], length: int, sr: int) -> Callable[[int, int], np.ndarray]:
    """`source` (samples start:stop of a track of `length`) falling to silence over its last EDGE_FADE_S."""
    def read(start: int, stop: int) -> np.ndarray:
        block = source(start, stop)
        fall = fade_in(round(EDGE_FADE_S * sr), length - stop, length - start)  # read from the end
        if fall is not None:
            block[len(block) - len(fall):] *= fall[::-1]
        return block
    return read


class Gain:
    """One normalisation pass: a scalar gain, then the limiter's gain curves (disjoint spans,
    added in order), then the limiter's trim."""

    def __init__(self, scale: float):
        self.scale = scale
        self.starts: list[int] = []
        self.curves: list[np.ndarray] = []
        self.trim: float | None = None

    def add_curve(self, start: int, curve: np.ndarray) -> None:
        self.starts.append(start)
        self.curves.append(curve)

    def apply(self, block: np.ndarray, offset: int) -> None:
        """Apply to `block` (the track's samples from `offset` on) in place."""
        block *= self.scale
        stop = offset + len(block)
        for i in range(max(0, bisect_right(self.starts, offset) - 1), len(self.starts)):
            start, curve = self.starts[i], self.curves[i]
            if start >= stop:
                break
            lo, hi = max(start, offset), min(start + len(curve), stop)
            if lo < hi:
                block[lo - offset:hi - offset] *= curve[lo - start:hi - start, None]
        if self.trim is not None:
            block *= self.trim


class Track:
    """`length` stereo float32 samples: `source(start, stop)` (a new array) through `gains`."""

    channels = 2

    def __init__(self, source: Callable[[int, int], np.ndarray], length: int, sr: int):
        self.source, self.length, self.sr = source, length, sr
        self.gains: list[Gain] = []

    def __len__(self) -> int:
        return self.length

    def read(self, start: int, stop: int) -> np.ndarray:
        block = self.source(start, stop)
        for gain in self.gains:
            gain.apply(block, start)
        return block

    def blocks(self, size: int | None = None) -> Iterator[np.ndarray]:
        """The track in consecutive blocks (by default the loudness filter's chunk, 1.28 s)."""
        size = size or filter_chunk(self.sr)[0]
        for start in range(0, self.length, size):
            yield self.read(start, min(self.length, start + size))

    def array(self) -> np.ndarray:
        """All of it at once (tests, evaluation; the engine's outputs read blocks)."""
        return self.read(0, self.length)


def normalise(track: Track, target_lufs: float, ceiling_db: float) -> Track:
    """Gain to `target_lufs`, then limit to `ceiling_db` true peak (silence stays silent).

    Loudness is measured once: a gain g scales every gating block's power by g², so the gained
    track's loudness follows without filtering it again; only a pass where the limiter changed
    the track measures anew. Very peaky tracks cannot reach a high target without heavy
    limiting; they end up as close as NORMALISE_PASSES passes get, always under the ceiling.
    A gain that is not finite is never applied: silence, a NaN target, or a pass that took the
    track under the meter's −70 LUFS gate (then it measures −inf, and the next gain would be
    infinite: full-scale noise, or NaN samples written as −1)."""
    powers = block_powers(track.blocks(), track.sr)
    loudness = gated_loudness(powers)
    for _ in range(NORMALISE_PASSES):
        gain = 10 ** ((target_lufs - loudness) / 20)
        if not np.isfinite(gain):
            break
        track.gains.append(Gain(gain))
        limited = limit_true_peak(track, track.gains[-1], ceiling_db)
        powers = block_powers(track.blocks(), track.sr) if limited else powers * gain ** 2
        loudness = gated_loudness(powers)
        if abs(loudness - target_lufs) <= TOLERANCE_LU:
            break
    return track


def regain(track: Track, gains: list[float], ceiling_db: float) -> Track:
    """`gains` (the scalar gains a `normalise` of the track's first mix chose) applied again, each
    followed by the true-peak limiter, as normalise applied them: the level the track was given,
    kept through an edit of its sounds. A sound made louder may be limited, never clipped."""
    for scale in gains:
        track.gains.append(Gain(scale))
        limit_true_peak(track, track.gains[-1], ceiling_db)
    return track


def peak_momentary_db(audio: np.ndarray, sr: int) -> float:
    """The loudest 400 ms block's K-weighted power, in dB (LUFS without the −0.691 offset)."""
    with np.errstate(divide="ignore"):
        return float(10 * np.log10(block_powers(audio, sr).max()))


def bed_under_spots(bed: np.ndarray, placements: list[Placement], sr: int) -> np.ndarray:
    """`bed` lowered, if needed, to BED_MARGIN_DB below the quietest placement's peak momentary
    loudness. A placement's level is its recording's (measured once per distinct recording) plus
    its gain: equal-power pan keeps a mono sound's power, and the small pitch variation is ignored."""
    levels, measured = [], {}
    for placement in placements:
        key = id(placement.audio)
        if key not in measured:
            measured[key] = peak_momentary_db(stereo_of(replace(placement, gain=1.0, pan=0.0, pitch=1.0)), sr)
        levels.append(measured[key] + 20 * np.log10(max(placement.gain, 1e-9)))
    excess = peak_momentary_db(bed, sr) - (min(levels) - BED_MARGIN_DB) if levels else 0.0
    return bed * np.float32(10 ** (-excess / 20)) if excess > 0 else bed


def bed_for(ambience: Ambience | None, placements: list[Placement], sr: int) -> np.ndarray | None:
    """The bed as the mix loops it: the ambience's recording panned and gained, kept under the spots."""
    if ambience is None:
        return None
    bed = stereo_of(Placement(audio=ambience.audio, attack=0.0, time=0.0, gain=ambience.gain, pan=ambience.pan))
    return bed_under_spots(bed, placements, sr)


def mix_track(placements: list[Placement], duration: float, *, ambience: Ambience | None = None,
              sr: int = SAMPLE_RATE, target_lufs: float = DEFAULT_TARGET_LUFS,
              ceiling_db: float = DEFAULT_CEILING_DB, gains: list[float] | None = None) -> Track:
    """The mixed track, round(duration·sr) samples of stereo, normalised (or given `gains`, those
    of an earlier normalisation: `regain`; none given, or an empty list, normalises); read it in blocks.
    Placements of one source choke each other; the bed is kept below the spot sounds, fades in at
    the start, and the whole fades out at the end (EDGE_FADE_S)."""
    placements = choked(placements, sr)
    length = round(duration * sr)
    source = faded_out(Mix(placements, sr, bed_for(ambience, placements, sr)), length, sr)
    if length * 2 * 4 <= HELD_BYTES:
        held = source(0, length)
        source = lambda start, stop: held[start:stop].copy()  # noqa: E731
    track = Track(source, length, sr)
    return regain(track, gains, ceiling_db) if gains else normalise(track, target_lufs, ceiling_db)


def render_track(placements: list[Placement], duration: float, **options) -> np.ndarray:
    """The mixed track as one (round(duration·sr), 2) float32 array (options as mix_track)."""
    return mix_track(placements, duration, **options).array()
