"""`foley score` end to end on generated clips: the command-line contract of the engine."""
from __future__ import annotations

import json
import os
import shutil

import av
import numpy as np
import pytest
import soundfile as sf

from appliance.engine.analysis import ANALYSIS_WIDTH
from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import Engine
from appliance.engine.timeline import Timeline
from appliance.errors import UsageError
from appliance.mixing import true_peak_db
from appliance.motion import detect_events
from appliance.video import iter_frames
from appliance.video.synthetic import reencode, render_scene
from tests.conftest import run_foley
from tests.test_engine_analysis import headerless_clip
from tests.test_video_bad_input import _raw_avi

FPS = 30


@pytest.fixture(scope="module")
def stick_clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return render_scene("stick", folder / "stick.mp4", width=320, height=240, fps=FPS, seconds=4, seed=3)


def _packets(path, kind):
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [(p.pts, bytes(p)) for p in container.demux(stream) if p.size]


def test_score_writes_wav_mp4_timeline(stick_clip, tmp_path):
    out = tmp_path / "out.wav"
    result = run_foley("score", str(stick_clip.path), "--description", "a stick hits a wooden block",
                       "--out", str(out), "--mp4", str(tmp_path / "out.mp4"), "--timeline", str(tmp_path / "t.json"))
    assert result.returncode == 0, result.stderr
    audio, rate = sf.read(out, always_2d=True)
    assert rate == 48000 and audio.shape == (round(stick_clip.duration * 48000), 2)
    assert true_peak_db(audio.astype(np.float32)) <= -1.0 + 0.1
    timeline = json.loads((tmp_path / "t.json").read_text())
    assert Timeline.from_json(timeline).to_json() == timeline, "the typed timeline reads and writes it exactly"
    assert timeline["events"], "the stick's impacts are placed"
    detected, _ = detect_events(iter_frames(stick_clip.path, ANALYSIS_WIDTH))
    assert [e["time"] for e in timeline["events"]] == [round(e.time, 6) for e in detected]
    for event in timeline["events"]:
        assert {"time", "kind", "strength", "position", "template_id", "why"} <= set(event)
        assert event["why"]["candidates"][0]["category"] == event["category"]
    assert timeline["events"][0]["category"] == "impact_wood"
    stats = timeline["stats"]
    assert stats["vision_inferences_run"] + stats["vision_inferences_skipped"] >= 1
    # The MP4 carries the original video packets untouched, plus the new AAC track.
    assert _packets(tmp_path / "out.mp4", "video") == _packets(stick_clip.path, "video")
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.audio[0].codec_context.name == "aac"


def test_a_live_webm_without_a_duration_is_scored(tmp_path):
    """A streamed WebM's header gives no duration: the track lasts as long as its frames."""
    clip = headerless_clip(tmp_path, "live.webm")
    result = run_foley("score", str(clip), "--out", str(tmp_path / "out.wav"), "--mp4", str(tmp_path / "out.mp4"),
                       "--timeline", str(tmp_path / "t.json"), "--no-cache")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "t.json").read_text())["clip"]["duration"] == 2.0
    assert sf.info(tmp_path / "out.wav").frames == 2 * 48000
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert len(list(container.decode(video=0))) == 50


def test_sound_attack_lands_on_event_time(stick_clip, tmp_path):
    engine = Engine(cache=None)
    result = engine.score(stick_clip.path, ScoreOptions(description="knock on wood"))
    envelope = np.abs(result.audio).max(axis=1)
    for event in result.timeline.events:
        start = int(event.time * 48000)
        before = envelope[max(0, start - 2400) : start - 240].max(initial=0)
        after = envelope[start : start + 1200].max()
        assert after > 4 * before, f"no attack at {event.time}"


def test_mp4_of_a_clip_starting_late_sounds_each_action_on_its_frame(tmp_path):
    """An MPEG-TS whose timestamps start at 1.4 s: in the MP4 the picture starts at 0 like the
    Foley, each frame at its analysis time, and each sound's attack at its event's time."""
    times = [1.4 + i / FPS for i in range(3 * FPS)]
    clip = render_scene("stick", tmp_path / "late.ts", width=320, height=240, times=times, seconds=4.4, seed=3)
    result = run_foley("score", str(clip.path), "-d", "a stick hits a wooden block", "--out", str(tmp_path / "x.wav"),
                       "--mp4", str(tmp_path / "x.mp4"), "--timeline", str(tmp_path / "t.json"), "--no-cache")
    assert result.returncode == 0, result.stderr
    events = [event["time"] for event in json.loads((tmp_path / "t.json").read_text())["events"]]
    assert events
    with av.open(str(tmp_path / "x.mp4")) as container:
        frames = [frame.time for frame in container.decode(video=0)]
        container.seek(0)
        sound = np.concatenate([frame.to_ndarray().T for frame in container.decode(audio=0)])
    assert np.allclose(frames, [frame.time for frame in iter_frames(clip.path)], atol=1.5e-3) and frames[0] < 1e-3
    envelope = np.abs(sound).max(axis=1)
    for time in events:
        start = int(time * 48000)
        assert envelope[start:start + 1200].max() > 4 * envelope[max(0, start - 2400):start - 240].max(initial=0)


def test_same_seed_same_output_other_seed_varies(stick_clip, tmp_path):
    runs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        out = tmp_path / f"{name}.wav"
        assert run_foley("score", str(stick_clip.path), "--out", str(out), "--seed", str(seed),
                         "--no-cache").returncode == 0
        runs[name] = out.read_bytes()
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


def test_identical_request_is_served_from_the_result_cache(stick_clip, tmp_path):
    first, second = tmp_path / "1.wav", tmp_path / "2.wav"
    args = ("score", str(stick_clip.path), "-d", "knocking", "--timeline", str(tmp_path / "t.json"))
    assert "result cache miss" in run_foley(*args, "--out", str(first)).stderr
    hit = run_foley(*args, "--out", str(second), "--mp4", str(tmp_path / "v.mp4"))
    assert hit.returncode == 0 and "result cache hit" in hit.stderr
    assert first.read_bytes() == second.read_bytes()
    assert (tmp_path / "v.mp4").stat().st_size > 0


def _bad_inputs(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    good = render_scene("still", tmp_path / "good.mp4", seconds=2, fps=10)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.path.read_bytes()[: good.path.stat().st_size // 3])
    audio_only = tmp_path / "audio.wav"
    sf.write(audio_only, np.zeros(48000, np.float32), 48000)
    return {
        "not a video": text,
        "zero-byte": empty,
        "truncated": truncated,
        "audio only": audio_only,
        "absurd size": _raw_avi(tmp_path / "huge.avi", width=20000, height=20000),
        "1x1": _raw_avi(tmp_path / "tiny.avi", width=1, height=1),
        "10000 fps": _raw_avi(tmp_path / "fast.avi", rate=10000),
    }


@pytest.mark.parametrize("case", ["not a video", "zero-byte", "truncated", "audio only", "absurd size", "1x1", "10000 fps"])
def test_bad_input_exits_2_with_one_line_and_no_files(tmp_path, case):
    clip = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out" / "result.wav"
    out.parent.mkdir()
    result = run_foley("score", str(clip), "--out", str(out), "--mp4", str(out.with_suffix(".mp4")),
                       "--timeline", str(out.with_suffix(".json")))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("foley score:")
    assert list(out.parent.iterdir()) == []


def test_unwritable_output_path(stick_clip, tmp_path):
    missing = tmp_path / "no" / "such" / "folder" / "out.wav"
    result = run_foley("score", str(stick_clip.path), "--out", str(missing))
    assert result.returncode == 2 and "does not exist" in result.stderr
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        result = run_foley("score", str(stick_clip.path), "--out", str(readonly / "x.wav"))
        if shutil.os.geteuid() != 0:  # root ignores directory permissions
            assert result.returncode == 2 and "cannot write" in result.stderr
    finally:
        readonly.chmod(0o700)
    result = run_foley("score", str(stick_clip.path), "--out", "/proc/version/x.wav")
    assert result.returncode == 2


def test_over_length_limit_via_cli(stick_clip, tmp_path):
    result = run_foley("score", str(stick_clip.path), "--out", str(tmp_path / "x.wav"), "--max-seconds", "2")
    assert result.returncode == 2 and "limit" in result.stderr
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("option, expected", [
    ("--lufs=-100", "--lufs must be"), ("--lufs=nan", "--lufs must be"), ("--lufs=-200", "--lufs must be"),
    ("--lufs=50", "between -70 and 0"), ("--seed=-1", "seed"), (f"--seed={2**32}", "between 0 and 4294967295")])
def test_options_out_of_range_exit_2_before_any_work(stick_clip, tmp_path, option, expected):
    """A loudness target under the meter's gate used to write full-scale DC; a negative seed was
    numpy's traceback. The bounds are the config's (engine.target_lufs) and the service's."""
    result = run_foley("score", str(stick_clip.path), "--out", str(tmp_path / "x.wav"), option)
    assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.wav").exists()


def test_score_options_hold_the_same_bounds():
    with pytest.raises(UsageError, match="seed"):
        ScoreOptions(seed=2**32)
    with pytest.raises(UsageError, match="target loudness"):
        ScoreOptions(target_lufs=float("nan"))
    assert ScoreOptions(seed=2**32 - 1, target_lufs=-70.0).target_lufs == -70.0


def test_a_file_name_that_is_not_utf8_is_scored_and_named_readably(stick_clip, tmp_path):
    """A Latin-1 name (été.mp4) scored, then answered from the cache: the timeline and the
    credits name it with the undecodable bytes replaced (they failed to be written before)."""
    latin = tmp_path / os.fsdecode(b"\xe9t\xe9.mp4")
    shutil.copyfile(stick_clip.path, latin)
    for run in ("miss", "hit"):
        result = run_foley("score", str(latin), "--out", str(tmp_path / f"{run}.wav"), "--timeline",
                           str(tmp_path / f"{run}.json"), "--credits", str(tmp_path / f"{run}.txt"))
        assert result.returncode == 0 and f"result cache {run}" in result.stderr, result.stderr
        assert json.loads((tmp_path / f"{run}.json").read_text(encoding="utf-8"))["clip"]["file"] == "\ufffdt\ufffd.mp4"
        assert "\ufffdt\ufffd.mp4" in (tmp_path / f"{run}.txt").read_text(encoding="utf-8")


def test_a_description_that_is_not_utf8_is_a_usage_error(stick_clip, tmp_path):
    result = run_foley("score", str(stick_clip.path), "--out", str(tmp_path / "x.wav"), "-d", os.fsdecode(b"door \xff"))
    assert result.returncode == 2 and "not UTF-8" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("case", ["--mp4 is the clip", "--timeline is the clip", "two outputs in one file",
                                  "the same file by another path"])
def test_an_output_that_would_overwrite_the_clip_or_another_output_is_refused(stick_clip, tmp_path, case):
    clip = tmp_path / "clip.mp4"
    shutil.copyfile(stick_clip.path, clip)
    args = {"--mp4 is the clip": ["--out", "x.wav", "--mp4", "clip.mp4"],
            "--timeline is the clip": ["--out", "x.wav", "--timeline", "clip.mp4"],
            "two outputs in one file": ["--out", "x.wav", "--timeline", "x.wav"],
            "the same file by another path": ["--out", "x.wav", "--credits", f"../{tmp_path.name}/x.wav"]}[case]
    result = run_foley("score", str(clip), *[str(tmp_path / a) if a.endswith((".wav", ".mp4")) else a for a in args])
    assert result.returncode == 2 and "would overwrite" in result.stderr, result.stderr
    assert clip.read_bytes() == stick_clip.path.read_bytes() and sorted(os.listdir(tmp_path)) == ["clip.mp4"]
