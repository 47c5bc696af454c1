"""Choosing a sound for each action: which category, then which recording of it.

Three sources of evidence vote on the category, each standardised over the categories that
fit the action's kind (an impact can only get an impact sound, a sustained scrape a sustained
one) so that none dominates by scale alone:
- the description ("footsteps on gravel"), scored against each category's phrases;
- the vision model's zero-shot reading of the keyframes around the action;
- user-taught exemplars: a keyframe that looks like a taught moment votes for its sound.
The recording is then varied within the category, seeded, never the same one twice in a row.
Where the clip's actions come faster than a recording rings (median gap between events shorter
than its sound after the attack), recordings that have died away by the next event are preferred:
a long one would be choked (mixing/placement.py) after a fraction of its sound, or smear the hits.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from appliance.engine.exemplars import MIN_COSINE
from appliance.errors import UsageError
from appliance.inference.manifest import load_manifest
from appliance.library import Catalog, Template
from appliance.motion import CATEGORY_KINDS, IMPACT, PERIODIC, EventKind

WEIGHTS = {"description": 1.0, "vision": 0.6, "exemplar": 1.5}
"""The votes' weights when nothing was fitted. The picture's weight is chosen by cross-validation
on real footage (evaluation/vote_weights.py) and shipped with the category probe (the engine
reads it from the manifest, `vote_weights`); the description's is the unit; the exemplars', user
taught and absent from any corpus, stays set: a taught moment that matches outweighs both."""
SPOT_KINDS = ("impact", "periodic")
TEMPLATE_POOL = 4  # vary among this many best-fitting recordings of the chosen category


def shipped_weights() -> dict[str, float]:
    """WEIGHTS with the ones fitted with the shipped category probe (its manifest entry's
    `vote_weights`, evaluation/vote_weights.py) in their place."""
    entry = load_manifest().get("category-probe")
    return {**WEIGHTS, **(entry.info.get("vote_weights", {}) if entry else {})}


@dataclass
class Evidence:
    """Per-category scores from each source; a missing source is simply not used."""

    description: dict[str, float] | None = None
    vision: dict[str, float] | None = None
    exemplar: dict[str, float] = field(default_factory=dict)


def standardised(scores: dict[str, float], names: list[str]) -> dict[str, float]:
    values = np.array([scores.get(n, 0.0) for n in names], dtype=np.float64)
    spread = values.std() or 1.0
    return {n: float((v - values.mean()) / spread) for n, v in zip(names, values)}


def candidate_categories(catalog: Catalog, event_kind: EventKind) -> list[str]:
    kinds = CATEGORY_KINDS[event_kind]
    return sorted(n for n, c in catalog.categories.items() if c.kind in kinds and catalog.in_category(n))


def kind_for_choice(event_kind: EventKind, description: dict[str, float] | None) -> EventKind:
    """The kind whose categories an event may take: its own, except that an impact is a step
    when the description's verb is one of going on foot ("boots walking on thin ice", "a horse
    trotting"). The motion calls an impact a step of a train only when the steps come regularly,
    which a shaky first-person walk or a few steps do not show; the user's words say what the
    actions are, so footsteps must stay among the candidates (a walk on ice is footsteps on a
    hard surface, not glass being struck)."""
    reading = getattr(description, "reading", None)
    if event_kind == IMPACT and reading is not None and reading.action == "step":
        return PERIODIC
    return event_kind


def decide_category(catalog: Catalog, event_kind: EventKind, evidence: Evidence,
                    weights: dict[str, float] = WEIGHTS) -> dict:
    """The chosen category and the top candidates with each source's standardised vote."""
    names = candidate_categories(catalog, kind_for_choice(event_kind, evidence.description))
    votes: dict[str, dict[str, float]] = {n: {} for n in names}
    for source in ("description", "vision"):
        scores = getattr(evidence, source)
        if scores:
            for name, value in standardised(scores, names).items():
                votes[name][source] = value
    for name, cosine in evidence.exemplar.items():
        if name in votes and cosine >= MIN_COSINE:
            votes[name]["exemplar"] = 10 * (cosine - MIN_COSINE) + 1
    totals = {n: sum(weights[s] * v for s, v in votes[n].items()) for n in names}
    ranked = sorted(names, key=lambda n: -totals[n])
    return {
        "category": ranked[0],
        "candidates": [
            {"category": n, "score": round(totals[n], 3), **{k: round(v, 3) for k, v in votes[n].items()}}
            for n in ranked[:3]
        ],
    }


def median_gap(times: list[float]) -> float | None:
    """Median seconds between consecutive events (None for fewer than two)."""
    ordered = np.sort(np.asarray(times, dtype=np.float64))
    return float(np.median(np.diff(ordered))) if len(ordered) > 1 else None


def ring_time(template: Template) -> float:
    """How long a recording sounds after its attack (its length past the attack)."""
    return template.duration - template.attack_time


class TemplatePicker:
    """Seeded variation: best-fitting recordings of a category, never one twice in a row;
    recordings that ring no longer than `event_gap` (s) first, when it is given."""

    def __init__(self, catalog: Catalog, template_scores: dict[str, float] | None, seed: int,
                 event_gap: float | None = None):
        self.catalog = catalog
        self.template_scores = template_scores or {}
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.last: dict[str, str] = {}
        self.event_gap = event_gap

    def _ranked(self, category: str) -> list[Template]:
        """By fit to the description; with dense events, for a spot sound (not a bed nor a sustained
        sound, which last as long as they must), the ones that ring out in time first (by fit),
        then the others from the shortest."""
        spot = self.catalog.categories[category].kind in SPOT_KINDS

        def key(t: Template):
            fit = (-self.template_scores.get(t.id, 0.0), t.id)
            if self.event_gap is None or not spot:
                return fit
            too_long = ring_time(t) > self.event_gap
            return (too_long, ring_time(t) if too_long else 0.0, *fit)
        return sorted(self.catalog.in_category(category), key=key)

    def draw_for(self, *key: int) -> None:
        """Take the following draws from a stream of their own, seeded by (seed, *key) (the
        engine: (0, event number) per event, (1,) for the bed), so what one placement draws does
        not depend on how many draws came before it."""
        self.rng = np.random.default_rng([self.seed, *key])

    def pick(self, category: str, preferred: list[str] = ()) -> Template:
        """`preferred`: taught recordings whose exemplar matches this moment, best first.

        A recording damaged on disk (a truncated copy, a bad sector) is passed over instead of
        failing every score that draws it (the catalog marks it and says so once). For a spot
        sound the pool itself is a category's best recordings that decode (~1 ms each, and a
        clip's hits draw on all of them), so the draws are the same whether the damage was found
        during this score or known before it. A bed or a sustained sound (up to 6 MB decoded,
        drawn once or a few times a clip) is decoded only when drawn; a damaged one is drawn again
        from the same state, as if it had been known."""
        spot = self.catalog.categories[category].kind in SPOT_KINDS
        while True:
            pool = self._pool(preferred, category, spot) or self._pool([t.id for t in self._ranked(category)],
                                                                      category, spot)
            if not pool:
                raise UsageError(f"no sound of category {category!r} can be played: " + "; ".join(
                    self.catalog.unreadable.get(t.id, t.id) for t in self.catalog.in_category(category)))
            state = self.rng.bit_generator.state
            choices = [t for t in pool if t.id != self.last.get(category)] or pool[:1]
            chosen = choices[int(self.rng.integers(len(choices)))]
            if spot or self.catalog.playable(chosen.id):
                self.last[category] = chosen.id
                return chosen
            self.rng.bit_generator.state = state

    def _pool(self, ids: Iterable[str], category: str, checked: bool) -> list[Template]:
        """The first TEMPLATE_POOL recordings of `ids` in `category` not known to be damaged (and,
        when `checked`, that decode)."""
        pool = []
        for template in (self.catalog.get(i) for i in ids):
            if len(pool) == TEMPLATE_POOL:
                break
            if template.category == category and template.id not in self.catalog.unreadable \
                    and (not checked or self.catalog.playable(template.id)):
                pool.append(template)
        return pool

    def variation(self) -> tuple[float, float]:
        """(pitch ratio within ±0.5 semitone, gain within ±1.5 dB) for one placement."""
        semitones = float(self.rng.uniform(-0.5, 0.5))
        gain_db = float(self.rng.uniform(-1.5, 1.5))
        return 2 ** (semitones / 12), 10 ** (gain_db / 20)
