"""The picture's category vote weight is chosen by cross-validation, and the engine uses the shipped one."""
from __future__ import annotations

import numpy as np
import pytest

from appliance.engine.choose import WEIGHTS, shipped_weights
from appliance.inference.manifest import load_manifest

NAMES = ["impact_metal", "impact_soft", "impact_stone", "impact_wood"]


def _clips(words_right: bool, picture_right: bool, count: int = 16, seed: int = 0):
    """Clips whose description and picture each name the labelled category (or a random one).
    Each clip is its own recording; the picture's embeddings lie near a centre per category."""
    from appliance.evaluation.vote_weights import VoteClip

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(NAMES), 32))
    clips = []
    for n in range(count):
        truth = n % len(NAMES)
        said = truth if words_right else int(rng.integers(len(NAMES)))
        shown = truth if picture_right else int(rng.integers(len(NAMES)))
        described = {name: (0.6 if i == said else 0.3) + 0.05 * rng.random() for i, name in enumerate(NAMES)}
        zero_shot = {name: (0.5 if i == shown else 0.2) + 0.05 * rng.random() for i, name in enumerate(NAMES)}
        embeddings = centres[shown if picture_right else truth] + 0.1 * rng.normal(size=(3, 32))
        if not picture_right:
            embeddings = rng.normal(size=(3, 32))
        clips.append(VoteClip(f"rec{n}", NAMES[truth], described, zero_shot, embeddings.astype(np.float32)))
    return clips


def test_the_weight_follows_which_evidence_is_right():
    pytest.importorskip("sklearn")
    from appliance.evaluation.vote_weights import VISION_WEIGHTS, fit_counts, fit_vision_weight

    words_only = _clips(words_right=True, picture_right=False)
    assert fit_vision_weight(words_only, NAMES) == min(VISION_WEIGHTS)
    picture_only = _clips(words_right=False, picture_right=True)
    counts = fit_counts(picture_only, NAMES)
    assert fit_vision_weight(picture_only, NAMES) > 1.0
    assert counts[max(VISION_WEIGHTS)] > counts[min(VISION_WEIGHTS)]


def test_too_few_clips_keep_the_default():
    from appliance.evaluation.vote_weights import fit_vision_weight

    one = _clips(True, True, count=4)[:1]
    assert fit_vision_weight(one, NAMES) == WEIGHTS["vision"]


def test_the_engine_reads_the_shipped_weights_over_the_defaults(uncached_engine):
    weights = shipped_weights()
    assert uncached_engine.vote_weights == weights  # what Engine.decide weighs the votes with
    assert set(weights) == set(WEIGHTS)
    shipped = load_manifest()["category-probe"].info.get("vote_weights", {})
    assert shipped, "the probe's manifest entry ships the fitted weights"
    assert weights["vision"] == shipped["vision"] and weights["description"] == WEIGHTS["description"]
