"""Edits of a scored clip's timeline: add, move, re-gain, swap and delete placed sounds.

Each edit returns a new Timeline (the one given is left as it was) that remix.mix_timeline turns
into a track without analysing the clip again. Events are named by their `n`, which stays
theirs through every edit; an added event takes a number no event of the job has had (the
caller says which, as it alone knows the numbers of deleted events). The events stay sorted by
time. A swapped recording keeps the action's part of the gain (strength and variation) and
takes its own level gain, as the engine would have placed it.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from appliance.engine.remix import recording
from appliance.engine.scene import gain_range_db, level_db, level_gain, strength_gain
from appliance.engine.timeline import Position, Timeline, TimelineEvent, Why
from appliance.errors import UsageError
from appliance.library import Catalog, Template
from appliance.motion import EventKind

ADDED, CHOSEN = "added by the user", "chosen by the user"
EVENTS_PER_SECOND, MIN_EVENTS = 10, 50
"""How many placed sounds an add may bring a clip to: 10 a second of clip (the engine placed 218
in a 2-minute clip), at least 50. Every edit re-mixes every event and rewrites the timeline, so
without a bound each add made the next one slower: 10,000 events on a 4 s clip took 2 s of
mixing and a 4 MB timeline.json per edit, and nothing stopped a client adding more."""
END_MARGIN_S = 0.05
"""How long before the clip's end a sound must start: one placed at the very end was taken and
never heard (the mix ends there), one placed 10 ms before it is a click."""
ROUNDING_S = 0.0005
"""How far outside the times allowed a time may lie and be taken as the nearest one: half the
millisecond a client (the page) rounds a time to, where the clip's length has four decimals."""


class NoSuchEvent(UsageError):
    """The timeline has no event of that number (never had one, or it was deleted)."""


class TooManyEvents(UsageError):
    """The clip already holds the most placed sounds an add may bring it to (max_events)."""


def max_events(timeline: Timeline) -> int:
    return max(MIN_EVENTS, math.ceil(EVENTS_PER_SECOND * timeline.clip.duration))


@dataclass(frozen=True)
class Change:
    """What to change of a placed sound; None: leave it."""

    time: float | None = None
    gain_db: float | None = None
    template_id: str | None = None


def _latest_time(timeline: Timeline) -> float:
    """The latest a sound may start: END_MARGIN_S before the clip's end."""
    return max(0.0, round(timeline.clip.duration - END_MARGIN_S, 4))


def _check_time(timeline: Timeline, seconds: float) -> float:
    """`seconds`, within ROUNDING_S of the times allowed taken as the nearest one: a time rounded
    to a millisecond at the end of a 29.97 fps clip (2.069 for 2.0687 s) is no error."""
    latest = _latest_time(timeline)
    if not (math.isfinite(seconds) and -ROUNDING_S <= seconds <= latest + ROUNDING_S):
        raise UsageError(f"time must be between 0 and {latest:g} s: a sound starting in the last "
                         f"{END_MARGIN_S * 1000:g} ms of the clip ({timeline.clip.duration:g} s long) would not be heard")
    return round(min(max(seconds, 0.0), latest), 4)


def _check_gain(gain_db: float, template: Template | None) -> float:
    """gain_db, when it lies within `template`'s gain_range_db (not checkable without it)."""
    if not math.isfinite(gain_db):
        raise UsageError("gain_db must be a number of dB")
    if template is not None:
        level, (low, high) = level_db(template), gain_range_db(template)
        if not low <= gain_db <= high:
            raise UsageError(f"gain_db for this recording must be between {low:g} and {high:+g} dB "
                             f"(its own level is {level:+g} dB)")
    return round(gain_db, 2)


def _gain_db(linear: float) -> float:
    return round(20 * math.log10(max(linear, 1e-9)), 2)


def _index(timeline: Timeline, n: int) -> int:
    for index, event in enumerate(timeline.events):
        if event.n == n:
            return index
    raise NoSuchEvent(f"no sound number {n} in this result (it may have been deleted)")


def _finish(timeline: Timeline) -> None:
    timeline.events.sort(key=lambda e: (e.time, e.n))
    timeline.stats.events = len(timeline.events)


def _spot_kind(catalog: Catalog, template: Template) -> EventKind:
    kind = catalog.categories[template.category].kind
    if kind == "ambience":
        raise UsageError(f"{template.description!r} is an ambience bed, which lasts the whole clip; "
                         "pick a sound for one moment")
    return EventKind(kind)


def _use(event: TimelineEvent, template: Template) -> None:
    event.template_id, event.template, event.licence, event.category = \
        template.id, template.description, template.licence, template.category
    event.gain_range_db = gain_range_db(template)


def add_event(timeline: Timeline, catalog: Catalog, template_id: str, time: float, n: int,
              gain_db: float | None = None, pan: float = 0.0) -> tuple[Timeline, TimelineEvent]:
    """(new timeline, the new event number `n`): recording `template_id` placed at `time` as the
    engine places an action as strong as the clip's usual one (the median of its events'
    strengths; full strength in a clip without any), unless `gain_db` is given. At full strength
    an added sound came in 7-10 dB above the sounds the engine had placed."""
    if len(timeline.events) >= max_events(timeline):
        raise TooManyEvents(f"this result already has {len(timeline.events)} sounds, the most a clip of "
                            f"{timeline.clip.duration:g} s may hold ({EVENTS_PER_SECOND} a second, at least "
                            f"{MIN_EVENTS}); delete some before adding more")
    template = recording(catalog, template_id, "the sound")
    if not (math.isfinite(pan) and -1 <= pan <= 1):
        raise UsageError("pan must be between -1 (left) and 1 (right)")
    strengths = sorted(e.strength for e in timeline.events)
    strength = strengths[len(strengths) // 2] if strengths else 1.0
    event = TimelineEvent(
        n=n, time=_check_time(timeline, time), kind=_spot_kind(catalog, template), strength=strength,
        position=Position(x=round((pan + 1) / 2, 3), y=0.5), category=template.category,
        template_id=template.id, template=template.description, licence=template.licence,
        gain_db=(_check_gain(gain_db, template) if gain_db is not None
                 else _gain_db(level_gain(template) * strength_gain(strength))),
        pan=round(pan, 3), pitch=1.0, why=Why(decision=ADDED, candidates=[]), gain_range_db=gain_range_db(template))
    timeline = copy.deepcopy(timeline)
    timeline.events.append(event)
    _finish(timeline)
    return timeline, event


def change_event(timeline: Timeline, catalog: Catalog, n: int, change: Change) -> tuple[Timeline, TimelineEvent]:
    """(new timeline, the changed event): event `n` moved, re-gained and/or given another recording."""
    time = _check_time(timeline, change.time) if change.time is not None else None
    timeline = copy.deepcopy(timeline)
    event = timeline.events[_index(timeline, n)]
    if change.gain_db is not None and not math.isfinite(change.gain_db):
        raise UsageError("gain_db must be a number of dB")
    if change.template_id is not None and change.template_id != event.template_id:
        new = recording(catalog, change.template_id, "the sound")
        # The kind goes with the recording: it says how the mix places it (a sustained sound is
        # fitted to the action's duration, a hit plays whole) and how the page names it. The
        # action's duration stays with the event, for a sustained sound swapped back in.
        event.kind = _spot_kind(catalog, new)
        old = catalog.recording(event.template_id)
        # The action's part of the gain; unknown when the old recording is not known here (a
        # result from another appliance), when the event's gain is kept as it is.
        action = 10 ** (event.gain_db / 20) / level_gain(old) if old is not None else None
        _use(event, new)
        if action is not None:
            event.gain_db = _gain_db(action * level_gain(new))
        event.why.decision = CHOSEN
    if time is not None:
        event.time = time
    now = catalog.recording(event.template_id)
    if change.gain_db is not None:  # against the recording the event has now (a swap's, if any)
        event.gain_db = _check_gain(change.gain_db, now)
    if now is not None:  # a timeline from before gain_range_db gets it with its first edit
        event.gain_range_db = gain_range_db(now)
    _finish(timeline)
    return timeline, event


def delete_event(timeline: Timeline, n: int) -> Timeline:
    """A new timeline without event `n`."""
    timeline = copy.deepcopy(timeline)
    del timeline.events[_index(timeline, n)]
    _finish(timeline)
    return timeline
