"""Impacts from motion energy: the moment a moving thing stops or turns back.

The signal is the motion energy of each frame interval: the mean camera-compensated difference
(the previous frame moved onto the current one by the camera motion) over the pixels that changed
above sensor/codec noise *and* whose change implies a real displacement (difference large for the
local gradient: warp residue under shake and light changes do not). Unlike optical flow, this sees
thin, blurred, half-transparent sticks at 15 fps. When something that was moving stops (a stick
on a desk, a foot landing) the energy of the interval that contains the contact collapses compared
with the interval before it. Peaks of this energy drop are impacts, placed in the middle of the contact
interval (`TIME_AT`). A fast motion that reverses within one interval (a stick bouncing off a
block at full speed) gives no drop: it is found by its mean object flow flipping direction between
two fast, coherent intervals (`ImpactDetector._reversal`).

Reciprocating actions stop twice per cycle (on the surface and at the top of the lift); the
approach direction of the thing that stopped — the mean motion of the grid cells whose motion
collapsed, not the whole frame's — tells the blow from the turn-around once the strike direction
has been learned from earlier fast approaches (`ImpactDetector._strike_direction`).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

SCALE_WINDOW_S = 2.0
"""Drops are judged against the largest motion energy of this recent window."""
MIN_RELATIVE_DROP = 0.3
"""A drop must be at least this fraction of the recent largest energy …"""
MAX_REMAINING = 0.6
"""… and leave at most this fraction of the energy before it."""
ENERGY_FLOOR = 0.02
"""Energy (mean object speed over the frame, pixels per frame at 160 px wide) below which nothing moves."""
TIME_AT = 0.5
"""Where in the contact interval (0 its start, 1 its end) the contact is placed. Measured: 0.75
moves the chopping clicks 0.5 frame closer to the sound but the rendered footsteps (exact truth)
0.3 frame further from theirs; the middle is kept."""
REVERSAL = 1.0
"""Speed (pixels per frame at 160 px) of both the approach and the rebound for a reversal within
one frame interval (a stick bouncing off a block at full speed) to count as an impact."""
SPEED_REMAINING = 0.8
"""… and the optical-flow speed of the moving pixels must fall too (below this fraction): the
difference energy of a rectangle depends on the direction it moves (a foot in mid-swing changes
its exposed edges), its flow speed does not."""
COHERENT = 0.7
"""Reversals are trusted only when the moving pixels move one way (|mean vector| / mean speed)."""
MIN_GAP_S = 0.1
"""Two impacts closer than this are one (the second is dropped)."""
FAST_APPROACH = 2.5
"""Approach speed (pixels per frame at 160 px wide) from which the approach direction is trusted."""
OPPOSITE = -0.3
"""A fast approach whose direction has a cosine below this with the strike direction is a turn-around."""
DIRECTION_MIN = 3
"""Fast approaches seen before the strike direction is used."""
DIRECTION_DECAY = 1.0
"""Weight kept by the remembered strike direction at each new fast approach (1: the whole clip;
measured: 0.85 let a run of lifts flip it on the chopping clip)."""


@dataclass
class EnergySample:
    """Motion energy of the interval that ends at frame `time`."""

    time: float
    energy: float
    x: float
    y: float
    """Centre of the motion in this interval (0..1 of the frame)."""
    frame_index: int
    cells: np.ndarray | None = None
    """Motion energy per grid cell (rows × columns) in this interval."""
    cell_flow: np.ndarray | None = None
    """Mean object motion (pixels per frame) per grid cell, rows × columns × 2."""
    coherence: float = 0.0
    speed: float = 0.0
    """Mean object speed (optical flow minus camera motion) of the moving pixels."""
    """|mean motion vector| / mean speed of the moving pixels: 1 when everything moves one way."""


def approach(moving: EnergySample, contact: EnergySample) -> np.ndarray:
    """Mean motion, in the interval before a drop, of the cells whose motion collapsed at the drop.

    This is the motion of the thing that stopped, not of the whole frame (a hand, a shadow or a
    second object moving elsewhere do not enter it)."""
    if moving.cells is None or moving.cell_flow is None:
        return np.zeros(2)
    after = contact.cells if contact.cells is not None else np.zeros_like(moving.cells)
    lost = np.maximum(moving.cells - after, 0.0)
    total = float(lost.sum())
    if total <= 0:
        return np.zeros(2)
    return (moving.cell_flow * (lost / total)[..., None]).sum(axis=(0, 1))


def toward_centre(moving: EnergySample, contact: EnergySample) -> float:
    """Cosine between the approach (see `approach`) and the direction from the place where the motion
    collapsed (centroid of the cells' energy losses) to the frame centre; 0 when either is unknown."""
    if moving.cells is None:
        return 0.0
    after = contact.cells if contact.cells is not None else np.zeros_like(moving.cells)
    lost = np.maximum(moving.cells - after, 0.0)
    total = float(lost.sum())
    velocity = approach(moving, contact)
    speed = float(np.hypot(*velocity))
    if total <= 0 or speed <= 0:
        return 0.0
    rows, cols = lost.shape
    x = float(lost.sum(axis=0) @ (np.arange(cols) + 0.5)) / (total * cols)
    y = float(lost.sum(axis=1) @ (np.arange(rows) + 0.5)) / (total * rows)
    inward = np.array([0.5 - x, 0.5 - y])
    distance = float(np.hypot(*inward))
    return float(velocity @ inward) / (speed * distance) if distance > 0 else 0.0


def mean_flow(sample: EnergySample) -> np.ndarray:
    """Energy-weighted mean object motion of an interval."""
    if sample.cells is None or sample.cell_flow is None or sample.cells.sum() <= 0:
        return np.zeros(2)
    return (sample.cell_flow * (sample.cells / sample.cells.sum())[..., None]).sum(axis=(0, 1))


@dataclass
class Impact:
    time: float
    strength: float
    x: float
    y: float
    frame_index: int
    weight: float = 0.0
    """Energy drop / recent largest energy: how clearly this looks like a stop (train selection)."""
    decided: bool = True
    """False for a weaker candidate that only a periodic train may confirm (`trains.select_train`)."""
    toward: float = 0.0
    """Cosine between the approach of the thing that stopped and the direction from where it stopped
    to the frame centre: a camera frames the struck surface, so blows come in towards the middle and
    turn-arounds at the top of a swing (often half out of the frame) point away (`toward_centre`)."""


class ImpactDetector:
    """Streaming: feed EnergySamples in time order; each push returns impacts now decided.

    Latency is one frame interval (a drop is a peak only once the next drop is known). Every peak
    of the energy drop, decided or not, is also kept in `candidates` (time order) for the periodic
    train selection at the end of the clip."""

    def __init__(self) -> None:
        self._samples: deque[EnergySample] = deque(maxlen=4)
        self._drops: deque[float] = deque(maxlen=3)
        self._recent: deque[tuple[float, float]] = deque()
        """(time, energy) of the window with decreasing energies: its first entry is the window's largest."""
        self._last_time = -np.inf
        self._strike = np.zeros(2)
        self._fast_seen = 0
        self.candidates: list[Impact] = []

    def _scale(self, now: float) -> float:
        while self._recent and self._recent[0][0] < now - SCALE_WINDOW_S:
            self._recent.popleft()
        return self._recent[0][1] if self._recent else 0.0

    def push(self, sample: EnergySample) -> list[Impact]:
        while self._recent and self._recent[-1][1] <= sample.energy:
            self._recent.pop()  # never the largest again while `sample` is in the window
        self._recent.append((sample.time, sample.energy))
        previous = self._samples[-1] if self._samples else None
        self._samples.append(sample)
        self._drops.append(max(0.0, previous.energy - sample.energy) if previous else 0.0)
        if len(self._drops) < 3 or len(self._samples) < 4:
            return []
        before, drop, after = self._drops
        # The middle drop compares interval k-1 (moving) with interval k (contact).
        moving, contact = self._samples[-3], self._samples[-2]
        scale = self._scale(sample.time)
        if self._reversal(moving, contact, scale):
            # A fast motion that turned back inside the interval ending at `contact`: the energy of
            # both intervals stays high (no drop), the direction of the motion flips.
            time = 0.5 * (moving.time + contact.time)
            if time - self._last_time >= MIN_GAP_S and self._strike_direction(mean_flow(moving), moving.energy):
                self._last_time = time
                impact = Impact(time=time, strength=float(np.clip(moving.energy / scale, 0, 1)), x=contact.x,
                                y=contact.y, frame_index=contact.frame_index, weight=1.0)
                self.candidates.append(impact)
                return [impact]
        if not (drop >= before and drop > after and drop > 0 and moving.energy >= ENERGY_FLOOR):
            return []
        # The contact happened inside the contact interval (TIME_AT; measured: a parabola
        # through the drops or the remaining-energy fraction both place it worse, because a hit that
        # presses on, a knife through a cabbage, keeps moving after its largest drop).
        time = moving.time + TIME_AT * (contact.time - moving.time)
        strength = (drop / scale) * (1.0 - np.exp(-moving.energy / (4 * ENERGY_FLOOR)))
        impact = Impact(time=time, strength=float(np.clip(strength, 0.0, 1.0)), x=moving.x, y=moving.y,
                        frame_index=moving.frame_index, weight=float(drop / scale), decided=False,
                        toward=toward_centre(moving, contact))
        self.candidates.append(impact)
        if not (drop >= MIN_RELATIVE_DROP * scale and contact.energy <= MAX_REMAINING * moving.energy
                and contact.speed <= SPEED_REMAINING * moving.speed):
            return []
        if not self._strike_direction(approach(moving, contact), drop):
            return []
        if time - self._last_time < MIN_GAP_S:
            return []
        self._last_time = time
        impact.decided = True
        return [impact]

    def _reversal(self, moving: EnergySample, contact: EnergySample, scale: float) -> bool:
        """A fast motion that turns back within one frame (a bounce off a surface at full speed)."""
        a, b = mean_flow(moving), mean_flow(contact)
        sa, sb = float(np.hypot(*a)), float(np.hypot(*b))
        if min(sa, sb) < REVERSAL or min(moving.energy, contact.energy) < 0.5 * scale \
                or min(moving.coherence, contact.coherence) < COHERENT:
            return False
        return float(a @ b) / (sa * sb) < -0.5

    def _strike_direction(self, velocity: np.ndarray, drop: float) -> bool:
        """Learn the strike direction from fast approaches; False for one that goes against it.

        Reciprocating actions (chopping, hammering) stop twice per cycle: on the surface and at the
        top of the lift. The blow is the faster, larger one, so the drop- and speed-weighted sum of
        approach directions points along the blow; a fast approach against it is a turn-around.
        Slow approaches (blurred sticks whose flow is unreliable) are never judged."""
        speed = float(np.hypot(*velocity))
        if speed < FAST_APPROACH:
            return True
        unit = velocity / speed
        norm = float(np.hypot(*self._strike))
        against = self._fast_seen >= DIRECTION_MIN and norm > 0 and float(unit @ self._strike) / norm < OPPOSITE
        self._strike = DIRECTION_DECAY * self._strike + drop * speed * unit
        self._fast_seen += 1
        return not against
