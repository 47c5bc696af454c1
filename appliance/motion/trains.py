"""Impacts of a regular train, chosen by their rhythm rather than one by one.

A stick beaten on a bar, a knife chopping, a hammer: each cycle stops twice (on the surface and at
the top of the lift), and at 15 fps the blurred stick makes the stop on the surface look no
sharper than the turn-around, so the decision for one drop alone is often wrong or missed. Over a
whole train the rhythm decides: every peak of the energy drop (decided impacts and weaker
candidates) is an impulse weighted by its drop; the autocorrelation of that impulse train gives
the period (the blows and the turn-arounds both repeat with it, so it is the full cycle, not its
half); a chain of candidates spaced by about one period that collects the most weight picks the
phase — the blows, being larger drops and mostly decided already — and fills the beats whose drop
was too weak to decide alone.

Which of the two stops of a cycle is the blow is also told by where the motion goes: a camera frames
the struck surface, so the blow comes in towards the middle of the frame and the turn-around at the
top of the swing points away from it (often half out of the frame). Each candidate's weight is
scaled by (1 + cosine of its approach with the direction to the frame centre) / 2 (`Impact.toward`).
The period is found from weights capped at `PERIOD_CAP`: how often something stops, not how much —
a hand entering the frame once must not outweigh the regular hits.

The chain replaces the impacts it spans only when the rhythm is clear (`select_train`): enough
beats, regular spacing. Irregular motion (a bouncing ball, hits at irregular intervals, shake and
flicker) keeps the impacts decided frame by frame. An accepted chain is extended beat by beat at
both ends by any candidate close to the next predicted beat (`_extend`): the first or last hit of a
train is often too weak for the chain, which may not skip beats. One train per clip: decided impacts
before and after it stay.
"""
from __future__ import annotations

import numpy as np

from appliance.motion.impacts import Impact

MIN_PERIOD_S = 0.35
MAX_PERIOD_S = 1.6
"""Cycle lengths looked for (hands beat, chop and step between ~0.6 and ~3 times a second)."""
RESOLUTION_S = 0.01
SMEAR_S = 0.03
"""Each candidate is a Gaussian of this width in the impulse train (timing jitter of a frame)."""
DECIDED_BONUS = 0.5
"""Weight added to candidates already decided as impacts (their drop passed every test)."""
MIN_CORRELATION = 0.2
"""Autocorrelation at the period / at lag 0 below which there is no rhythm."""
MIN_BEATS = 5
"""Impacts a chain needs before it replaces the ones decided frame by frame."""
COVER = 0.7
"""… and the fraction of the beats in its span it must have found."""
SPAN_MARGIN = 0.3
"""The train's span reaches this many periods beyond its first and last beat: decided impacts
there that the chain did not take are dropped, the ones further out stay."""
TEMPO_TOLERANCE = 0.2
"""Consecutive chain members are 1 ± this periods apart (allowing a missed beat let an irregular
sequence of hits pass for a train with gaps)."""
TEMPO_COST = 2.0
"""Weight per squared relative deviation of a spacing from the period."""
REGULARITY = 0.08
"""Median relative deviation of the chain's spacings from the period above which the motion is not
a regular train (a stick beaten at irregular intervals chains up too, but loosely)."""
MIN_WEIGHT = 0.15
"""Candidates not decided alone take part only with at least this weight (a drop of 15 % of the
recent largest energy): smaller ones filled beats of irregular sequences."""
PERIOD_CAP = 0.5
"""Weights above this count as this much in the period's autocorrelation (measured: 0.3–0.5 find the
cycle in the metal-bar clip, 0.7 or no cap lock onto 1.13 s, set by two large drops of a hand)."""
EXTEND_TOLERANCE = 0.15
"""A candidate within this many periods of the beat predicted beyond either end of a chain extends it …"""
EXTEND_WEIGHT = 0.2
"""… if its weight is at least this fraction of the median weight of the chain's members."""


def _facing(candidate: Impact) -> float:
    """1 for an approach straight towards the frame centre, 0.5 across, 0 straight away."""
    return 0.5 * (1.0 + candidate.toward)


def _period(times: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """(period s, normalised autocorrelation there) of the weighted impulse train."""
    lags = int(round(MAX_PERIOD_S / RESOLUTION_S))
    n = int((times[-1] - times[0]) / RESOLUTION_S) + 1 + lags
    train = np.zeros(n)
    np.add.at(train, np.round((times - times[0]) / RESOLUTION_S).astype(int), weights)
    half = int(3 * SMEAR_S / RESOLUTION_S)
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * RESOLUTION_S / SMEAR_S) ** 2)
    train = np.convolve(train, kernel, mode="same")
    auto = np.array([np.dot(train[:n - lag], train[lag:]) for lag in range(lags + 1)])
    if auto[0] <= 0:
        return MIN_PERIOD_S, 0.0
    first = int(round(MIN_PERIOD_S / RESOLUTION_S))
    lag = first + int(np.argmax(auto[first:]))
    return lag * RESOLUTION_S, float(auto[lag] / auto[0])


def _chain(times: np.ndarray, weights: np.ndarray, period: float) -> list[int]:
    """Indices of the best-weighted chain of candidates spaced by about one period."""
    best = weights.astype(float).copy()
    previous = -np.ones(len(times), int)
    for j in range(len(times)):
        for i in range(j - 1, -1, -1):
            deviation = (times[j] - times[i]) / period - 1
            if deviation > TEMPO_TOLERANCE:
                break
            if deviation >= -TEMPO_TOLERANCE:
                score = best[i] + weights[j] - TEMPO_COST * deviation ** 2
                if score > best[j]:
                    best[j], previous[j] = score, i
    j, chain = int(np.argmax(best)), []
    while j >= 0:
        chain.append(j)
        j = previous[j]
    return chain[::-1]


def select_train(candidates: list[Impact]) -> tuple[list[Impact], float] | None:
    """The impacts of the clip's regular train with the decided impacts outside it, and its period;
    None when there is no clear rhythm (then the decided impacts stand)."""
    if len(candidates) < MIN_BEATS:
        return None
    everything = candidates
    candidates = sorted((c for c in candidates if c.decided or c.weight >= MIN_WEIGHT), key=lambda c: c.time)
    if len(candidates) < MIN_BEATS:
        return None
    times = np.array([c.time for c in candidates])
    facing = np.array([_facing(c) for c in candidates])
    drops = np.array([c.weight for c in candidates])
    weights = drops * facing + np.array([DECIDED_BONUS if c.decided else 0.0 for c in candidates])
    # The period from the drops alone: which candidates were decided must not pull the rhythm.
    period, correlation = _period(times, np.minimum(drops, PERIOD_CAP) * facing)
    chain = _chain(times, weights, period)
    if len(chain) < MIN_BEATS:
        return None
    irregularity = float(np.median(np.abs(np.diff(times[chain]) / period - 1)))
    beats = (times[chain[-1]] - times[chain[0]]) / period + 1
    if correlation < MIN_CORRELATION or irregularity > REGULARITY or len(chain) < COVER * beats:
        return None
    members = _extend([candidates[i] for i in chain], everything, period)
    start, end = members[0].time - SPAN_MARGIN * period, members[-1].time + SPAN_MARGIN * period
    outside = [c for c in candidates if c.decided and not start <= c.time <= end]
    return sorted(members + outside, key=lambda c: c.time), period


def _extend(members: list[Impact], candidates: list[Impact], period: float) -> list[Impact]:
    """The chain with the beats found one period beyond its ends, as long as there are any: the
    candidate of the largest weight × facing among those within EXTEND_TOLERANCE periods of the
    predicted beat and not below EXTEND_WEIGHT of the chain's median weight."""
    floor = EXTEND_WEIGHT * float(np.median([m.weight for m in members]))
    members = list(members)
    for direction in (-1, 1):
        while True:
            edge = members[0] if direction < 0 else members[-1]
            predicted = edge.time + direction * period
            near = [c for c in candidates if abs(c.time - predicted) <= EXTEND_TOLERANCE * period
                    and c.weight >= floor and not any(c is m for m in members)]
            if not near:
                break
            best = max(near, key=lambda c: c.weight * _facing(c))
            members = [best] + members if direction < 0 else members + [best]
    return members
