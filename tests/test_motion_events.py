"""Motion events on rendered clips: shake, flicker and a smooth slide give no impacts; streaming
equals batch; periodic marking. (How well impacts land on real footage is measured by
`foley eval --folds`, not here: the event model is fitted to real clips, not to these scenes.)"""
import numpy as np
import pytest

from appliance.motion import IMPACT, PERIODIC, SUSTAINED, ActionEvent, MotionAnalyser, detect_events
from appliance.motion.analyser import NOISE_LEVEL, RAW_NOISE_LEVEL, noise_level
from appliance.motion.camera import working_frame
from appliance.motion.event_model import bundled_event_model
from appliance.motion.periodic import mark_periodic
from appliance.video import iter_frames
from appliance.video.synthetic import render_scene


def _impacts(path):
    events, trace = detect_events(iter_frames(path))
    return [e for e in events if e.kind != SUSTAINED], trace


@pytest.mark.parametrize("shake,flicker,seed", [(2.0, 0.0, 1), (0.0, 0.3, 1), (2.0, 0.3, 1), (2.0, 0.3, 2),
                                               (0.0, 0.5, 3)])
def test_camera_shake_and_flicker_make_no_events(tmp_path, shake, flicker, seed):
    # The rendered background is flat (grey-level deviation ~8), so light normalisation stretches
    # it ~5x, codec error included: shaken and flickering at once, seeds 1 and 2 made impacts, and
    # so did a +-50 % flicker with seed 3, before differences had to pass RAW_NOISE_LEVEL too.
    clip = render_scene("still", tmp_path / "still.mp4", fps=30, seconds=4, shake=shake, flicker=flicker, seed=seed)
    assert _impacts(clip.path)[0] == []


def test_noise_floor_follows_the_contrast_stretch():
    rng = np.random.default_rng(0)
    flat = (128 + rng.normal(0, 5, (90, 160))).clip(0, 255).astype(np.uint8)
    busy = (128 + rng.normal(0, 50, (90, 160))).clip(0, 255).astype(np.uint8)
    (_, flat_gain), (_, busy_gain) = working_frame(flat), working_frame(busy)
    assert flat_gain > 6 and busy_gain < 1
    assert noise_level(busy_gain) == NOISE_LEVEL  # ordinary footage: the normalised floor, as before
    assert noise_level(flat_gain) == pytest.approx(RAW_NOISE_LEVEL * flat_gain)  # 4 levels before the stretch


@pytest.mark.parametrize("shake,flicker", [(0.0, 0.0), (2.0, 0.0), (0.0, 0.3), (2.0, 0.3)])
def test_smooth_slide_makes_no_impact(tmp_path, shake, flicker):
    # Unshaken, the box moves ~1 px a frame at the analysis width: not a repeated frame either.
    clip = render_scene("slide", tmp_path / "slide.mp4", fps=30, seconds=4, shake=shake, flicker=flicker, seed=1)
    assert _impacts(clip.path)[0] == []


def test_streaming_equals_batch(tmp_path):
    clip = render_scene("steps", tmp_path / "steps.mp4", fps=30, seconds=2, seed=2)
    analyser = MotionAnalyser(bundled_event_model())
    streamed = [e for f in iter_frames(clip.path) for e in analyser.push(f)]
    streamed += analyser.finish()
    batch, _ = detect_events(iter_frames(clip.path))
    assert any(e.kind != SUSTAINED for e in batch), "the walk has impacts to compare"
    assert all(0 < e.confidence <= 1 for e in batch if e.kind != SUSTAINED)
    assert [round(e.time, 6) for e in analyser.events] == [round(e.time, 6) for e in batch]
    # Everything in the final list was handed out while streaming (so its keyframe could be kept).
    assert all(any(abs(e.time - s.time) < 1e-9 for s in streamed) for e in batch)


def test_forgetting_the_history_leaves_nothing_behind_and_the_analysis_goes_on(tmp_path):
    """Live mode forgets what it has sounded every TRIM_EVERY frames; it forgot the events and two
    of the trace's three lists, and grew by 3-4 MB an hour. Every list of the trace is emptied."""
    clip = render_scene("steps", tmp_path / "steps.mp4", width=320, height=240, fps=30, seconds=2, seed=2)
    frames = list(iter_frames(clip.path))
    analyser = MotionAnalyser(bundled_event_model(), camera_frames=True)
    for frame in frames[:30]:
        analyser.push(frame)
    trace = analyser.trace
    assert all(getattr(trace, name) for name in trace.__dataclass_fields__)
    analyser.forget_history()
    assert analyser.events == [] and not any(getattr(trace, name) for name in trace.__dataclass_fields__)
    later = [e for frame in frames[30:] for e in analyser.push(frame)]
    assert len(trace.times) == len(trace.energy) == len(trace.flow) > 0 and later == analyser.events


def test_periodic_marking():
    events = [ActionEvent(time=t, kind=IMPACT, strength=1, x=0.5, y=0.5, frame_index=0)
              for t in (0.1, 0.6, 1.1, 1.6, 3.0)]
    mark_periodic(events)
    assert [e.kind for e in events] == [PERIODIC] * 4 + [IMPACT]
    assert events[0].period == pytest.approx(0.5)


@pytest.mark.parametrize("fps", [120, 240])
def test_a_high_speed_clip_is_analysed_at_the_rates_the_model_knows(tmp_path, fps):
    """At 120 fps and more the event model (fitted on 15-32 fps footage) placed no sound at all
    on a clip of a stick hitting six times; its frames are now analysed at 60 fps or less, and
    the hits are found as at 30 fps (motion/analyser.py analysed_every)."""
    from appliance.engine.analysis import analyse_clip

    clip = render_scene("stick", tmp_path / "fast.mp4", width=320, height=240, fps=fps, seconds=4, seed=2)
    events = analyse_clip(clip.path, 600, 1).events
    placed = [e.time for e in events if e.kind != SUSTAINED]
    found = sum(any(abs(t - hit) <= 0.1 for t in placed) for hit in clip.impacts)
    assert found >= len(clip.impacts) - 1 and len(placed) <= 3 * len(clip.impacts), (placed, clip.impacts)


def test_frames_of_footage_at_60_fps_or_less_are_all_analysed():
    """Thinning goes by the footage's nominal rate, not each frame's gap: a camera frame read
    late and the next read soon after are both frames of a 30 fps stream."""
    from appliance.motion.analyser import analysed_every

    assert [analysed_every(fps) for fps in (None, 15, 30, 60, 70)] == [1, 1, 1, 1, 1]
    assert [analysed_every(fps) for fps in (90, 120, 240, 1000)] == [2, 2, 4, 17]
