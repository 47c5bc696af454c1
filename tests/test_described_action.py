"""What the description says the action is: a continuous action named by it is laid over the
motion (engine/described_action.py); steps named by it take footsteps (engine/choose.py)."""
from __future__ import annotations

import pytest

from appliance.engine.choose import Evidence, decide_category
from appliance.engine.described_action import pictured_sustained
from appliance.engine.options import ScoreOptions
from appliance.library import load_catalog
from appliance.motion import IMPACT
from appliance.motion.sustained import MIN_DURATION_S, motion_spans
from appliance.motion.samples import ENERGY_FLOOR
from appliance.video.synthetic import render_scene


def test_motion_spans_are_runs_above_the_floor_long_enough():
    times = [i / 10 for i in range(60)]
    low, high = ENERGY_FLOOR / 2, ENERGY_FLOOR * 3
    energy = [high if 0.5 <= t <= 2.0 or 3.0 <= t <= 3.4 or 4.0 <= t else low for t in times]
    spans = motion_spans(times, energy)
    assert spans == [(0.5, 2.0), (4.0, 5.9)]  # the 0.4 s burst is shorter than MIN_DURATION_S
    assert all(end - start >= MIN_DURATION_S for start, end in spans)
    assert motion_spans(times, [low] * len(times)) == []


def test_a_described_pour_is_one_sustained_sound_even_where_nothing_measurable_moves(scenes, uncached_engine):
    """A thin stream of water moves too little to measure: the description says it happens."""
    timeline = uncached_engine.score(scenes["still"].path, ScoreOptions(description="water poured from a jug into a glass")).timeline
    assert [e.kind.value for e in timeline.events] == ["sustained"]
    event = timeline.events[0]
    assert event.time == 0.0 and event.duration == pytest.approx(timeline.clip.duration, abs=0.01)
    assert load_catalog().categories[event.category].kind == "sustained"
    assert event.envelope is None  # nothing moved above the floor: a flat texture, not codec noise


def test_a_described_continuous_action_follows_the_motion_instead_of_its_peaks(scenes, uncached_engine):
    stick = scenes["stick"].path
    knocks = uncached_engine.score(stick, ScoreOptions(description="a stick knocking on a wooden block")).timeline
    assert len(knocks.events) >= 1 and all(e.kind.value != "sustained" for e in knocks.events)
    sawing = uncached_engine.score(stick, ScoreOptions(description="sawing a plank with a hand saw")).timeline
    assert sawing.events and all(e.kind.value == "sustained" for e in sawing.events)
    assert all(e.duration >= MIN_DURATION_S for e in sawing.events)


def test_without_a_description_nothing_is_laid_on_a_still_clip(scenes, uncached_engine):
    assert uncached_engine.score(scenes["still"].path, ScoreOptions()).timeline.events == []


def test_the_picture_names_a_continuous_action_only_when_it_leads_everything():
    """Without a description, scene frames that look most like a pour get a pour; a bed or a
    knock leading them, or a pour only leading the actions, get nothing laid this way."""
    catalog = load_catalog()
    names = [n for n in catalog.categories if catalog.in_category(n)]
    flat = {n: 0.0 for n in names}
    assert pictured_sustained(catalog, {**flat, "water_pour": 1.0}) == "water_pour"
    assert pictured_sustained(catalog, {**flat, "water_pour": 1.0, "ambience_rain": 1.2}) is None
    assert pictured_sustained(catalog, {**flat, "water_pour": 1.0, "impact_wood": 1.1}) is None
    assert pictured_sustained(catalog, None) is None


def test_described_steps_take_footsteps_where_the_motion_saw_single_impacts(tmp_path, uncached_engine):
    """A bouncing ball's contacts are mostly single impacts, not a train of steps (its bounces come
    ever faster): described as a walk they still get footsteps (a walk on ice is footsteps, not
    glass being struck); described as a strike on the same surface they do not. The picture may
    still outvote the words on a keyframe, so what is asked is the clip's sound as `foley eval`
    judges it, its most frequent category, and footsteps for most of the single impacts. (The
    stick scene served until 2026-12-02; with the picking chosen for F1 its hits are a train.)"""
    bounce = render_scene("bounce", tmp_path / "bounce.mp4", width=320, height=240, fps=30, seconds=4, seed=7).path
    walked = uncached_engine.score(bounce, ScoreOptions(description="boots walking on thin ice")).timeline
    impacts = [e for e in walked.events if e.kind == IMPACT]
    assert len(impacts) >= 3
    categories = [e.category for e in walked.events]
    assert max(set(categories), key=categories.count).startswith("footsteps_")
    assert sum(e.category.startswith("footsteps_") for e in impacts) > len(impacts) / 2
    struck = uncached_engine.score(bounce, ScoreOptions(description="a stick knocking on thin ice")).timeline
    assert struck.events and not any(e.category.startswith("footsteps_") for e in struck.events)


def test_live_mode_first_decision_follows_described_steps(uncached_engine):
    """Live mode decides an impact's category before any picture is read, from the words alone
    (live/choice.py): "walking on gravel" must give footsteps there too."""
    catalog = load_catalog()
    walked = uncached_engine.describe("a man walking on gravel", catalog)
    assert decide_category(catalog, IMPACT, Evidence(walked.category_scores))["category"] == "footsteps_gravel"
    struck = uncached_engine.describe("a spade striking gravel", catalog)
    assert not decide_category(catalog, IMPACT, Evidence(struck.category_scores))["category"].startswith("footsteps_")


def test_a_span_of_motion_gives_its_sustained_event_the_motions_envelope():
    """A described continuous action over a span of motion: its sound follows that motion
    (engine/scene.py shaped), and its timeline entry keeps it every 0.1 s."""
    from types import SimpleNamespace

    from appliance.engine.described_action import sustained_events
    from appliance.engine.scene import envelope_points
    from appliance.motion.samples import ENERGY_FLOOR

    times = [i / 30 for i in range(120)]
    energy = [0.0] * 30 + [ENERGY_FLOOR * (2 + i / 10) for i in range(60)] + [0.0] * 30  # 1-3 s, swelling
    analysis = SimpleNamespace(trace=SimpleNamespace(times=times, energy=energy), info=SimpleNamespace(duration=4.0),
                               scene=[])
    [event] = sustained_events(analysis)
    assert event.time == pytest.approx(1.0) and event.duration == pytest.approx(59 / 30)
    assert event.envelope[0][1] < event.envelope[-1][1] == 1.0
    points = envelope_points(event)
    assert len(points) == 20 and points[0][1] < points[10][1] < points[-1][1] == 1.0
