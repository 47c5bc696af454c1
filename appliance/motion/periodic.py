"""Mark impacts that form a regular train (footsteps, hammering, chopping) as periodic.

Knowing that impacts repeat lets template choice keep one sound family for the whole train and
vary it gently, the way a Foley artist walks a whole scene in the same shoes.
"""
from __future__ import annotations

from appliance.motion.events import IMPACT, PERIODIC, ActionEvent

MIN_TRAIN = 3
"""Impacts needed before a rhythm is believed."""
TOLERANCE = 0.25
"""Intervals within ±25 % of their neighbours' count as the same beat."""


def mark_periodic(events: list[ActionEvent]) -> list[ActionEvent]:
    """Set kind=PERIODIC and `period` on impacts in runs of ≥ MIN_TRAIN evenly spaced ones (in place)."""
    impacts = sorted((e for e in events if e.kind in (IMPACT, PERIODIC)), key=lambda e: e.time)
    start = 0
    while start < len(impacts) - 1:
        end = start + 1
        base = impacts[end].time - impacts[start].time
        while end + 1 < len(impacts) and abs((impacts[end + 1].time - impacts[end].time) - base) <= TOLERANCE * base:
            end += 1
        if end - start + 1 >= MIN_TRAIN:
            period = (impacts[end].time - impacts[start].time) / (end - start)
            for event in impacts[start:end + 1]:
                event.kind, event.period = PERIODIC, period
            start = end
        else:
            start += 1
    return events
