"""Live sessions end to end: the file camera playing a rendered clip in real time, the real
motion analysis, event model, sound choice and mixer, on the audio seam. Sounds land near the
clip's known contacts, the recording holds the picture and the sound where it was played,
late sounds are dropped, a missing or lost audio device and a lost camera are handled.
Latency is not asserted here (the machine is shared): `foley bench live` measures it."""
import json
import threading

import av
import numpy as np
import pytest
import soundfile

from appliance.capture.cameras import FileCamera
from appliance.config import EngineConfig, LiveConfig
from appliance.engine.pipeline import MP4_NAME, TIMELINE_NAME, WAV_NAME, Engine
from appliance.engine.edits import Change, change_event
from appliance.engine.outputs import OutputFiles, write_outputs
from appliance.engine.remix import mix_timeline
from appliance.engine.timeline import Timeline
from appliance.library import load_catalog
from appliance.service.jobs import INPUT_NAME, JobStore
from appliance.live.mixer import Cue, Outcome
from appliance.live.session import LiveOptions, LiveReport, LiveSession, Sounded
from appliance.video.synthetic import render_scene

SEAM = LiveConfig(output="seam")


@pytest.fixture(scope="module")
def engine():
    return Engine()


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    """Feet landing every ~0.5 s, 3 s at 30 fps (small: the analysis keeps up on a busy machine)."""
    return render_scene("steps", tmp_path_factory.mktemp("live") / "steps.mp4", width=320, height=240,
                        seconds=3.0, seed=2)


def _run(engine, clip, settings=SEAM, during=None, **options):
    """The session on the file camera playing `clip` once: stopped when the camera has delivered
    the clip's last frame. Not after clip.duration of wall time, which starts before the camera's
    first frame: on a loaded machine the camera started late and the session ended with part of
    the clip never captured (and the recording short of its frames)."""
    said = []
    last = round(clip.duration * clip.fps) - 1
    session = LiveSession(FileCamera(clip.path), settings, LiveOptions(**options), engine=engine, say=said.append,
                          on_frame=lambda index, _captured_at: index == last and session.stop())
    if during:
        threading.Timer(during[0], during[1], args=(session,)).start()
    return session.run(), said


def _started(report):
    return [s for s in report.sounded if s.outcome.started]


def test_sounds_start_near_the_known_contacts_and_are_accounted_for(engine, steps):
    report, said = _run(engine, steps, description="footsteps on a wooden floor")
    started = _started(report)
    assert report.impacts >= len(steps.impacts) // 2
    assert started, report.summary()
    for sound in started:  # each sound is for a visible landing (the model's timing, not the bench's)
        assert min(abs(sound.event.time - c) for c in steps.impacts) < 0.35
        assert sound.placement.source == sound.template.category == sound.decision["category"]
    assert {s.decision["category"] for s in started} <= {"footsteps", *{s.template.category for s in started}}
    assert report.impacts == report.started + report.dropped_late + report.dropped_no_device
    assert report.output.startswith("audio seam") and said == []
    assert report.scene_decisions >= 1  # the picture was read (the first frame's, before any sound)


def test_recording_holds_picture_and_the_played_sound_at_its_times(engine, steps, tmp_path):
    out = tmp_path / "live.mp4"
    request = EngineConfig(target_lufs=-16.0, max_seconds=1.0)  # the config's, not the defaults
    report, _ = _run(engine, steps, record=out, history=tmp_path / "service", engine_settings=request)
    assert report.recording == out and report.recording_failure is None
    with av.open(str(out)) as container:
        assert container.streams.video and container.streams.audio
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(out)) as container:
        audio = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)  # (2, n) fltp
        rate = container.streams.audio[0].rate
    assert frames == round(steps.duration * steps.fps), "every frame of the clip, captured once"
    timeline = json.loads(out.with_suffix(".json").read_text())
    assert len(timeline["events"]) == len(_started(report)) > 0
    envelope = np.abs(audio).max(axis=0)
    previous = None
    for event in timeline["events"]:  # the sound starts where the timeline says it was heard
        at = round(event["time"] * rate)
        assert 0.01 <= envelope[at:at + 960].max(), event["time"]
        if previous is None or event["time"] - previous >= 0.5:  # a sound just before may still ring
            assert envelope[max(0, at - 480):at - 240].max() < 0.01, event["time"]
        previous = event["time"]
        assert min(abs(event["time"] - c) for c in steps.impacts) < 0.5  # after its contact, by the latency
    silent = np.ones(len(envelope), bool)
    for event in timeline["events"]:
        silent[round(event["time"] * rate) - 240:] = False
    assert envelope[silent].max(initial=0) < 0.01  # nothing but the played sounds

    # In the history like a scored clip, and editable there: a swap re-mixes from the timeline.
    store = JobStore(tmp_path / "service")
    job = store.get(report.history_job)
    folder = store.job_dir(job.id)
    assert job.state == "done" and job.filename == "live.mp4"
    assert job.options["target_lufs"] == timeline["output"]["target_lufs"] == -16.0
    assert job.options["max_seconds"] >= timeline["clip"]["duration"] > 1.0  # a recording it made is taken whole
    played, rate = soundfile.read(folder / WAV_NAME)
    assert rate == 48000 and np.abs(played).max() > 0.01
    assert json.loads((folder / TIMELINE_NAME).read_text()) == timeline
    first = Timeline.from_json(timeline).events[0]
    other = next(t for t in load_catalog().in_category(first.category) if t.id != first.template_id)
    catalog = load_catalog()
    swapped, _ = change_event(Timeline.from_json(timeline), catalog, first.n, Change(template_id=other.id))
    write_outputs(folder / INPUT_NAME, mix_timeline(swapped, catalog), swapped, OutputFiles.in_folder(folder), catalog)
    assert swapped.events[0].template_id == other.id and swapped.mp4
    assert json.loads((folder / TIMELINE_NAME).read_text())["events"][0]["template_id"] == other.id


def test_sounds_later_than_the_budget_are_dropped_not_played(engine, steps, tmp_path):
    # 20 ms: less than the two frames the event model waits, so every sound would be late.
    report, _ = _run(engine, steps, settings=LiveConfig(output="seam", latency_budget_ms=20), record=tmp_path / "l.mp4")
    assert report.impacts > 0 and report.dropped_late == report.impacts and not _started(report)
    with av.open(str(report.recording)) as container:
        audio = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    assert np.abs(audio).max() < 1e-3


def test_without_an_audio_device_it_says_so_once_and_runs_on_the_seam(engine, steps):
    report, said = _run(engine, steps, settings=LiveConfig(output="sounddevice", device="no-such-device-xyz"))
    assert len(said) == 1 and said[0].startswith("no audio device") and "not heard" in said[0]
    assert report.output.startswith("audio seam") and report.frames > 0


def test_a_lost_audio_device_is_reopened_and_the_gap_counted(engine, steps):
    sessions = []

    def lose(session):
        sessions.append(session)
        session.output.lose()
    report, said = _run(engine, steps, during=(1.0, lose))
    assert report.device_reopened == 1
    assert sessions[0]._pending == {}, "a cue taken back with the device kept its event and choice for good"
    assert any(m.startswith("audio device lost") for m in said) and any(m.startswith("audio device back") for m in said)
    assert report.impacts == report.started + report.dropped_late + report.dropped_no_device


def test_a_lost_camera_ends_the_session_with_a_clear_message(engine, steps, tmp_path):
    clip = render_scene("steps", tmp_path / "cam.mp4", width=320, height=240, seconds=3.0, seed=2)
    report, said = _run(engine, clip, during=(1.0, lambda session: clip.path.rename(tmp_path / "gone.mp4")))
    assert report.camera_failure and "gone" in report.camera_failure
    assert any(m.startswith("camera lost") for m in said)
    assert report.frames < 0.9 * clip.duration * clip.fps


def test_a_long_session_keeps_only_the_recent_sounds_and_counts_them_all(monkeypatch):
    """One Sounded kept per action for the whole session: live mode has no end, and the report
    grew by ~77 MB a day at an action a second. The most recent RECENT_SOUNDED are kept, and
    those a recording in progress needs (heard since its first frame); the totals are counted."""
    monkeypatch.setattr("appliance.live.session.RECENT_SOUNDED", 100, raising=False)
    report = LiveReport()

    def action(n: int, keep_since=None):
        started = n % 4 != 0  # one in four dropped late
        report.impacts += 1
        report.add(Sounded(n, None, None, None, {}, Outcome(Cue(None, n, n + 0.1, n), started, n + 0.05, 0.02)),
                   keep_since)

    for n in range(10_000):
        action(n)
    assert len(report.sounded) == 100 and report.sounded[0].n == 9_900
    assert (report.started, report.dropped_late, len(report.latency_s)) == (7_500, 2_500, 7_500)
    summary = report.summary()
    assert summary["sounded"] == 7_500 and summary["latency_ms"]["p50"] == pytest.approx(70.0)
    for n in range(10_000, 10_500):  # a recording whose first frame came at 10 000
        action(n, keep_since=10_000.0)
    assert len(report.sounded) == 500 and report.sounded[0].n == 10_000
    action(10_500)  # finished: its sounds are no longer needed
    assert len(report.sounded) == 100 and (report.started, report.dropped_late) == (7_500 + 375, 2_500 + 126)


@pytest.mark.parametrize("kind", ["live", "recording", "benchmark"])
def test_a_session_keeps_its_recent_sounds_and_every_sound_of_a_recording(engine, steps, tmp_path, monkeypatch, kind):
    """The bound in a real session: one action kept, every action counted; a recording's timeline
    still lists every sound it heard (its sounds are kept while it is being made), and a
    benchmark's session (`keep_sounded`) keeps them all to match them to the clip's contacts."""
    monkeypatch.setattr("appliance.live.session.RECENT_SOUNDED", 1, raising=False)
    out = tmp_path / "live.mp4"
    options = {"recording": {"record": out}, "benchmark": {"keep_sounded": True}}.get(kind, {})
    report, _ = _run(engine, steps, settings=LiveConfig(output="seam", latency_budget_ms=1000), **options)
    assert report.impacts - report.dropped_no_device >= 2, "more actions than are kept"
    if kind == "recording":
        timeline = json.loads(out.with_suffix(".json").read_text())
        assert len(timeline["events"]) == report.started
    else:
        assert len(report.sounded) == (1 if kind == "live" else report.impacts - report.dropped_no_device)
    assert report.impacts == report.started + report.dropped_late + report.dropped_no_device
    assert report.summary()["sounded"] == report.started == len(report.latency_s)
