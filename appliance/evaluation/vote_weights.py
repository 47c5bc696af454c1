"""How much the picture's category vote weighs against the description's, chosen by cross-validation.

The engine adds the description's and the picture's standardised category votes
(engine/choose.py `decide_category`); the picture's weight decides which one wins when they
disagree. It is chosen, never set by hand: on the clips at hand (a clip with a description, a
library category and the probe's frames), inner folds split by recording fit the category probe
on the other inner folds (its probabilities on its own training clips would be over-confident),
every candidate weight picks one category per clip from its description and its frames (the
zero-shot reading and the probe, as engine/zeroshot.py `with_probe` reads a keyframe), and the
weight with the most clips whose category fits (summed over a few inner splits) wins; a tie goes
to the smaller weight (the description the user wrote keeps the lead unless the picture earns it).

`foley eval --folds` chooses it per fold on the training folds only; scripts/train_category_probe.py
chooses it on every labelled clip and ships it in the probe's manifest entry (`vote_weights`).
Needs the `train` extra (the probe's fitting).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from appliance.engine.choose import WEIGHTS, standardised
from appliance.engine.zeroshot import with_probe
from appliance.evaluation.category_training import C, fit_probe
from appliance.evaluation.corpus import assign_folds, category_fits

VISION_WEIGHTS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0)
INNER_FOLDS = 4
INNER_SPLITS = 3


@dataclass
class VoteClip:
    """One clip's evidence: its recording, labelled category, description scores, the zero-shot
    scores of its frames (averaged) and their vision embeddings (for the probe)."""

    recording: str
    category: str
    described: dict[str, float]
    zero_shot: dict[str, float]
    embeddings: np.ndarray


def picture_votes(clips: list[VoteClip], names: list[str], seed: int = 0, c: float = C) -> list[dict[str, float]]:
    """Each clip's standardised picture vote, its probe fitted without its recording (inner folds);
    zero-shot alone where the other folds name fewer than two categories."""
    folds = assign_folds([clip.recording for clip in clips], min(INNER_FOLDS, len({x.recording for x in clips})), seed)
    votes: list[dict[str, float]] = [{} for _ in clips]
    for fold in sorted(set(folds.values())):
        train = [x for x in clips if folds[x.recording] != fold]
        probe = (fit_probe([x.embeddings for x in train], [x.category for x in train], c).probe()
                 if len({x.category for x in train}) > 1 else None)
        for i, clip in enumerate(clips):
            if folds[clip.recording] == fold:
                learned = probe.log_probabilities(clip.embeddings) if probe else None
                votes[i] = standardised(with_probe(clip.zero_shot, learned), names)
    return votes


def fit_counts(clips: list[VoteClip], names: list[str], seed: int = 0) -> dict[float, int]:
    """Per candidate weight, how many clips' category fits, summed over INNER_SPLITS splits into
    inner folds (picture votes out of fold). On a few dozen clips one split moves a count by a
    clip or two and with it the choice; the sum over splits does not depend on one split."""
    described = [standardised(clip.described, names) for clip in clips]
    counts = dict.fromkeys(VISION_WEIGHTS, 0)
    for split in range(INNER_SPLITS):
        pictures = picture_votes(clips, names, seed + split)
        for weight in VISION_WEIGHTS:
            counts[weight] += sum(
                bool(category_fits(max(names, key=lambda n: WEIGHTS["description"] * words[n] + weight * picture[n]),
                                   {"category": clip.category}))
                for clip, words, picture in zip(clips, described, pictures))
    return counts


def fit_vision_weight(clips: list[VoteClip], names: list[str], seed: int = 0) -> float:
    """The picture's weight with the most fitting clips (the smaller on a tie); the engine's
    default when there are too few clips to say (fewer than two recordings or categories)."""
    if len({x.recording for x in clips}) < 2 or len({x.category for x in clips}) < 2:
        return WEIGHTS["vision"]
    counts = fit_counts(clips, names, seed)
    return min(counts, key=lambda w: (-counts[w], w))
