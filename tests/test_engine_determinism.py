"""Same clip, options and seed → the same WAV, whether the cache is off, cold or warm.

A generated walk (many near-identical steps) exercises the within-clip sharing of vision outputs
and decisions; the warm run bypasses only the result store (Engine.score, not score_to_files),
so its vision outputs come from the frame cache."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from appliance.engine.analysis import Keyframe
from appliance.engine.cache import Cache
from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import Engine
from appliance.engine.visual import VisualLookup
from appliance.mixing import SAMPLE_RATE, write_wav_atomic
from appliance.video.decode import AnalysisFrame
from appliance.video.synthetic import reencode, render_scene


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("walk")
    return render_scene("steps", folder / "walk.mp4", width=320, height=240, fps=30, seconds=12, seed=2).path


def _wav(result, path) -> bytes:
    write_wav_atomic(path, result.track, SAMPLE_RATE)
    return path.read_bytes()


def test_cache_off_cold_and_warm_give_the_same_wav(walk, tmp_path):
    options = ScoreOptions(description="footsteps on a wooden floor", seed=4)
    off = Engine(cache=None).score(walk, options)
    cold = Engine(Cache(tmp_path / "cache")).score(walk, options)
    warm = Engine(Cache(tmp_path / "cache")).score(walk, options)  # another connection, as a later process

    assert len(off.timeline.events) >= 8, "the walk has many steps"
    assert off.timeline.stats.decisions_reused >= 1, "repeated steps share a decision within the clip"
    assert cold.timeline.stats.vision_inferences_run == off.timeline.stats.vision_inferences_run >= 1
    assert warm.timeline.stats.vision_inferences_run == 0, "the warm run took every vision output from the cache"
    wavs = {name: _wav(result, tmp_path / f"{name}.wav") for name, result in
            (("off", off), ("cold", cold), ("warm", warm))}
    assert wavs["off"] == wavs["cold"] == wavs["warm"]
    events = [[e.to_json() for e in r.timeline.events] for r in (off, cold, warm)]
    assert events[0] == events[1] == events[2]


def test_what_was_scored_before_does_not_change_a_result(walk, tmp_path):
    """A clip of the same pictures in other bytes, scored after the original, gets what it gets alone."""
    copy = reencode(walk, tmp_path / "copy.mkv")
    options = ScoreOptions(seed=2)
    engine = Engine(Cache(tmp_path / "cache"))
    engine.score(walk, options)
    after = engine.score(copy, options)
    alone = Engine(cache=None).score(copy, options)
    assert np.array_equal(after.audio, alone.audio)


class _CountingEncoder:
    entry = SimpleNamespace(sha256="0" * 64)
    variant = "int8"

    def __init__(self):
        self.seen = []

    def embed(self, frames):
        self.seen.append(frames[0])
        value = float(frames[0].mean())
        return np.full((1, 4), value, np.float32), np.full((1, 3), -value, np.float32)


def _keyframe(index: int, grey: np.ndarray) -> Keyframe:
    colour = np.full((grey.shape[0] // 2, grey.shape[1]), 128, np.uint8)  # I420 chroma planes
    return Keyframe(index, index / 30, AnalysisFrame(index, index / 30, grey, colour))


def test_near_duplicate_keyframes_share_their_group_s_outputs_with_or_without_cache(tmp_path):
    rng = np.random.default_rng(1)
    scene_a = (rng.random((48, 64)) * 255).astype(np.uint8)
    scene_b = (rng.random((48, 64)) * 255).astype(np.uint8)
    noisy_a = np.clip(scene_a.astype(int) + 3, 0, 255).astype(np.uint8)
    keyframes = [_keyframe(0, scene_a), _keyframe(1, scene_b), _keyframe(2, noisy_a), _keyframe(3, scene_a)]
    runs = []
    for cache in (None, Cache(tmp_path / "c"), Cache(tmp_path / "c")):
        encoder = _CountingEncoder()
        lookup = VisualLookup(encoder, cache)
        runs.append([lookup.outputs(k)[0].tolist() for k in keyframes])
        assert [lookup.representative(k).index for k in keyframes] == [0, 1, 0, 0]
        assert lookup.run == len(encoder.seen) == (0 if len(runs) == 3 else 2)
    assert runs[0] == runs[1] == runs[2]


ROWS = """
import sys, tempfile
import numpy as np
from appliance.evaluation.event_training import rendered_clips
with tempfile.TemporaryDirectory() as folder:
    np.save(sys.argv[1], np.vstack([clip.matrix() for clip in rendered_clips(folder)]))
"""


def test_the_rendered_training_scenes_are_the_same_in_every_process(tmp_path):
    """The event model trains on rendered scenes (evaluation/event_training.py), so their cues must
    be a function of their seeds. Through x264 they were not, now and then: a process that had run
    the engine got other cues for the shaken scenes, and `foley eval`'s figures changed from run to
    run with the trees; they are encoded losslessly since. This guards fresh processes, as each
    training run is; the old fault showed only after other work in the same process, which a test
    cannot bring about at will."""
    import subprocess
    import sys

    from tests.conftest import REPO

    runs = []
    for n in range(4):
        subprocess.run([sys.executable, "-c", ROWS, str(tmp_path / f"{n}.npy")], cwd=REPO, check=True, timeout=300)
        runs.append(np.load(tmp_path / f"{n}.npy"))
    assert len(runs[0]) > 500 and all(np.array_equal(run, runs[0]) for run in runs)
