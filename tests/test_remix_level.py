"""An edit's mix keeps the scoring's level: a re-levelled sound changes by the dB asked, the
others stay (the timeline's track_gains), instead of the whole being normalised anew."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import Engine
from appliance.engine.remix import mix_timeline
from appliance.library import load_catalog
from appliance.mixing.loudness import integrated_loudness
from appliance.video.synthetic import render_scene

SR = 48000


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    clip = render_scene("stick", tmp_path_factory.mktemp("clips") / "stick.mp4", width=320, height=240, fps=30,
                        seconds=4, seed=3)
    return Engine(cache=None).score(clip.path, ScoreOptions(description="knock on wood"))


def level_db(audio: np.ndarray, time: float) -> float:
    """The power of the 40 ms from an event's attack (its own sound: the one before is choked there)."""
    start = round(time * SR)
    return float(10 * np.log10((audio[start:start + round(0.04 * SR)].astype(np.float64) ** 2).mean()))


def test_a_sound_made_12_db_softer_is_12_db_softer_and_the_others_stay(scored):
    timeline, catalog = scored.timeline, load_catalog()
    assert timeline.output.track_gains and len(timeline.events) >= 3
    before = mix_timeline(timeline, catalog).array()
    edited = copy.deepcopy(timeline)
    edited.events[1].gain_db -= 12.0
    after = mix_timeline(edited, catalog).array()
    times = [event.time for event in timeline.events]
    assert level_db(after, times[1]) - level_db(before, times[1]) == pytest.approx(-12.0, abs=0.3)
    for k in (0, *range(2, len(times))):
        assert level_db(after, times[k]) == pytest.approx(level_db(before, times[k]), abs=0.1)


def test_a_timeline_from_before_the_gains_is_normalised_as_before(scored):
    old = copy.deepcopy(scored.timeline)
    old.output.track_gains = None
    old.events[1].gain_db -= 12.0
    audio = mix_timeline(old, load_catalog()).array()
    assert integrated_loudness(audio, SR) == pytest.approx(old.output.target_lufs, abs=0.5)


def test_the_mix_of_an_unedited_timeline_is_the_scored_track(scored):
    """Without `source` an edit's mix choked nothing, and times kept to 0.1 ms moved hits by up to
    2.4 samples and the track's length by one: the first edit changed every sound a little."""
    original = scored.track.array()
    again = mix_timeline(scored.timeline, load_catalog()).array()
    assert again.shape == original.shape
    difference = float(np.sqrt(np.mean((again.astype(np.float64) - original) ** 2)))
    level = float(np.sqrt(np.mean(original.astype(np.float64) ** 2)))
    assert 20 * np.log10(max(difference, 1e-12) / level) < -60


def test_a_result_of_a_bed_alone_is_normalised_anew_when_a_sound_is_added(tmp_path):
    """Scoring raised a bed alone to the target (×4.4 on 3 s, ×50 on 0.1 s); kept for an edit,
    that gain put an added sound 13 dB over the target and into the limiter."""
    from appliance.engine.edits import add_event
    from appliance.mixing.loudness import true_peak_db

    still = render_scene("still", tmp_path / "still.mp4", width=320, height=240, fps=30, seconds=3, seed=3)
    scored = Engine(cache=None).score(still.path, ScoreOptions(description="a quiet garden"))
    assert not scored.timeline.events and scored.timeline.output.track_gains is None
    catalog = load_catalog()
    hit = next(t for t in catalog.templates if t.category == "impact_wood")
    edited, _ = add_event(scored.timeline, catalog, hit.id, 1.0, 0)
    audio = mix_timeline(edited, catalog).array()
    assert integrated_loudness(audio, SR) == pytest.approx(edited.output.target_lufs, abs=0.5)
    assert true_peak_db(audio) <= -0.95
