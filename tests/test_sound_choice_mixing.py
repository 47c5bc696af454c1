"""Dense actions stay distinct (issue 11, item 3): choke, short recordings where events are dense,
and a bed that never masks the hits. Small generated sounds only."""
from __future__ import annotations

import numpy as np
import pytest

from appliance.engine.choose import TemplatePicker, median_gap, ring_time
from appliance.library import Catalog
from appliance.mixing import Ambience, Placement, mix_track
from appliance.mixing import mixer
from appliance.mixing.mixer import Mix
from appliance.mixing.placement import CHOKE_FADE_S, choked

SR = 48000


def ringing(seconds: float, seed: int = 0) -> np.ndarray:
    """A hit: noise with a 2 ms rise and an exponential decay lasting `seconds`."""
    n = int(seconds * SR)
    noise = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    envelope = np.minimum(1.0, np.arange(n) / (0.002 * SR)) * np.exp(-np.arange(n) / (0.25 * n))
    return (noise * envelope * 0.3).astype(np.float32)


def rendered(placements: list[Placement], seconds: float) -> np.ndarray:
    return Mix(choked(placements, SR), SR)(0, int(seconds * SR))


def test_the_next_hit_of_a_source_chokes_the_tail_of_the_last():
    first = Placement(ringing(1.0), attack=0.0, time=0.2, source="impact_wood")
    silent_second = Placement(np.zeros(SR // 2, np.float32), attack=0.0, time=0.45, source="impact_wood")
    track = rendered([first, silent_second], 1.5)
    end_of_fade = int((0.45 + CHOKE_FADE_S) * SR)
    assert np.abs(track[end_of_fade:]).max() == 0.0  # the first sound's tail is gone
    before = rendered([first], 1.5)
    assert np.array_equal(track[:int(0.45 * SR)], before[:int(0.45 * SR)])  # untouched up to the attack
    fade = np.abs(track[int(0.45 * SR):end_of_fade, 0]) <= np.abs(before[int(0.45 * SR):end_of_fade, 0]) + 1e-7
    assert fade.all()


def test_other_sources_and_sounds_that_ended_are_not_choked():
    first = Placement(ringing(1.0), attack=0.0, time=0.2, source="impact_wood")
    door = Placement(np.zeros(SR // 2, np.float32), attack=0.0, time=0.45, source="door_slam")
    assert np.array_equal(rendered([first, door], 1.5), rendered([first], 1.5))
    later = Placement(np.zeros(10, np.float32), attack=0.0, time=1.3, source="impact_wood")
    assert choked([first, later], SR)[0].choke is None


def test_a_choked_track_reads_the_same_in_blocks():
    placements = choked([Placement(ringing(0.8, seed=i), attack=0.0, time=0.1 + 0.13 * i, source="s")
                         for i in range(8)], SR)
    mix = Mix(placements, SR)
    whole = mix(0, 2 * SR)
    blocks = np.concatenate([mix(start, min(2 * SR, start + 4096)) for start in range(0, 2 * SR, 4096)])
    assert np.array_equal(whole, blocks)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def test_dense_events_prefer_recordings_that_ring_out_in_time(catalog):
    category = "impact_metal"
    templates = catalog.in_category(category)
    gap = median_gap([0.0, 0.3, 0.6, 0.9, 1.2])
    assert gap == pytest.approx(0.3) and sum(ring_time(t) <= gap for t in templates) >= 4
    longest_first = {t.id: ring_time(t) for t in templates}  # the description favours long ones
    sparse = TemplatePicker(catalog, longest_first, seed=3)
    dense = TemplatePicker(catalog, longest_first, seed=3, event_gap=gap)
    assert any(ring_time(sparse.pick(category)) > gap for _ in range(20))
    assert all(ring_time(dense.pick(category)) <= gap for _ in range(20))


def test_beds_and_sustained_sounds_keep_their_order_when_dense(catalog):
    dense = TemplatePicker(catalog, None, seed=1, event_gap=0.05)
    plain = TemplatePicker(catalog, None, seed=1)
    for category in ("ambience_rain", "water_pour"):
        assert [t.id for t in dense._ranked(category)] == [t.id for t in plain._ranked(category)]


def hits_under_a_bed(bed_gain: float) -> tuple[np.ndarray, list[float]]:
    times = [0.5 + 0.6 * i for i in range(6)]
    placements = [Placement(ringing(0.3, seed=i), attack=0.002, time=t, gain=10 ** (-12 * (i % 3) / 40),
                            source="impact_soft") for i, t in enumerate(times)]
    rng = np.random.default_rng(9)
    flicker = np.repeat(rng.uniform(0.3, 1.0, 200), SR * 4 // 200)  # rain-like: level changing every 20 ms
    bed = (rng.standard_normal(len(flicker)) * flicker).astype(np.float32)
    track = mix_track(placements, 4.2, ambience=Ambience(bed, gain=bed_gain))
    return track.array(), times


def found(onsets: np.ndarray, times: list[float]) -> int:
    return sum(bool(np.any(np.abs(onsets - t) <= 0.05)) for t in times)


def test_a_bed_never_masks_the_hits(monkeypatch):
    from appliance.evaluation.onsets import detect_onsets

    audio, times = hits_under_a_bed(bed_gain=1.0)  # asked for a bed as loud as the hits
    assert found(detect_onsets(audio, SR), times) == len(times)
    monkeypatch.setattr(mixer, "BED_MARGIN_DB", -20.0)  # the same bed left loud: hits drown
    audio, times = hits_under_a_bed(bed_gain=1.0)
    assert found(detect_onsets(audio, SR), times) < len(times)


class FixedVariation:
    """A picker whose variation is the given pitch (and no gain change)."""

    def __init__(self, pitch: float):
        self.pitch = pitch

    def variation(self) -> tuple[float, float]:
        return self.pitch, 1.0


@pytest.mark.parametrize("pitch", [0.971, 1.0, 1.029])
def test_a_sustained_sound_plays_as_long_as_its_action_at_any_pitch(catalog, pitch):
    from appliance.engine.scene import placement_for
    from appliance.mixing.placement import extent
    from appliance.motion import SUSTAINED, ActionEvent

    template = catalog.in_category("water_pour")[0]
    event = ActionEvent(time=0.5, kind=SUSTAINED, strength=1.0, x=0.5, y=0.5, frame_index=0, duration=2.5)
    recording = ringing(1.0)[:, None]  # shorter than the action: looped
    placement = placement_for(event, template, recording, FixedVariation(pitch))
    assert extent(placement, SR)[1] / SR == pytest.approx(event.duration, abs=2 / SR)


@pytest.mark.parametrize("pitch", [0.971, 1.029])
def test_a_sustained_sound_follows_its_actions_motion(catalog, pitch):
    """The envelope the motion analysis measured was kept and never used: a stir that speeds up
    sounded flat. Now the texture's level follows it, the same in an edit's mix."""
    from appliance.engine.scene import ENVELOPE_FLOOR, envelope_points, placement_for, shaped
    from appliance.motion import SUSTAINED, ActionEvent

    template = catalog.in_category("water_pour")[0]
    envelope = [(0.5 + t, t / 2.0) for t in np.arange(0.0, 2.0 + 1e-9, 1 / 30)]  # motion rising over 2 s
    event = ActionEvent(time=0.5, kind=SUSTAINED, strength=1.0, x=0.5, y=0.5, frame_index=0, duration=2.0,
                        envelope=envelope)
    points = envelope_points(event)
    assert points[0][0] == 0.0 and points[0][1] < 0.02 and points[-1] == (2.0, 1.0) and len(points) == 21
    steady = np.full((SR * 3, 1), 0.1, np.float32)  # a texture of constant level
    placement = placement_for(event, template, steady, FixedVariation(pitch))
    heard = placement.audio[:, 0] / 0.1  # the gains, at the placement's own samples
    at = lambda seconds: heard[round(seconds * SR * pitch)]  # noqa: E731 (sample heard at `seconds`)
    assert at(0.0) == pytest.approx(ENVELOPE_FLOOR + (1 - ENVELOPE_FLOOR) * np.sqrt(points[0][1]), abs=0.01)
    scale = np.percentile([t / 2.0 for t, _ in points], 90)  # the points' 90th percentile is full level
    assert at(1.0) == pytest.approx(ENVELOPE_FLOOR + (1 - ENVELOPE_FLOOR) * np.sqrt(0.5 / scale), abs=0.01)
    assert at(1.8) > at(1.0) > at(0.5)
    # The timeline's points give the edit path (engine/remix.py) the same sound.
    again = shaped(steady[: len(placement.audio)], points, pitch)
    assert np.array_equal(again[: -round(0.08 * SR)], placement.audio[: -round(0.08 * SR)])
