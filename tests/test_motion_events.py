"""Motion events on rendered clips with known action times; shake and flicker give no events."""
import numpy as np
import pytest

from appliance.motion import IMPACT, PERIODIC, SUSTAINED, ActionEvent, MotionAnalyser, detect_events
from appliance.motion.impacts import EnergySample, Impact, ImpactDetector
from appliance.motion.periodic import mark_periodic
from appliance.motion.trains import select_train
from appliance.video import iter_frames
from appliance.video.synthetic import render_scene


def _impacts(path):
    events, trace = detect_events(iter_frames(path))
    return [e for e in events if e.kind != SUSTAINED], trace


def test_footsteps_land_within_a_frame(tmp_path):
    clip = render_scene("steps", tmp_path / "steps.mp4", fps=30, seconds=4, seed=1)
    found, _ = _impacts(clip.path)
    times = np.array([e.time for e in found])
    errors = np.array([np.abs(times - t).min() * clip.fps for t in clip.impacts])
    # Most landings within one frame (see docs/benchmarks.md, Motion events).
    assert np.mean(errors < 1.0) >= 0.8 and np.median(errors) < 0.5, errors
    periodic = [e for e in found if e.kind == PERIODIC]
    assert len(periodic) >= 3 and all(e.period == pytest.approx(0.5, abs=0.1) for e in periodic)


def test_first_bounces_within_a_frame(tmp_path):
    clip = render_scene("bounce", tmp_path / "bounce.mp4", fps=30, seconds=3, seed=1)
    found, _ = _impacts(clip.path)
    times = np.array([e.time for e in found])
    for t in clip.impacts[:2]:
        assert np.abs(times - t).min() * clip.fps < 1.0
    first = min(found, key=lambda e: abs(e.time - clip.impacts[0]))
    assert 0 < first.strength <= 1 and 0.3 < first.x < 0.7 and first.y > 0.5  # the ball, on the floor


@pytest.mark.parametrize("shake,flicker", [(2.0, 0.0), (0.0, 0.3)])
def test_camera_shake_and_flicker_make_no_events(tmp_path, shake, flicker):
    clip = render_scene("still", tmp_path / "still.mp4", fps=30, seconds=4, shake=shake, flicker=flicker, seed=1)
    assert _impacts(clip.path)[0] == []


@pytest.mark.parametrize("shake,flicker", [(0.0, 0.0), (2.0, 0.0), (0.0, 0.3)])
def test_smooth_slide_makes_no_impact(tmp_path, shake, flicker):
    # Unshaken, the box moves ~1 px a frame at the analysis width: not a repeated frame either.
    clip = render_scene("slide", tmp_path / "slide.mp4", fps=30, seconds=4, shake=shake, flicker=flicker, seed=1)
    assert _impacts(clip.path)[0] == []


def test_stick_reversing_at_full_speed_is_found(tmp_path):
    # The stick turns back within one frame at its fastest: no drop of energy, a flip of direction.
    clip = render_scene("stick", tmp_path / "stick.mp4", fps=30, seconds=4, shake=2.0, seed=1)
    found, _ = _impacts(clip.path)
    times = np.array([e.time for e in found])
    errors = np.array([np.abs(times - t).min() for t in clip.impacts])
    assert np.mean(errors <= 0.1) >= 0.8, errors
    assert len(found) <= len(clip.impacts) + 2


def test_streaming_equals_batch(tmp_path):
    clip = render_scene("steps", tmp_path / "steps.mp4", fps=30, seconds=2, seed=2)
    analyser = MotionAnalyser()
    streamed = [e for f in iter_frames(clip.path) for e in analyser.push(f)]
    streamed += analyser.finish()
    batch, _ = detect_events(iter_frames(clip.path))
    assert [round(e.time, 6) for e in analyser.events] == [round(e.time, 6) for e in batch]
    # Everything in the final list was handed out while streaming (so its keyframe could be kept).
    assert all(any(abs(e.time - s.time) < 1e-9 for s in streamed) for e in batch)


def _feed(energies, dt=1 / 15):
    detector, found = ImpactDetector(), []
    for i, e in enumerate(energies):
        found += detector.push(EnergySample(time=i * dt, energy=e, x=0.5, y=0.5, frame_index=i))
    return found


def test_sub_frame_time_of_a_stop():
    # Constant motion that stops in the interval after frame 4: placed inside that interval.
    exact = _feed([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    assert len(exact) == 1 and 4 / 15 <= exact[0].time <= 5 / 15
    half = _feed([1, 1, 1, 1, 1, 0.5, 0, 0, 0])
    # Half speed through the interval after frame 4, then stopped: two equal drops; within a frame.
    assert len(half) == 1 and abs(half[0].time - 4.5 / 15) <= 1 / 15 + 1e-9


def test_periodic_marking():
    events = [ActionEvent(time=t, kind=IMPACT, strength=1, x=0.5, y=0.5, frame_index=0)
              for t in (0.1, 0.6, 1.1, 1.6, 3.0)]
    mark_periodic(events)
    assert [e.kind for e in events] == [PERIODIC] * 4 + [IMPACT]
    assert events[0].period == pytest.approx(0.5)


def _candidate(time, weight, decided, toward=0.0):
    return Impact(time=time, strength=0.5, x=0.5, y=0.5, frame_index=0, weight=weight, decided=decided,
                  toward=toward)


def test_regular_train_chooses_the_blows():
    # A stick beaten every 0.7 s: the blows are mostly weak candidates (only two decided alone), the
    # turn-arounds half a cycle later are decided twice (wrongly). The rhythm picks the blows.
    blows = [0.2 + 0.7 * k for k in range(8)]
    candidates = [_candidate(t, 0.5, k in (2, 5)) for k, t in enumerate(blows)]
    candidates += [_candidate(t + 0.35, 0.3, k in (3, 6)) for k, t in enumerate(blows)]
    chosen, period = select_train(candidates)
    assert period == pytest.approx(0.7, abs=0.02)
    assert [round(c.time, 2) for c in chosen] == [round(t, 2) for t in blows]


def test_train_prefers_the_stops_that_come_towards_the_frame_centre():
    # The turn-arounds are the larger drops and decided three times, but the stick comes in towards
    # the middle of the frame (the struck surface) only at the blows.
    blows = [0.2 + 0.7 * k for k in range(8)]
    candidates = [_candidate(t, 0.35, False, toward=0.8) for t in blows]
    candidates += [_candidate(t + 0.35, 0.5, k in (1, 3, 5), toward=-0.8) for k, t in enumerate(blows)]
    chosen, period = select_train(candidates)
    assert period == pytest.approx(0.7, abs=0.02)
    assert [round(c.time, 2) for c in chosen] == [round(t, 2) for t in blows]


def test_train_is_extended_by_weak_beats_at_its_ends():
    # The first hit is too weak to take part in the chain (below MIN_WEIGHT), but it falls on the
    # beat before it; a mere flutter one beat after the end (below a fifth of the beats) does not.
    blows = [1.0 + 0.7 * k for k in range(6)]
    candidates = [_candidate(t, 0.5, True) for t in blows]
    candidates += [_candidate(0.32, 0.12, False), _candidate(blows[-1] + 0.7, 0.05, False)]
    chosen, _ = select_train(candidates)
    assert [round(c.time, 2) for c in chosen] == [0.32] + [round(t, 2) for t in blows]


def test_train_impacts_cut_the_sustained_action_they_fall_in():
    from appliance.motion.sustained import cut_at_impacts

    def scrape():
        return ActionEvent(time=1.0, kind=SUSTAINED, strength=0.5, x=0.5, y=0.5, frame_index=30, duration=3.0,
                           envelope=[(1.0 + 0.1 * k, 1.0) for k in range(31)])

    assert cut_at_impacts(scrape(), [0.5, 4.5]).duration == 3.0  # impacts outside: unchanged
    assert cut_at_impacts(scrape(), [1.7, 2.4, 3.1, 3.8]) is None  # all pieces shorter than a second
    piece = cut_at_impacts(scrape(), [2.2])  # the longer piece stays
    assert piece.time == 2.2 and piece.duration == pytest.approx(1.8) and piece.envelope[0][0] >= 2.2


def test_irregular_hits_keep_their_own_decisions():
    times = [0.3, 1.1, 1.5, 2.3, 2.7, 3.6, 3.9]
    candidates = [_candidate(t, 0.6, True) for t in times] + [_candidate(t + 0.2, 0.3, False) for t in times]
    assert select_train(candidates) is None
