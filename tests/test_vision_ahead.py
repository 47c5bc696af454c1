"""The keyframes' vision inferences run during the analysis (engine/vision_ahead.py) change no
result: a clip scored with them gives the WAV and timeline it gets when its analysis is made
first and the model runs afterwards, in series."""
from __future__ import annotations

import pytest

from appliance.engine.analysis import analyse_clip
from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import Engine
from appliance.engine.vision_ahead import VisionAhead
from appliance.engine.visual import VisualLookup
from appliance.mixing import SAMPLE_RATE, write_wav_atomic
from appliance.video.synthetic import render_scene


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("walk")
    return render_scene("steps", folder / "walk.mp4", width=320, height=240, fps=30, seconds=8, seed=3).path


@pytest.fixture(scope="module")
def engine():
    return Engine(cache=None)


def test_scoring_with_inferences_ahead_gives_the_serial_result(walk, engine, tmp_path):
    options = ScoreOptions(description="footsteps on a wooden floor", seed=1)
    ahead = engine.score(walk, options)  # no analysis given: the inferences run during it
    serial = engine.score(walk, options, analysis=analyse_clip(walk, options.max_seconds, 2,
                                                              event_model=engine.event_model))
    assert len(ahead.timeline.events) >= 4
    wavs = []
    for name, result in (("ahead", ahead), ("serial", serial)):
        write_wav_atomic(tmp_path / f"{name}.wav", result.track, SAMPLE_RATE)
        wavs.append((tmp_path / f"{name}.wav").read_bytes())
    assert wavs[0] == wavs[1]
    assert [e.to_json() for e in ahead.timeline.events] == [e.to_json() for e in serial.timeline.events]
    assert ahead.timeline.stats.vision_inferences_run == serial.timeline.stats.vision_inferences_run


def test_the_lookup_takes_what_was_run_ahead_and_runs_the_rest_itself(walk, engine):
    kept = []
    analysis = analyse_clip(walk, 600.0, 2, event_model=engine.event_model, on_keyframe=kept.append)
    assert kept, "the analysis tells of its keyframes as it keeps them"
    offered = kept[0]
    ahead = VisionAhead(engine.vision, None)
    try:
        ahead.offer(offered)
        ahead.offer(offered)  # offered twice: run once
        found = ahead.outputs(offered)  # waits for the thread
        assert found is not None and found.ran and ahead.run == 1
        not_offered = analysis.scene[-1]
        assert ahead.outputs(not_offered) is None
        lookup = VisualLookup(engine.vision, None, ahead)
        assert lookup.outputs(offered)[0].tobytes() == found.outputs[0].tobytes()
        assert lookup.run == 1  # the inference ahead counts as this clip's
        alone = VisualLookup(engine.vision, None)
        for a, b in zip(alone.outputs(offered), found.outputs):
            assert a.tobytes() == b.tobytes(), "the same pixels in a batch of one: the same outputs"
    finally:
        ahead.close()
    assert ahead.outputs(analysis.scene[0]) is None, "closed: nothing is waited for"


def test_a_cache_it_cannot_open_costs_nothing_but_the_cache(walk, engine, tmp_path):
    """The frame cache's folder unusable (here a file): the thread runs the model without it, and
    a lookup waiting on it is answered, never left waiting."""
    kept = []
    analyse_clip(walk, 600.0, 2, event_model=engine.event_model, on_keyframe=kept.append)
    (tmp_path / "cache").write_text("not a folder")
    ahead = VisionAhead(engine.vision, tmp_path / "cache")
    try:
        ahead.offer(kept[0])
        found = ahead.outputs(kept[0])
        assert found is not None and found.ran
    finally:
        ahead.close()
