"""Sustained actions (scraping, rubbing, pouring, rustling): motion that goes on without impacts.

A run of frames whose motion energy stays above a floor for at least MIN_DURATION_S, with no
impact inside it, is one sustained action; its envelope (energy over time, scaled to 0..1) shapes
the level of the looped texture placed on it (engine/scene.py shaped). Repeated hits also keep energy up, but the impacts between
them cut the run, so a drum roll does not become a scrape.
"""
from __future__ import annotations

from appliance.motion.events import SUSTAINED, ActionEvent
from appliance.motion.samples import ENERGY_FLOOR, EnergySample

MIN_DURATION_S = 1.0


class SustainedTracker:
    """Streaming: push energy samples (and tell it about impacts); returns finished actions."""

    def __init__(self) -> None:
        self._run: list[EnergySample] = []

    def interrupt(self) -> ActionEvent | None:
        """An impact happened: whatever ran until now ends here."""
        return self._close()

    def push(self, sample: EnergySample) -> ActionEvent | None:
        if sample.energy >= ENERGY_FLOOR:
            self._run.append(sample)
            return None
        return self._close()

    def finish(self) -> ActionEvent | None:
        return self._close()

    def _close(self) -> ActionEvent | None:
        run, self._run = self._run, []
        if len(run) < 2 or run[-1].time - run[0].time < MIN_DURATION_S:
            return None
        peak = max(s.energy for s in run)
        mean = sum(s.energy for s in run) / len(run)
        return ActionEvent(
            time=run[0].time, kind=SUSTAINED, strength=min(1.0, mean / (8 * ENERGY_FLOOR)),
            x=sum(s.x for s in run) / len(run), y=sum(s.y for s in run) / len(run),
            frame_index=run[len(run) // 2].frame_index, duration=run[-1].time - run[0].time,
            envelope=[(s.time, s.energy / peak) for s in run])



def motion_spans(times: list[float], energy: list[float]) -> list[tuple[float, float]]:
    """(start, end) of every run where the motion energy stays at or above ENERGY_FLOOR for at
    least MIN_DURATION_S, impacts or not: where a continuous action the user described (a pour,
    a saw) is visibly going on. Same floor and length as the tracker's, so the two agree."""
    spans, start, last = [], None, None
    for time, value in zip(times, energy):
        if value >= ENERGY_FLOOR:
            start = time if start is None else start
            last = time
            continue
        if start is not None and last - start >= MIN_DURATION_S:
            spans.append((start, last))
        start = None
    if start is not None and last - start >= MIN_DURATION_S:
        spans.append((start, last))
    return spans
