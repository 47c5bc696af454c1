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

The chain replaces the impacts it spans only when the rhythm is clear (`select_train`): enough
beats, regular spacing, and it keeps at least half of the impacts already decided there. Irregular
motion (a bouncing ball, hits at irregular intervals, shake and flicker) keeps the impacts decided
frame by frame. One train per clip: decided impacts before and after it stay.
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
KEEP_DECIDED = 0.5
"""… and the fraction of the impacts decided inside its span it must keep."""
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
    candidates = sorted((c for c in candidates if c.decided or c.weight >= MIN_WEIGHT), key=lambda c: c.time)
    if len(candidates) < MIN_BEATS:
        return None
    times = np.array([c.time for c in candidates])
    weights = np.array([c.weight + (DECIDED_BONUS if c.decided else 0.0) for c in candidates])
    # The period from the drops alone: which candidates were decided must not pull the rhythm.
    period, correlation = _period(times, np.array([c.weight for c in candidates]))
    chain = _chain(times, weights, period)
    if len(chain) < MIN_BEATS:
        return None
    irregularity = float(np.median(np.abs(np.diff(times[chain]) / period - 1)))
    start, end = times[chain[0]], times[chain[-1]]
    beats = (end - start) / period + 1
    decided = [c for c in candidates if c.decided]
    inside = [c for c in decided if start - SPAN_MARGIN * period <= c.time <= end + SPAN_MARGIN * period]
    kept = sum(1 for i in chain if candidates[i].decided)
    if correlation < MIN_CORRELATION or irregularity > REGULARITY or len(chain) < COVER * beats \
            or kept < KEEP_DECIDED * len(inside):
        return None
    outside = [c for c in decided if not any(c is i for i in inside)]
    return sorted([candidates[i] for i in chain] + outside, key=lambda c: c.time), period
