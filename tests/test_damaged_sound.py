"""A recording damaged on disk (a truncated copy, a bad sector) costs its own use, not the score.

It used to fail every score that drew it, naming it. Now the picker's pool of a category is its
best recordings that decode (the catalog marks one that does not, and says so once), so the
result is the one a score made with the damage already known gives (same clip, options, seed)."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from appliance import library
from appliance.engine.choose import TemplatePicker
from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import Engine
from appliance.errors import UsageError
from appliance.library import load_catalog
from appliance.library.store import UserLibrary
from appliance.video.synthetic import render_scene

DESCRIPTION = "a stick knocking on a pine plank"


def _knock(path, freq: float):
    rate = 48_000
    t = np.arange(int(0.25 * rate)) / rate
    tone = (np.sin(2 * np.pi * freq * t) * np.exp(-t * 30) * 0.5).astype(np.float32)
    sf.write(str(path), np.concatenate([np.zeros(2400, np.float32), tone]), rate)
    return path


@pytest.fixture
def knocks(tmp_path):
    """Three of your own plank knocks, the description's best fits in `impact_wood`."""
    store = UserLibrary()
    return [store.add(_knock(tmp_path / f"plank{i}.wav", 400 + 150 * i), "impact_wood",
                      tags="stick knocking on a pine plank, knock, plank", licence="CC0-1.0", author="test")
            for i in range(3)]


def _fresh_catalog() -> None:
    """What a new process reads: the catalog (and its decoded sounds) loaded again."""
    library._cached.clear()


def _damage(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # the header says more samples than are there


def test_a_damaged_sound_is_passed_over_and_the_score_is_what_it_is_with_the_damage_known(knocks, tmp_path, caplog):
    clip = render_scene("stick", tmp_path / "stick.mp4", seconds=4, seed=1).path
    options = ScoreOptions(description=DESCRIPTION, seed=3)
    intact = Engine(cache=None).score(clip, options)
    used = {e.template_id for e in intact.timeline.events}
    victim = next(k for k in knocks if k.id in used)  # one of yours that this score draws

    _damage(victim.path)
    _fresh_catalog()
    with caplog.at_level(logging.WARNING):
        found_during = Engine(cache=None).score(clip, options)
    assert victim.id in load_catalog().unreadable
    assert victim.id not in {e.template_id for e in found_during.timeline.events}
    assert len(found_during.timeline.events) == len(intact.timeline.events)
    assert any(victim.id in r.getMessage() and "cannot be played" in r.getMessage() for r in caplog.records)

    known_before = Engine(cache=None).score(clip, options)  # same catalog: the damage already known
    assert np.array_equal(found_during.audio, known_before.audio)
    assert [e.to_json() for e in found_during.timeline.events] == [e.to_json() for e in known_before.timeline.events]
    assert victim.path.stat().st_size > 0, "your file is left as it is (to restore or remove)"


def test_a_category_whose_every_sound_is_damaged_says_so(knocks):
    for knock in knocks:
        _damage(knock.path)
    catalog = load_catalog()
    only_yours = [k.id for k in knocks]
    picker = TemplatePicker(catalog, None, seed=0)
    template = picker.pick("impact_wood", only_yours)
    assert template.id not in only_yours, "a bundled recording of the category stands in"
    assert set(only_yours) <= set(catalog.unreadable)

    for template in catalog.in_category("impact_wood"):
        catalog.unreadable.setdefault(template.id, f"{template.id}: not a readable audio file (test)")
    with pytest.raises(UsageError, match="no sound of category 'impact_wood' can be played"):
        TemplatePicker(catalog, None, seed=0).pick("impact_wood")


def test_a_bed_is_decoded_only_when_drawn_and_a_damaged_one_is_drawn_again(tmp_path, monkeypatch):
    """Beds are up to 6 MB decoded and drawn once a clip: only the drawn one is decoded (checking
    the whole pool of four cost ~0.1-0.3 s and filled the sound cache); a damaged one is drawn
    again from the same state, so the bed is the one a score knowing the damage lays."""
    from appliance.library import audio_io

    rain = sorted(t.id for t in load_catalog().in_category("ambience_rain"))
    decoded = []
    real_decode = audio_io.decode
    monkeypatch.setattr(audio_io, "decode", lambda path, name=None: decoded.append(name) or real_decode(path, name))
    _fresh_catalog()
    picker = TemplatePicker(load_catalog(), None, seed=5)
    picker.draw_for(1)
    drawn = picker.pick("ambience_rain")
    assert decoded == [drawn.id]

    _fresh_catalog()
    catalog = load_catalog()
    catalog.unreadable[drawn.id] = f"{drawn.id}: not a readable audio file (test)"
    known = TemplatePicker(catalog, None, seed=5)
    known.draw_for(1)
    expected = known.pick("ambience_rain").id
    assert expected != drawn.id and expected in rain

    _fresh_catalog()
    catalog = load_catalog()
    real_audio = catalog.audio

    def damaged(template_id):
        if template_id == drawn.id:
            catalog.unreadable[template_id] = "damaged (test)"
            raise UsageError(f"{template_id}: not a readable audio file (test)")
        return real_audio(template_id)
    monkeypatch.setattr(catalog, "audio", damaged)
    found = TemplatePicker(catalog, None, seed=5)
    found.draw_for(1)
    assert found.pick("ambience_rain").id == expected
