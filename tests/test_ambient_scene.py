"""Ambient scenes: the picture decides whether a scene is ambient, the description which bed
(without one, the setting the picture shows).

A scene is ambient when its motion holds no action the engine would place, or when its frames
look like a place most; a description never overrides that (on real clips "a small dog running
along a suburban sidewalk" and "driving in heavy rain, wipers sweeping" read as actions and got
dozens of spot sounds, "two boys playing squash" read as a place and its hits were silenced)."""
from __future__ import annotations

import numpy as np
import pytest

from appliance.engine.options import ScoreOptions
from appliance.engine.scene import SETTING_BEDS, ambience_category, library_beds
from appliance.engine.zeroshot import PictureScores
from appliance.library import load_catalog
from appliance.library.description import DescriptionScores


def _scores(catalog, best: str, lead: float = 0.2) -> dict[str, float]:
    """Scores where `best` leads every other category by `lead`."""
    return {name: (0.5 if name == best else 0.5 - lead) for name in catalog.categories}


def test_motion_without_actions_is_ambient_whatever_the_description_names():
    catalog = load_catalog()
    action = next(n for n, c in catalog.categories.items() if c.kind == "impact" and catalog.in_category(n))
    beds = library_beds(catalog)
    rain = _scores(catalog, action)
    rain["ambience_rain"] = 0.45  # the description's best bed, below its best action
    bed = ambience_category(catalog, rain, _scores(catalog, action), actions=0)
    assert bed.category == "ambience_rain" and bed.ambient and "no action" in bed.why
    # With actions in the motion, a description that reads as a place does not silence them: the
    # bed its scene words name goes under them...
    named = DescriptionScores(_scores(catalog, action), None, "outdoors", scene=_scores(catalog, beds[0]))
    under = ambience_category(catalog, named, _scores(catalog, action), actions=5)
    assert under.category == beds[0] and not under.ambient and "under the actions" in under.why
    # ...and one whose scene words name no bed in particular, or that has none, lays none.
    vague = DescriptionScores(_scores(catalog, action), None, "outdoors", scene={n: 0.5 for n in catalog.categories})
    assert ambience_category(catalog, vague, _scores(catalog, action), actions=5).category is None
    assert ambience_category(catalog, _scores(catalog, beds[0]), _scores(catalog, action), actions=5).category is None
    # Frames that look like a place make the scene ambient, its bed of the description's kind.
    bed = ambience_category(catalog, rain, _scores(catalog, beds[0]), actions=5)
    assert bed.category == "ambience_rain" and bed.ambient and "frames look like a place" in bed.why


def test_without_a_description_the_bed_is_the_plain_bed_of_the_settings_the_frames_show():
    """The picture says whether a scene is ambient and where it is, not which weather: its best
    bed (rain, here) is not laid without words."""
    catalog = load_catalog()
    bed = ambience_category(catalog, None, PictureScores(_scores(catalog, "ambience_rain"), "outdoors"), actions=0)
    assert bed.category == SETTING_BEDS["outdoors"] and "picture is outdoors" in bed.why
    indoors = PictureScores(_scores(catalog, "ambience_rain"), "indoors")
    assert ambience_category(catalog, None, indoors, actions=0).category == SETTING_BEDS["indoors"]
    assert ambience_category(catalog, None, None, actions=0).category is None  # nothing seen, nothing said


@pytest.mark.parametrize("label,setting", [("studio couch", "indoors"), ("dining table", "indoors"),
                                           ("lakeside", "outdoors"), ("park bench", "outdoors")])
def test_the_frames_labels_tell_the_setting(uncached_engine, label, setting):
    labels = uncached_engine.vision.labels
    logits = np.full(len(labels), -10.0, np.float32)
    logits[next(i for i, name in enumerate(labels) if name.split(",")[0] == label)] = 10.0
    assert uncached_engine.zero_shot(load_catalog()).setting([logits, logits]) == setting


@pytest.mark.parametrize("description,bed", [("driving on a highway in heavy rain, wipers sweeping", "ambience_rain"),
                                             ("a small dog running along a suburban sidewalk, outdoors", "ambience_nature")])
def test_a_still_clip_described_as_actions_gets_the_described_bed_and_no_spot_sounds(scenes, uncached_engine, description, bed):
    timeline = uncached_engine.score(scenes["still"].path, ScoreOptions(description=description)).timeline
    assert timeline.events == [] and timeline.ambience.category == bed
    assert "no spot sounds" in timeline.ambience.why


def test_a_still_clip_without_description_gets_a_bed_and_no_spot_sounds(scenes, uncached_engine):
    timeline = uncached_engine.score(scenes["still"].path, ScoreOptions()).timeline
    assert timeline.events == [] and timeline.ambience.category in library_beds(load_catalog())


def test_a_description_of_a_place_does_not_silence_the_actions_in_the_motion(scenes, uncached_engine):
    timeline = uncached_engine.score(scenes["stick"].path, ScoreOptions(description="rain falling on a quiet street")).timeline
    assert timeline.events and timeline.ambience.category is None  # "on a quiet street": no scene words


def test_a_bed_the_words_name_goes_under_the_actions(scenes, uncached_engine):
    """"knocking on wood in heavy rain": the knocks and the rain (it had the knocks alone); the
    same knocks without the weather get no bed."""
    rainy = uncached_engine.score(scenes["stick"].path, ScoreOptions(description="knocking on wood in heavy rain")).timeline
    dry = uncached_engine.score(scenes["stick"].path, ScoreOptions(description="knocking on wood")).timeline
    assert rainy.ambience.category == "ambience_rain" and "under the actions" in rainy.ambience.why
    assert len(rainy.events) == len(dry.events) > 0 and dry.ambience.category is None
    assert {e.category for e in rainy.events} == {e.category for e in dry.events}


def test_no_ambience_lays_no_bed_and_leaves_the_actions(scenes, uncached_engine):
    """`foley score --no-ambience` (ScoreOptions.ambience off): no bed, whatever the scene and the
    words call for; an ambient scene's actions are not silenced for a bed that is not there. The
    option was read by nothing before (it changed the cache key only)."""
    rain = "driving on a highway in heavy rain, wipers sweeping"
    still = uncached_engine.score(scenes["still"].path, ScoreOptions(description=rain, ambience=False))
    assert still.timeline.ambience.category is None and "no ambience bed" in still.timeline.ambience.why
    assert still.timeline.events == [] and not np.any(still.audio)
    stick = uncached_engine.score(scenes["stick"].path, ScoreOptions(description=rain, ambience=False)).timeline
    assert stick.ambience.category is None and stick.events
