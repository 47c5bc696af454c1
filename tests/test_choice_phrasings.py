"""Description → category with everyday objects no category phrase names (issue 11, item 3).

An action phrasing is judged by the top category over all the library's action categories
(impact, periodic and sustained alike: stricter than the engine, which only ranks the categories
of the detected event's kind; a bed is never a candidate for an action); an ambience phrasing by
the bed its scene would get (engine/scene.py bed_kind: whether a bed is laid at all is the event
model's call). Strict: only the category meant counts, no family.
"""
from __future__ import annotations

import pytest

from appliance.engine.scene import bed_kind
from appliance.inference import embed_text
from appliance.library.catalog import Catalog
from appliance.library.description import DescriptionReader, split_description
from appliance.library.search import Searcher
from tests.choice_phrasings import FIRST, LATER, PHRASINGS


@pytest.fixture(scope="module")
def reader() -> DescriptionReader:
    return DescriptionReader(Searcher(Catalog.load()), embed_text)


def chosen(reader: DescriptionReader, phrase: str, wanted: str) -> str:
    scores = reader.scores(phrase)
    if wanted.startswith("ambience_"):
        return bed_kind(reader.searcher.catalog, scores, scores.setting)
    actions = [n for n, c in reader.searcher.catalog.categories.items() if c.kind != "ambience"]
    return max(actions, key=scores.get)


def share(reader, phrasings) -> float:
    misses = [(p, w, chosen(reader, p, w)) for p, w in phrasings]
    misses = [m for m in misses if m[1] != m[2]]
    for phrase, wanted, got in misses:
        print(f"miss: {phrase!r} → {got} (meant {wanted})")
    return 1 - len(misses) / len(phrasings)


GOAL = 0.9
"""Issue 11's bar for top-1. Not reached: the text encoder places many everyday objects in the
wrong material (a lamp post reads as wood, a fish tank as water), which no grammar fixes."""
MEASURED = 0.74
"""What the reader reaches (0.767 overall, 0.757 on LATER; the whole-sentence search it replaced:
0.73 on LATER), re-measured at 0.747 overall once the sessions ran ONNX Runtime's exact int8
kernels on x86 (appliance/inference/sessions.py EXACT_INT8): a ratchet, so that a change that
loses ground fails."""


def test_everyday_objects_find_their_category(reader):
    """≥ 60 phrasings; the half written after the method was frozen is reported apart."""
    assert len(PHRASINGS) >= 60 and len(LATER) * 2 >= len(PHRASINGS)
    overall, later = share(reader, PHRASINGS), share(reader, LATER)
    print(f"top-1 {overall:.3f} overall, {share(reader, FIRST):.3f} on FIRST, {later:.3f} on LATER")
    assert overall >= MEASURED


@pytest.mark.xfail(strict=True, reason="top-1 is 0.77, the issue's goal 0.9 is not reached (see GOAL)")
def test_everyday_objects_reach_the_goal(reader):
    assert share(reader, PHRASINGS) >= GOAL


def test_scene_words_do_not_outvote_the_struck_material(reader):
    scores = reader.scores("tapping a metal faucet over a sink")
    assert max(scores, key=scores.get) == "impact_metal"
    assert scores.reading.scene == "over a sink" and scores.reading.material == "metal"


@pytest.mark.parametrize("phrase, bed", [
    ("driving on a highway in heavy rain", "ambience_rain"),
    ("a dog running along a suburban sidewalk", "ambience_nature"),
    ("a bull in a meadow", "ambience_nature"),
])
def test_bed_kind_from_the_scene(reader, phrase, bed):
    scores = reader.scores(phrase)
    assert bed_kind(reader.searcher.catalog, scores, scores.setting) == bed


def test_split_keeps_the_struck_thing_and_drops_instruments():
    sounding, scene, (core, struck) = split_description("a drumstick hitting a leather armchair with force, indoors")
    assert (sounding, core, struck) == ("a drumstick hitting a leather armchair with force", "hitting leather armchair",
                                        "leather armchair")
    assert scene == "indoors"
    _, scene, (core, struck) = split_description("kicking a football against a garage door in the rain")
    assert (core, struck, scene) == ("kicking against garage door", "garage door", "in the rain")
