"""A clip's analysis saved to a file and loaded back scores exactly like a fresh analysis
(the hand-over from `foley capture` to the scoring worker), and a bad file is refused."""
from __future__ import annotations

import json

import numpy as np
import pytest

from appliance.engine.analysis import analyse_clip
from appliance.engine.analysis_file import load_analysis, save_analysis
from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import Engine
from appliance.errors import UsageError
from appliance.video import probe
from appliance.video.synthetic import render_scene
from tests.test_engine_analysis import headerless_clip


@pytest.fixture(scope="module")
def engine():
    return Engine()


def test_saved_analysis_scores_like_a_fresh_one(tmp_path, engine):
    clip = tmp_path / "knock.mp4"
    render_scene("stick", clip, seconds=3.0)
    analysis = analyse_clip(clip, 600, 2)
    assert analysis.events, "the stick scene has impacts"
    save_analysis(analysis, tmp_path / "analysis.npz")
    loaded = load_analysis(tmp_path / "analysis.npz", probe(clip))
    assert [e.as_dict() for e in loaded.events] == [e.as_dict() for e in analysis.events]
    assert loaded.frame_count == analysis.frame_count
    for index, keyframe in analysis.keyframes.items():
        assert np.array_equal(loaded.keyframes[index].bgr, keyframe.bgr)
        assert loaded.keyframes[index].hash == keyframe.hash

    options = ScoreOptions(description="knock on a wooden door", seed=3)
    fresh = engine.score(clip, options)
    handed_over = engine.score(clip, options, analysis=loaded)
    assert np.array_equal(fresh.audio, handed_over.audio)
    assert [e.template_id for e in fresh.timeline.events] == [e.template_id for e in handed_over.timeline.events]


@pytest.mark.parametrize("content", [b"", b"not an npz at all", b"PK\x03\x04broken zip"])
def test_a_bad_analysis_file_is_a_clear_error(tmp_path, content):
    bad = tmp_path / "analysis.npz"
    bad.write_bytes(content)
    with pytest.raises(UsageError, match="not a usable clip analysis"):
        load_analysis(bad, None)


def test_a_tampered_keyframe_is_refused(tmp_path):
    clip = tmp_path / "knock.mp4"
    render_scene("stick", clip, seconds=2.0)
    save_analysis(analyse_clip(clip, 600, 2), tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as data:
        arrays = dict(data)
    name = next(n for n in arrays if n.startswith("grey_"))
    arrays[name] = np.zeros((4000, 10), np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UsageError, match="grey picture"):
        load_analysis(tmp_path / "bad.npz", probe(clip))


def test_a_compressed_analysis_is_refused_before_it_is_inflated(tmp_path):
    """An upload of a few hundred KB of deflated zeros would inflate, array by array, into
    gigabytes before any shape is checked; the analysis is written uncompressed, so an archive
    holding more than its own size is refused from its directory alone."""
    meta = {"format": 1, "events": [], "keyframes": {}, "scene": [], "frame_count": 1, "stage_seconds": {},
            "frames": [{"index": i, "time": i / 30} for i in range(40)]}
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    for i in range(40):  # 40 MB of zeros once inflated
        arrays[f"grey_{i}"] = np.zeros((1000, 1000), np.uint8)
        arrays[f"colour_{i}"] = np.zeros(0, np.uint8)
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, **arrays)
    del arrays
    assert bomb.stat().st_size < 1_000_000
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak (VmHWM) starts again from here
    before = _vm_kb("VmRSS")
    with pytest.raises(UsageError, match="compressed"):
        load_analysis(bomb, None)
    assert _vm_kb("VmHWM") - before < 20_000, "the arrays were inflated"


def _vm_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def _with_meta(saved, out, **changes):
    """`saved` with its JSON facts changed (a file from another process, or a tampered one)."""
    with np.load(saved) as data:
        arrays = dict(data)
    meta = {**json.loads(bytes(arrays["meta"]).decode()), **changes}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(out, **arrays)
    return out


def test_a_clip_without_a_header_duration_keeps_the_measured_one(tmp_path):
    """A live WebM's header gives no duration: the one its analysis measured from the frames
    travels in the file, and a missing or absurd one is refused."""
    clip = headerless_clip(tmp_path, "live.webm")
    analysis = analyse_clip(clip, 600, 2)
    save_analysis(analysis, tmp_path / "analysis.npz")
    loaded = load_analysis(tmp_path / "analysis.npz", probe(clip))
    assert loaded.info.duration == analysis.info.duration == pytest.approx(2.0)
    for bad in (None, -1.0, 1e12):
        tampered = _with_meta(tmp_path / "analysis.npz", tmp_path / "bad.npz", duration=bad)
        with pytest.raises(UsageError, match="no usable one"):
            load_analysis(tampered, probe(clip))
