"""A track rendered from the front while its placements are still being decided.

A recording scored while it is recorded (capture/scoring.py) adds each sound as soon as its
action is decided and renders the track up to where no later decision can reach; the blocks go
straight to the WAV and the AAC encoder. The rules are the offline mixer's (mixing/mixer.py
`Mix`: placements at their exact times with their pre-attack, a sound choked by the next one of
its source, the bed looped under them) and the live limiter's (mixing/stream_limiter.py: the offline
limiter's curve computed on a stream). Unlike the offline mix there is no loudness
normalisation, which needs the whole track first: the level is the placements' own, as live mode
plays it. Rendering everything at once or in any number of pieces gives the same samples.
"""
from __future__ import annotations

import numpy as np

from appliance.mixing.stream_limiter import StreamLimiter
from appliance.mixing.mixer import EDGE_FADE_S, Mix, fade_in
from appliance.mixing.placement import Placement, choked, extent


class StreamMix:
    """`add` placements, `render(until)` the next samples, `finish(length)` the rest."""

    def __init__(self, sr: int, ceiling_db: float, bed: np.ndarray | None = None):
        self.sr, self.bed = sr, bed
        self.placements: list[Placement] = []
        self.position = 0
        """Samples of the track rendered (handed out) so far."""
        self._limiter = StreamLimiter(sr, ceiling_db)
        self._fed = 0  # samples fed to the limiter (it hands them out `lookahead` later)
        self._length: int | None = None

    def add(self, placement: Placement) -> None:
        """A sound to place; it must not start before `position` (the samples there are out)."""
        self.placements.append(placement)

    def render(self, until: int) -> np.ndarray:
        """The track's samples from `position` to `until` (fewer if `until` is not past it)."""
        lookahead = self._limiter.lookahead
        stop = until + lookahead
        if stop <= self._fed:
            return np.zeros((0, 2), np.float32)
        mix = Mix(choked(self.placements, self.sr), self.sr, self.bed)(self._fed, stop)
        if self._length is not None:
            mix[max(0, self._length - self._fed):] = 0.0  # past the end: silence, as offline
        out = self._limiter.process(mix)
        skip = max(0, lookahead - self._fed)  # the limiter's first output is its initial silence
        self._fed = stop
        # Sounds that have rung out can neither sound nor choke anything again: a long recording
        # keeps only the few still ringing.
        self.placements = [p for p in self.placements if sum(extent(p, self.sr)) > stop]
        out = out[skip:]
        self.position += len(out)
        return out

    def finish(self, length: int) -> np.ndarray:
        """The samples from `position` to `length` (the track's end): sounds ringing past it fade
        out over its last EDGE_FADE_S, or over what is left to hand out when less is (a camera
        recording ended on the ringing sound's sample, a click). After the limiter: a fade only
        lowers what it let through."""
        self._length = length
        out = self.render(length)
        count = min(round(EDGE_FADE_S * self.sr), len(out))
        fall = fade_in(count, 0, count)
        if fall is not None:
            out[len(out) - count:] *= fall[::-1]
        return out
