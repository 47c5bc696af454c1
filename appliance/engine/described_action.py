"""A continuous action named by the description is laid over the motion, not clicked at peaks.

The motion analysis finds continuous actions only where no impact interrupts them, and a thin
stream of water or the buzz of a chainsaw often moves too little, or too jerkily, for that: a
clip described as "water poured from a jug into a glass" got a few glass clinks or silence.
When the description's best action category is a sustained one (pour, saw, scrape, rustle …),
the description has said what sounds; the motion only says when. So the clip's events become
that action over each span where something visibly moves (motion/sustained.py motion_spans),
or over the whole clip when nothing measurable moves (the user said it happens), and the clip is
not an ambient scene (engine/scene.py ambience_category), whatever its picture looks like. A
description decides this when its best action category is a sustained one.

Without a description the picture may say it instead (`pictured_sustained`): when the scene
frames, read as an event's keyframe is read (zero-shot labels and the category probe), match a
sustained category better than every other category, beds included. On the real clips that is
the pours: the picture alone names a pour for 4 of the 5 poured clips and for none of the other
30 labelled ones (scripts/eval_category.py, probe fitted on the other folds), where the motion,
with no peaks to click, left them silent, under a bed or clinking. No parameter is added: the
same "best category is of that kind" test as the description's and the ambience's.
"""
from __future__ import annotations

from appliance.engine.analysis import ClipAnalysis
from appliance.library import Catalog
from appliance.motion import SUSTAINED, ActionEvent
from appliance.motion.sustained import motion_spans

SUSTAINED_KIND = "sustained"


def described_sustained(catalog: Catalog, description_scores: dict[str, float] | None) -> str | None:
    """The sustained category the description names, when its best action category is one."""
    if not description_scores:
        return None
    actions = [n for n, c in catalog.categories.items() if c.kind != "ambience" and catalog.in_category(n)]
    if not actions:
        return None
    best = max(actions, key=lambda n: description_scores.get(n, -1.0))
    return best if catalog.categories[best].kind == SUSTAINED_KIND else None


def pictured_sustained(catalog: Catalog, scene_scores: dict[str, float] | None) -> str | None:
    """The sustained category the scene frames show, when it is their best category of all (a
    bed or an action that knocks leading it, the picture has not said a continuous action)."""
    if not scene_scores:
        return None
    names = [n for n in catalog.categories if catalog.in_category(n) and n in scene_scores]
    if not names:
        return None
    best = max(names, key=lambda n: scene_scores[n])
    return best if catalog.categories[best].kind == SUSTAINED_KIND else None


def sustained_events(analysis: ClipAnalysis) -> list[ActionEvent]:
    """One sustained event per span of visible motion, with the motion's envelope over it (its
    sound follows it: engine/scene.py shaped), or one over the whole clip, flat (no motion above
    the floor: an envelope there would be codec noise); each keyed to the scene frame nearest its
    middle (what the vision model sees of it)."""
    trace, duration = analysis.trace, analysis.info.duration
    spans = motion_spans(trace.times, trace.energy)
    events = []
    for start, end in spans or [(0.0, duration)]:
        middle = (start + end) / 2
        keyframe = min(analysis.scene, key=lambda k: abs(k.time - middle)) if analysis.scene else None
        envelope = _span_envelope(trace.times, trace.energy, start, end) if spans else []
        events.append(ActionEvent(time=start, kind=SUSTAINED, strength=1.0, x=0.5, y=0.5,
                                  frame_index=keyframe.index if keyframe else 0, duration=end - start,
                                  envelope=envelope))
    return events


def _span_envelope(times: list[float], energy: list[float], start: float, end: float) -> list[tuple[float, float]]:
    """The motion energy from `start` to `end`, scaled to 0..1 by its peak there (as the
    streaming SustainedTracker gives its actions')."""
    samples = [(t, e) for t, e in zip(times, energy) if start <= t <= end]
    peak = max((e for _, e in samples), default=0.0)
    return [(t, e / peak) for t, e in samples] if peak > 0 else []
