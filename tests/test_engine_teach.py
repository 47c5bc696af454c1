"""Teach: cut each action's own sound from a clip with sound, keep it with its picture, and get
those very sounds back for later clips of the same scene."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import Engine
from appliance.engine.teach import teach
from appliance.errors import UsageError
from appliance.evaluation.own_clips import with_hit_sounds
from appliance.library import load_catalog
from appliance.motion import detect_events
from appliance.video import iter_frames
from appliance.video.synthetic import reencode, render_scene
from tests.conftest import run_foley

@pytest.fixture(scope="module")
def clip_with_sound(tmp_path_factory):
    """A stick scene whose sound track has a distinct knock at each detected action."""
    folder = tmp_path_factory.mktemp("teach")
    silent = render_scene("stick", folder / "silent.mp4", width=320, height=240, fps=30, seconds=4, seed=5)
    events, _ = detect_events(iter_frames(silent.path, 256))
    return with_hit_sounds(silent.path, silent.duration, [e.time for e in events], folder / "with-sound.mp4")


def test_teach_stores_cut_sounds_with_exemplars(clip_with_sound):
    result = run_foley("library", "teach", str(clip_with_sound), "--category", "knock", "--tags", "test,knock")
    assert result.returncode == 0, result.stderr
    added = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("added")]
    assert len(added) >= 2
    catalog = load_catalog()
    records = {r["id"]: r for r in catalog.user_index["templates"]}
    for template_id in added:
        template = catalog.get(template_id)
        assert template.category == "knock" and template.origin == "user"
        assert 0.02 <= template.duration <= 1.01
        assert template.attack_time < 0.03, "the cut starts just before the sound's onset"
        assert len(records[template_id]["exemplar"]["vector"]) == 1280


def test_later_clip_of_the_same_scene_gets_the_taught_sounds(clip_with_sound, tmp_path):
    assert run_foley("library", "teach", str(clip_with_sound), "--category", "knock").returncode == 0
    taught = {r["id"] for r in load_catalog().user_index["templates"]}
    again = reencode(clip_with_sound, tmp_path / "again.mkv")
    timeline = Engine(cache=None).score(again, ScoreOptions()).timeline
    # The re-encoded copy's actions are found again (the event model may also find a moment the
    # original did not, whose picture no exemplar matches: that one keeps a library sound).
    matched = [e for e in timeline.events if e.why.candidates[0].get("exemplar", 0) > 0]
    assert len(matched) >= 0.75 * len(timeline.events) >= 3, json.dumps([e.why.to_json() for e in timeline.events])
    assert all(e.template_id in taught for e in matched)


def test_teach_bad_inputs(clip_with_sound, tmp_path):
    silent = render_scene("stick", tmp_path / "silent.mp4", seconds=2, seed=2)
    no_audio = run_foley("library", "teach", str(silent.path), "--category", "knock")
    assert no_audio.returncode == 2 and "no audio track" in no_audio.stderr
    unknown = run_foley("library", "teach", str(clip_with_sound), "--category", "thunderclap")
    assert unknown.returncode == 2 and "unknown category" in unknown.stderr
    for count in ("0", "-2"):  # 0 said "no action detected", -2 dropped the last two actions
        none = run_foley("library", "teach", str(clip_with_sound), "--category", "knock", "--max", count)
        assert none.returncode == 2 and "at least one sound" in none.stderr, none.stderr


def test_a_clip_whose_name_holds_a_newline_is_taught(clip_with_sound, tmp_path):
    """A newline or an escape is legal in a Linux file name; the sounds' descriptions quote the
    name, and the library refuses control characters in its words: every action was skipped."""
    named = tmp_path / "knocks\non the\x1b[31m door.mp4"
    named.write_bytes(clip_with_sound.read_bytes())
    result = run_foley("library", "teach", str(named), "--category", "knock")
    assert result.returncode == 0, result.stdout + result.stderr
    added = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("added")]
    records = {r["id"]: r for r in load_catalog().user_index["templates"]}
    assert len(added) >= 2 and "skipped" not in result.stdout
    assert records[added[0]]["description"].startswith("taught from knocks\ufffdon the\ufffd[31m door.mp4 at ")


def test_an_audio_only_file_is_refused_before_its_sound_is_decoded(tmp_path):
    """An hour of audio without a picture: said at once, not after decoding the hour (2 GB)."""
    import tracemalloc

    hour = tmp_path / "hour.flac"
    with sf.SoundFile(str(hour), "w", 8000, 1, "PCM_16", format="FLAC") as out:
        for _ in range(3600):
            out.write(np.zeros(8000, np.float32))
    tracemalloc.start()
    try:
        with pytest.raises(UsageError, match="audio only"):
            teach(hour, "knock")
        assert tracemalloc.get_traced_memory()[1] < 50 << 20
    finally:
        tracemalloc.stop()


def test_the_last_sound_kept_ends_before_the_next_action(clip_with_sound):
    """--max dropped the later actions before their onsets were found: the last sound kept ran
    to the end of the clip (up to 1 s) and held the next actions' hits as well."""
    kept, _ = teach(clip_with_sound, "knock", max_sounds=2)
    events, _ = detect_events(iter_frames(clip_with_sound, 256))
    assert len(kept) == 2 and len(events) >= 3
    gap = min(b.time - a.time for a, b in zip(events, events[1:]))
    assert kept[1].duration < gap + 0.1, (kept[1].duration, [e.time for e in events])


def test_a_bad_licence_or_tag_is_said_before_the_clip_is_analysed(clip_with_sound, monkeypatch):
    """They were checked for each action once the whole clip had been analysed, every action
    skipped with the same message."""
    def not_reached(*args, **kwargs):
        raise AssertionError("the clip was analysed")

    monkeypatch.setattr("appliance.engine.teach.analyse_clip", not_reached)
    with pytest.raises(UsageError, match="unknown licence"):
        teach(clip_with_sound, "knock", licence="BOGUS")
    with pytest.raises(UsageError, match="control character"):
        teach(clip_with_sound, "knock", tags=["a\x1bb"])


def test_teach_holds_clips_to_the_configs_length_limit(clip_with_sound, tmp_path, monkeypatch, capsys):
    """`foley library teach` took clips up to the built-in 600 s whatever the board's
    engine.max_seconds said (`foley score` honoured it)."""
    import appliance.config
    from appliance.cli import main

    config = tmp_path / "config.yaml"
    config.write_text("engine:\n  max_seconds: 1\n")
    monkeypatch.setattr(appliance.config, "DEFAULT_PATH", config)
    assert main(["library", "teach", str(clip_with_sound), "--category", "knock"]) == 2
    assert "limit of 1 s" in capsys.readouterr().err
