"""The typed timeline reads and writes the timeline JSON exactly (the on-disk and API format)."""
from __future__ import annotations

import copy
import json

import pytest

from appliance.engine.timeline import Timeline, TimelineEvent
from appliance.motion import EventKind

EVENT = {
    "n": 0, "time": 1.2345, "kind": "impact", "strength": 0.5, "position": {"x": 0.25, "y": 0.75},
    "category": "impact_wood", "template_id": "impact_wood-003", "template": "a knock on a plank",
    "licence": "CC0", "gain_db": -3.5, "pan": -0.4, "pitch": 1.0123,
    "why": {"decision": "computed", "candidates": [{"category": "impact_wood", "score": 1.2, "vision": 0.8}],
            "vision_labels": [["drumstick", 0.41]]},
}
TIMELINE = {
    "format": 1,
    "engine": {"version": "0.1.0", "engine_version": "abcdef012345"},
    "clip": {"file": "clip.mp4", "duration": 4.0, "width": 320, "height": 240, "fps": 30.0, "frames_analysed": 120},
    "request": {"seed": 0, "target_lufs": -16.0, "ambience": True, "max_seconds": 600.0, "description": None},
    "library_version": "lib-1",
    "models": {"text": "a" * 64, "vision": "b" * 64},
    "output": {"sample_rate": 48000, "channels": 2, "target_lufs": -16.0, "true_peak_ceiling_dbfs": -1.0},
    "events": [EVENT, {**{k: v for k, v in EVENT.items() if k not in ("category", "template_id", "template",
                                                                       "licence", "gain_db", "pan", "pitch", "why")},
                       "n": 1, "kind": "sustained", "duration": 0.8,
                       **{k: EVENT[k] for k in ("category", "template_id", "template", "licence", "gain_db", "pan",
                                                "pitch", "why")}}],
    "ambience": {"category": "rain", "template_id": "rain-001", "licence": "CC-BY 4.0", "why": "the description match rain best"},
    "stats": {"vision_inferences_run": 2, "vision_inferences_skipped": 0, "decisions_reused": 0, "events": 2,
              "stage_seconds": {"decode": 0.1}, "total_seconds": 0.5, "result_cache": "miss"},
    "mp4": {"audio_codec": "aac"},
}


def test_round_trip_is_exact_keys_order_and_values():
    timeline = Timeline.from_json(copy.deepcopy(TIMELINE))
    assert json.dumps(timeline.to_json()) == json.dumps(TIMELINE)
    assert timeline.events[1].kind is EventKind.SUSTAINED and timeline.events[1].duration == 0.8
    assert timeline.clip.duration == 4.0 and timeline.ambience.template_id == "rain-001"


def test_optional_fields_are_omitted_when_unset():
    bare = {**TIMELINE, "ambience": {"category": None, "why": "nothing calls for an ambience bed"},
            "stats": {k: v for k, v in TIMELINE["stats"].items() if k != "result_cache"}}
    del bare["mp4"]
    assert Timeline.from_json(bare).to_json() == bare
    event = TimelineEvent.from_json(EVENT)
    assert event.confidence is None and "confidence" not in event.to_json()
    event.confidence = 0.87
    assert event.to_json()["confidence"] == 0.87
    assert TimelineEvent.from_json(event.to_json()) == event


def test_an_unknown_event_kind_is_refused():
    with pytest.raises(ValueError):
        TimelineEvent.from_json({**EVENT, "kind": "explosion"})
