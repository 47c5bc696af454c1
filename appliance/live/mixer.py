"""The real-time mixer: sounds started the moment their action is decided, one block at a time.

The audio output's own thread (PortAudio's callback, or the seam's clock) calls `render` once
per period; everything it touches is in memory (the cue's recording was decoded when its scene
was decided) and costs well under a period. A cue is started at the first sample of the block
being rendered, from its recording's attack (the part before the attack is what the offline
mixer places before the event; live, the event is already past). The placement rules are the
offline mixer's own (mixing/placement.py): the placement renders itself with its pitch, gain
and pan, and a new sound chokes the one of its source still ringing (15 ms fade). At most
`voices` sounds ring at once; a new one past that chokes the oldest. A cue that would reach the
speaker after its deadline (the latency budget) is dropped and counted, never played late.
The sum goes through the offline limiter's rule run as a stream (`StreamLimiter`).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from appliance.mixing.stream_limiter import StreamLimiter
from appliance.mixing import DEFAULT_CEILING_DB, SAMPLE_RATE, Placement
from appliance.mixing.placement import add_placement, extent


@dataclass(frozen=True)
class Cue:
    """A sound to start as soon as possible."""

    placement: Placement
    """Its recording (from the attack on), gain, pan, pitch and source; `time` is set by the mixer."""
    seen_at: float
    """Monotonic capture time of the frame where the action is visible."""
    deadline: float
    """Monotonic time by which its first sample must reach the speaker, else it is dropped."""
    tag: object = None
    """What the caller needs back with the outcome (its event and choice)."""


@dataclass(frozen=True)
class Outcome:
    """What became of a cue: started (handed to the device in a block) or dropped."""

    cue: Cue
    started: bool
    handed_at: float
    """Monotonic time the block holding its first sample was handed to the device."""
    output_latency: float
    """Seconds from that hand-over to the first sample at the speaker: the device's reported
    latency plus the sample's place in the block (the limiter's look-ahead)."""

    @property
    def latency(self) -> float:
        """Motion to sound: from the visible action's frame to its first sample at the speaker."""
        return self.handed_at + self.output_latency - self.cue.seen_at


BlockSink = Callable[[np.ndarray, float, float], None]
"""Receives each output block, its hand-over time and the device latency (a recorder)."""


class LiveMixer:
    def __init__(self, voices: int = 16, sr: int = SAMPLE_RATE, ceiling_db: float = DEFAULT_CEILING_DB):
        self.sr = sr
        self.voices = voices
        self.limiter = StreamLimiter(sr, ceiling_db)
        self.position = 0
        """Samples rendered so far (the mixer's own sample clock, before the limiter's delay)."""
        self.blocks = 0
        self.sinks: tuple[BlockSink, ...] = ()
        """Each receives every block (the recordings being made: one ending while the next has
        started still takes its tail). Replaced whole by other threads, read once per block."""
        self._incoming: deque[Cue] = deque()  # appended by the session, popped by the audio thread
        self.outcomes: deque[Outcome] = deque()  # appended by the audio thread, popped by the session
        self._ringing: list[Placement] = []

    def submit(self, cue: Cue) -> None:
        """From any thread: start `cue` in the next block rendered."""
        self._incoming.append(cue)

    def discard_pending(self) -> list[Cue]:
        """Cues not yet started (the device is gone): taken back, for the caller to count."""
        taken = []
        while self._incoming:
            taken.append(self._incoming.popleft())
        return taken

    def render(self, frames: int, handed_at: float, device_latency: float) -> np.ndarray:
        """The next `frames` stereo float32 samples; `handed_at` is when they go to the device and
        `device_latency` how long it then takes them to the speaker."""
        start = self.position
        offset = self.limiter.lookahead / self.sr  # a sound started here leaves the limiter this late
        while self._incoming:
            cue = self._incoming.popleft()
            if handed_at + device_latency + offset > cue.deadline:
                self.outcomes.append(Outcome(cue, False, handed_at, device_latency + offset))
                continue
            self._start(cue.placement, start)
            self.outcomes.append(Outcome(cue, True, handed_at, device_latency + offset))
        mix = np.zeros((frames, 2), np.float32)
        for placement in self._ringing:
            add_placement(mix, placement, self.sr, offset=start)
        self.position += frames
        self._ringing = [p for p in self._ringing if sum(extent(p, self.sr)) > self.position]
        out = self.limiter.process(mix)
        self.blocks += 1
        for sink in self.sinks:
            sink(out, handed_at, device_latency)
        return out

    def _start(self, placement: Placement, start: int) -> None:
        """Ring `placement` from sample `start` on, choking its source's sound and, past the voice
        count, the oldest sound still unchoked."""
        at = start / self.sr
        placement = replace(placement, time=at, attack=0.0)
        unchoked = []
        for i, ringing in enumerate(self._ringing):
            if ringing.choke is None and placement.source and ringing.source == placement.source:
                self._ringing[i] = replace(ringing, choke=at)
            elif ringing.choke is None:
                unchoked.append(i)
        while len(unchoked) >= self.voices:
            oldest = unchoked.pop(0)
            self._ringing[oldest] = replace(self._ringing[oldest], choke=at)
        self._ringing.append(placement)

    @property
    def ringing(self) -> int:
        return len(self._ringing)


def from_attack(placement: Placement, sr: int = SAMPLE_RATE) -> Placement:
    """The placement's recording cut at its attack: what a live cue plays (see the module doc)."""
    first = round(placement.attack * sr)
    return replace(placement, audio=placement.audio[first:], attack=0.0)
