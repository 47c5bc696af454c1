"""A recording's result made while it is recorded (issue 14, item 6): the stream mix, the AAC
written as it goes and copied into the MP4, the speculation checked at the stop, and the capture
daemon filing the finished job in the service's history."""
from __future__ import annotations

import json
import time
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from appliance.capture.cameras import FileCamera
from appliance.capture.daemon import CaptureDaemon
from appliance.capture.outbox import Outbox
from appliance.capture.recording import Recording
from appliance.capture.scoring import LAG_S, RecordingScoring
from appliance.config import CaptureConfig, EngineConfig
from appliance.engine.mux import AacWriter, mux_copied
from appliance.engine.timeline import Timeline
from appliance.errors import UsageError
from appliance.mixing import DEFAULT_CEILING_DB, SAMPLE_RATE, Placement
from appliance.mixing.mixer import Mix
from appliance.mixing.placement import choked
from appliance.mixing.stream import StreamMix
from appliance.mixing.stream_limiter import StreamLimiter
from appliance.service.jobs import JobStore
from appliance.video.synthetic import render_scene
from appliance.waiting import poll

from tests.conftest import free_port
from tests.test_capture_daemon import finished, make_daemon


def bursts(count: int, seed: int) -> list[Placement]:
    """Loud noise bursts (some past full scale, for the limiter) of two sources, some overlapping."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        n = int(rng.integers(2000, 30000))
        audio = (rng.standard_normal(n) * np.exp(-np.arange(n) / 4000) * rng.uniform(0.2, 3.0)).astype(np.float32)
        out.append(Placement(audio=audio, attack=float(rng.uniform(0, 0.01)), time=0.1 + 0.23 * k,
                             gain=1.0, pan=float(rng.uniform(-1, 1)), pitch=float(rng.uniform(0.97, 1.03)),
                             source="a" if k % 2 else "b"))
    return out


def test_the_stream_mix_gives_the_same_samples_in_any_pieces_and_as_placements_arrive():
    placements, length = bursts(12, 1), SAMPLE_RATE * 3
    whole = StreamMix(SAMPLE_RATE, DEFAULT_CEILING_DB)
    for p in placements:
        whole.add(p)
    reference = whole.finish(length)
    assert reference.shape == (length, 2)
    # the offline mix through the stream limiter, delayed back: the same rule
    mixed = Mix(choked(placements, SAMPLE_RATE), SAMPLE_RATE)(0, length + 200)
    limiter = StreamLimiter(SAMPLE_RATE, DEFAULT_CEILING_DB)
    limited = limiter.process(np.concatenate([mixed, np.zeros((limiter.lookahead, 2), np.float32)]))
    np.testing.assert_allclose(reference[:length - 1000], limited[limiter.lookahead:][:length - 1000], atol=1e-6)
    assert np.abs(reference).max() <= 10 ** (DEFAULT_CEILING_DB / 20)

    rng = np.random.default_rng(2)
    piecewise, pending, pieces = StreamMix(SAMPLE_RATE, DEFAULT_CEILING_DB), list(placements), []
    while piecewise.position < length - 5000:
        until = min(length, piecewise.position + int(rng.integers(1, 9000)))
        while pending and round((pending[0].time - pending[0].attack / pending[0].pitch) * SAMPLE_RATE) < until + 2000:
            piecewise.add(pending.pop(0))  # each sound added shortly before its first sample is due
        pieces.append(piecewise.render(until))
    for p in pending:
        piecewise.add(p)
    pieces.append(piecewise.finish(length))
    np.testing.assert_array_equal(np.concatenate(pieces), reference)


def test_a_sound_ringing_past_the_recordings_end_fades_out_as_offline():
    """A camera recording ended on the ringing sound's sample (-19 dBFS there): a click."""
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    length = SAMPLE_RATE // 2
    for rendered_before in (0, length - 100):  # the whole fade left to finish, or only 100 samples of it
        mix = StreamMix(SAMPLE_RATE, DEFAULT_CEILING_DB)
        mix.add(Placement(audio=tone, attack=0.0, time=0.1))
        out = np.concatenate([mix.render(rendered_before), mix.finish(length)])
        assert len(out) == length and np.abs(out[-1]).max() < 1e-3
        steps = np.abs(np.diff(out[-600:, 0]))
        assert steps.max() < 0.05, "no step where the fade starts"


def test_aac_written_as_it_goes_is_copied_into_the_mp4_with_the_picture(tmp_path):
    video = tmp_path / "picture.mp4"
    render_scene("stick", video, width=160, height=120, fps=30, seconds=2.0, seed=1)
    writer = AacWriter(tmp_path / "sound.m4a", SAMPLE_RATE)
    tone = (0.3 * np.sin(np.arange(SAMPLE_RATE * 2) * 2 * np.pi * 440 / SAMPLE_RATE)).astype(np.float32)
    for start in range(0, len(tone), 4321):  # blocks of any size
        writer.write(np.repeat(tone[start:start + 4321, None], 2, axis=1))
    writer.close()
    mux_copied(video, tmp_path / "sound.m4a", tmp_path / "out.mp4", metadata={"comment": "credits"})
    with av.open(str(tmp_path / "out.mp4")) as container:
        kinds = sorted((s.type, s.codec_context.name) for s in container.streams)
        assert kinds == [("audio", "aac"), ("video", "h264")]
        assert container.metadata.get("comment") == "credits"
        decoded = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    assert decoded.shape[1] == pytest.approx(len(tone), abs=2048)
    spectrum = np.abs(np.fft.rfft(decoded[0, 4096:4096 + 8192]))
    assert np.argmax(spectrum) * SAMPLE_RATE / 8192 == pytest.approx(440, abs=10)
    with pytest.raises(UsageError, match="missing.m4a"):
        mux_copied(video, tmp_path / "missing.m4a", tmp_path / "never.mp4")
    assert not (tmp_path / "never.mp4").exists()


@pytest.fixture(scope="module")
def scoring(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    scoring = RecordingScoring(state / "cache", state / "service", EngineConfig(target_lufs=-16.0, max_seconds=2.0))
    poll(lambda: scoring.state != "loading", 120)
    assert scoring.state == "ready"
    return scoring


@pytest.fixture(scope="module")
def knocks(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "knocks.mp4"
    render_scene("stick", path, width=320, height=240, fps=30, seconds=6.0, seed=4)
    return path


def record(clip: Path, folder: Path, scoring: RecordingScoring, speculate: bool):
    folder.mkdir()
    recording = Recording(folder, 30, 0.0, 6.0, "a stick knocking on a wooden block", [],
                          lambda r: scoring.start(r.analysis, folder, r.id, r.description))
    if not speculate:
        recording.scorer.speculating = False
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            recording.offer(frame.to_ndarray(format="bgr24"), i / 30)
            time.sleep(0.005)  # the queue holds 2 s of frames: no frame may be dropped here
    finished = recording.finish(1.0)
    assert recording.dropped == 0
    return recording.scorer, recording.scorer.finish(finished.path, finished.analysis, "knocks.mp4")


def test_sounds_committed_while_recording_give_the_result_of_rendering_it_at_the_stop(scoring, knocks, tmp_path):
    scorer, streamed = record(knocks, tmp_path / "a", scoring, speculate=True)
    assert scorer.committed, "sounds of actions settled before the last LAG_S were committed while recording"
    assert not streamed.rendered_again
    _, again = record(knocks, tmp_path / "b", scoring, speculate=False)
    assert again.rendered_again
    a, b = soundfile.read(streamed.wav, dtype="int16"), soundfile.read(again.wav, dtype="int16")
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == SAMPLE_RATE and len(a[0]) == pytest.approx(streamed.timeline.clip.duration * SAMPLE_RATE, abs=5)
    assert [e.to_json() for e in streamed.timeline.events] == [e.to_json() for e in again.timeline.events]
    events = streamed.timeline.events
    assert len(events) >= 3 and len(scorer.committed) < len(events)  # the last LAG_S were settled at the stop
    assert all(e.time < 6.0 - LAG_S for e in events[:len(scorer.committed)])
    assert streamed.timeline.clip.file == "knocks.mp4" and streamed.timeline.mp4["video"] == "copied"
    with av.open(str(streamed.mp4)) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        assert "knocks.mp4" in container.metadata.get("comment", "")


def test_the_daemon_files_a_recording_scored_while_recorded_as_a_finished_job(tmp_path, knocks, scoring):
    outbox = Outbox(tmp_path / "outbox", f"http://127.0.0.1:{free_port()}", tmp_path / "no-token")
    config = CaptureConfig(preroll_seconds=1.0, record_seconds=3.0, min_clip_seconds=0.5, min_free_mb=1)
    daemon = CaptureDaemon(config, lambda: FileCamera(knocks), tmp_path / "recordings", outbox, scoring=scoring)
    daemon.start_threads()
    try:
        poll(lambda: daemon.status()["camera"]["ok"], 15)
        assert daemon.status()["scoring_while_recording"] == "ready"
        time.sleep(1.2)
        started = daemon.start("knocks on wood")
        entry = finished(daemon, started["id"])
        assert entry["state"] == "scored" and entry["scored"] in ("while recording", "at the stop (rendered again)")
        store = JobStore(scoring.service_folder)
        try:
            job = store.get(entry["job_id"])
            assert job.state == "done" and job.filename == f"{started['id']}.mp4"
            folder = store.job_dir(job.id)
            names = {p.name for p in folder.iterdir()}
            assert {"input", "audio.wav", "video.mp4", "timeline.json", "credits.txt"} <= names
            timeline = Timeline.from_json(json.loads((folder / "timeline.json").read_text()))
            assert timeline.clip.duration == pytest.approx(4.0, abs=0.15)
            # The config's engine section, not the defaults; a recording it made is taken whole.
            assert job.options["target_lufs"] == timeline.output.target_lufs == -16.0
            assert job.options["max_seconds"] >= timeline.clip.duration > 2.0
        finally:
            store.db.close()
        assert not list(outbox.pending()), "nothing was left for the service's queue"
        assert not list((tmp_path / "recordings").iterdir()), "no clip or scratch file is left behind"
    finally:
        daemon.shutdown()


def test_without_an_engine_the_recording_goes_to_the_service_as_before(tmp_path, knocks):
    def broken_engine():
        raise RuntimeError("no models here")

    scoring = RecordingScoring(tmp_path / "cache", tmp_path / "service", load_engine=broken_engine)
    poll(lambda: scoring.state != "loading", 10)
    daemon = make_daemon(tmp_path, lambda: FileCamera(knocks))
    daemon.scoring = scoring
    try:
        assert daemon.status()["scoring_while_recording"] == "the engine could not be loaded: no models here"
        time.sleep(1.1)
        entry = finished(daemon, daemon.start()["id"])
        assert entry["state"] == "waiting" and entry["scored"] == "by the service"
    finally:
        daemon.shutdown()


def test_a_result_half_made_when_the_daemon_died_is_removed_at_its_next_start(tmp_path):
    scratch = tmp_path / "recordings" / ".scoring-20260101-000000-abcdef"
    scratch.mkdir(parents=True)
    (scratch / "foley.wav").write_bytes(b"RIFF half")
    (tmp_path / "recordings" / ".20260101-000000-abcdef.mp4.partial").write_bytes(b"half")
    outbox = Outbox(tmp_path / "outbox", f"http://127.0.0.1:{free_port()}", tmp_path / "no-token")
    CaptureDaemon(CaptureConfig(), lambda: FileCamera(tmp_path / "none.mp4"), tmp_path / "recordings", outbox)
    assert not list((tmp_path / "recordings").iterdir())
