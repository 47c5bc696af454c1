"""The action events motion analysis hands to template choice and the mixer, and their kinds."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


class EventKind(str, Enum):
    """What kind of action an event is; str-valued, so it is written to JSON as its value."""

    IMPACT = "impact"
    """A moving thing stops or reverses: hit, knock, chop."""
    PERIODIC = "periodic"
    """An impact that belongs to a regular train: footsteps, hammering."""
    SUSTAINED = "sustained"
    """Continuous motion: scrape, rub, pour, rustle."""

    def __str__(self) -> str:
        return self.value


IMPACT, PERIODIC, SUSTAINED = EventKind.IMPACT, EventKind.PERIODIC, EventKind.SUSTAINED

CATEGORY_KINDS: dict[EventKind, tuple[str, ...]] = {
    EventKind.IMPACT: ("impact",),
    EventKind.PERIODIC: ("periodic", "impact"),
    EventKind.SUSTAINED: ("sustained",),
}
"""Event kind → the kinds of library category that fit it (an impact only gets an impact sound,
a step of a train a periodic or an impact one, a sustained scrape a sustained one)."""


@dataclass
class ActionEvent:
    """Something visible that should make a sound.

    kind: IMPACT (a moving thing stops or reverses: hit, knock, chop), PERIODIC (an impact that
    belongs to a regular train: footsteps, hammering) or SUSTAINED (continuous motion: scrape,
    rub, pour, rustle; `duration` and `envelope` say how long and how strong over time)."""

    time: float
    """Seconds from the start of the clip; sub-frame for impacts (where the sound's attack goes)."""
    kind: EventKind
    strength: float
    """0..1, how sharp/large the action is (drives gain)."""
    x: float
    """Horizontal screen position 0 (left) … 1 (right) of the action (drives pan)."""
    y: float
    """Vertical screen position 0 (top) … 1 (bottom)."""
    frame_index: int
    """Index of the analysed frame nearest the event (keyframe for vision)."""
    duration: float = 0.0
    period: float | None = None
    """Seconds between the impacts of the train this one belongs to (PERIODIC only)."""
    envelope: list[tuple[float, float]] = field(default_factory=list)
    """(time, level 0..1) samples of a SUSTAINED action's intensity."""
    confidence: float | None = None
    """The event model's probability that a sound starts here (impacts; None for sustained)."""

    def as_dict(self) -> dict:
        return asdict(self)
