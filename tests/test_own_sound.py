"""Keep the clip's own sound (keep_audio): the MP4 carries the mix, the WAV stays the Foley alone,
the mix keeps the loudness and true-peak rules, a re-mix reproduces it, a clip without sound says so."""
from __future__ import annotations

import json

import av
import numpy as np
import pytest
import soundfile as sf

from appliance.engine.mux import mux_mp4
from appliance.engine.options import ScoreOptions
from appliance.engine.own_sound import NO_TRACK, check_level, decode_own_sound, mixed_note
from appliance.engine.pipeline import Engine
from appliance.engine.outputs import OutputFiles, write_outputs
from appliance.engine.remix import mix_timeline
from appliance.engine.timeline import Timeline
from appliance.errors import UsageError
from appliance.library import load_catalog
from appliance.mixing import integrated_loudness, true_peak_db
from appliance.video import read_audio
from appliance.video.synthetic import render_scene
from tests.conftest import run_foley

SR = 48000


def speech_like(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A voice stand-in: a 140 Hz harmonic buzz through two formant-like resonances, switched on
    in syllables (about 4 a second) and phrases with pauses — stereo float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    pitch = 140 * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    buzz = sum(np.sin(k * phase) * np.exp(-((k * 140 - 700) / 500) ** 2 - 0.1) +
               0.5 * np.sin(k * phase) * np.exp(-((k * 140 - 1800) / 600) ** 2) for k in range(1, 30))
    syllables = np.clip(np.sin(2 * np.pi * 4.1 * t + rng.uniform(0, 6)), 0, None) ** 0.5
    phrases = (np.sin(2 * np.pi * 0.35 * t + 1.0) > -0.3).astype(float)
    voice = (buzz * syllables * phrases).astype(np.float32)
    voice *= 0.3 / np.abs(voice).max()
    return np.stack([voice, voice], axis=1)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """The stick scene without sound, and the same pictures with a voice on the sound track."""
    folder = tmp_path_factory.mktemp("own-sound")
    silent = render_scene("stick", folder / "stick.mp4", width=320, height=240, fps=30, seconds=4, seed=3)
    voiced = folder / "stick-voice.mp4"
    mux_mp4(silent.path, speech_like(silent.duration), SR, voiced)
    return silent, voiced


@pytest.fixture(scope="module")
def engine():
    return Engine(cache=None)


def _mp4_audio(path):
    return read_audio(path, SR, mono=False)


def test_level_is_checked():
    assert check_level(-12) == -12.0
    for bad in (-31, 7, float("nan"), "loud"):
        with pytest.raises(UsageError, match="from -30 to"):
            check_level(bad)


def test_decoded_own_sound_is_aligned_and_exactly_as_long(clips, tmp_path):
    _, voiced = clips
    length = 4 * SR
    assert decode_own_sound(voiced, tmp_path / "own.wav", length)
    own, rate = sf.read(tmp_path / "own.wav", dtype="float32", always_2d=True)
    assert rate == SR and own.shape == (length, 2)
    original = speech_like(4.0)
    lag = np.argmax(np.correlate(own[:SR, 0], original[:SR // 2, 0], "valid"))
    assert lag < 0.01 * SR, "the voice starts where the video does"
    silent, _ = clips
    assert not decode_own_sound(silent.path, tmp_path / "none.wav", length)


def test_mp4_carries_the_mix_and_the_wav_stays_the_foley(clips, engine, tmp_path):
    _, voiced = clips
    plain = engine.score_to_files(voiced, ScoreOptions(seed=1), wav=tmp_path / "plain.wav")
    options = ScoreOptions(seed=1, keep_audio=True, original_level_db=-6.0)
    timeline = engine.score_to_files(voiced, options, wav=tmp_path / "foley.wav", mp4=tmp_path / "out.mp4",
                                     mix=tmp_path / "mix.wav", timeline=tmp_path / "t.json",
                                     credits=tmp_path / "credits.txt")
    assert plain.events, "the stick's hits are placed"
    foley, _ = sf.read(tmp_path / "foley.wav", dtype="float32", always_2d=True)
    assert np.array_equal(foley, sf.read(tmp_path / "plain.wav", dtype="float32", always_2d=True)[0]), \
        "the WAV is the Foley alone (the stem), whatever keep_audio says"
    mix, _ = sf.read(tmp_path / "mix.wav", dtype="float32", always_2d=True)
    assert mix.shape == foley.shape
    assert abs(integrated_loudness(mix, SR) - options.target_lufs) <= 0.5
    assert true_peak_db(mix) <= -1.0 + 0.05
    voice = speech_like(len(mix) / SR)[:len(mix), 0]
    assert np.corrcoef(mix[:, 0], voice)[0, 1] > 0.3, "the clip's own voice is in the mix"
    assert np.corrcoef(foley[:, 0], voice)[0, 1] < 0.1
    carried = _mp4_audio(tmp_path / "out.mp4")[:len(mix)]
    assert np.corrcoef(carried[:, 0], mix[:len(carried), 0])[0, 1] > 0.9, "the MP4's track is the mix"
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["output"]["original_level_db"] == -6.0
    assert saved["output"]["original_audio"] == mixed_note(-6.0) == timeline.output.original_audio
    assert Timeline.from_json(saved).to_json() == saved


def test_a_remix_reproduces_the_mix(clips, engine, tmp_path):
    _, voiced = clips
    options = ScoreOptions(seed=1, keep_audio=True, original_level_db=3.0)
    timeline = engine.score_to_files(voiced, options, wav=tmp_path / "foley.wav", mix=tmp_path / "mix.wav")
    first, _ = sf.read(tmp_path / "mix.wav", dtype="float32", always_2d=True)
    again = Timeline.from_json(timeline.to_json())
    write_outputs(voiced, mix_timeline(again, load_catalog()), again,
                  OutputFiles(wav=tmp_path / "foley2.wav", mp4=tmp_path / "again.mp4", mix=tmp_path / "mix2.wav",
                              credits=tmp_path / "credits.txt"), load_catalog())
    second, _ = sf.read(tmp_path / "mix2.wav", dtype="float32", always_2d=True)
    assert again.output.original_level_db == 3.0 and again.output.original_audio == mixed_note(3.0)
    # A re-mix places the sounds from the timeline's rounded figures, so it is close, not bit-equal.
    assert np.corrcoef(first[:, 0], second[:, 0])[0, 1] > 0.95, "same timeline, same mix"
    assert abs(integrated_loudness(second, SR) - options.target_lufs) <= 0.5 and true_peak_db(second) <= -0.95
    assert (tmp_path / "credits.txt").is_file()


def test_clip_without_sound_gets_the_foley_alone_and_says_so(clips, engine, tmp_path):
    silent, _ = clips
    timeline = engine.score_to_files(silent.path, ScoreOptions(keep_audio=True), wav=tmp_path / "foley.wav",
                                     mp4=tmp_path / "out.mp4")
    assert timeline.output.original_audio == NO_TRACK
    foley, _ = sf.read(tmp_path / "foley.wav", dtype="float32", always_2d=True)
    carried = _mp4_audio(tmp_path / "out.mp4")[:len(foley)]
    assert np.corrcoef(carried[:, 0], foley[:len(carried), 0])[0, 1] > 0.9


def test_cli_keep_audio(clips, tmp_path):
    silent, voiced = clips
    result = run_foley("score", str(voiced), "--out", str(tmp_path / "f.wav"), "--keep-audio", "-3",
                       "--mp4", str(tmp_path / "v.mp4"), "--mix", str(tmp_path / "m.wav"), "--no-cache")
    assert result.returncode == 0, result.stderr
    assert "own sound mixed in at -3.0 dB" in result.stderr
    with av.open(str(tmp_path / "v.mp4")) as container:
        assert container.streams.audio
    result = run_foley("score", str(silent.path), "--out", str(tmp_path / "g.wav"), "--keep-audio",
                       "--mp4", str(tmp_path / "w.mp4"), "--no-cache")
    assert result.returncode == 0 and "no sound track of its own" in result.stderr
    result = run_foley("score", str(voiced), "--out", str(tmp_path / "h.wav"), "--keep-audio")
    assert result.returncode == 2 and "--mp4" in result.stderr and not (tmp_path / "h.wav").exists()
    result = run_foley("score", str(voiced), "--out", str(tmp_path / "h.wav"), "--keep-audio", "12",
                       "--mp4", str(tmp_path / "x.mp4"))
    assert result.returncode == 2 and "from -30 to +6" in result.stderr


def _speech_band_energy(x: np.ndarray, frame: int = 960) -> np.ndarray:
    """Energy of 20 ms frames between 300 and 3400 Hz (where speech is understood)."""
    n = len(x) // frame
    spectrum = np.abs(np.fft.rfft(x[:n * frame].reshape(n, frame) * np.hanning(frame), axis=1)) ** 2
    f = np.fft.rfftfreq(frame, 1 / SR)
    return spectrum[:, (f >= 300) & (f <= 3400)].sum(axis=1)


HIT_FRAMES = 3
"""20 ms frames one hit can outweigh the voice in: its attack and the loud start of its decay."""


def test_ducking_would_not_help(clips, engine, tmp_path):
    """The measurement behind not ducking (docs/benchmarks.md, "Keep the clip's own sound"): with
    the voice as loud as the Foley, the Foley is louder than the voice in the speech band in only
    a few per cent of the voice's 20 ms frames — the hits themselves, a few tens of ms each. A
    duck would make every hit that falls in speech quieter to clear those few frames; raising
    original_level_db clears them without touching the hits. So the masked frames are bounded by
    what the hits themselves cover, HIT_FRAMES each, whatever number of hits the event model lays
    on this rendered scene (13 hits and 6.8 % of the frames at 0 dB, 15 and 13.5 % after the
    event model's rebuild for the raw noise floor)."""
    _, voiced = clips
    masked, hits = {}, 0
    for level in (0.0, 6.0):
        timeline = engine.score_to_files(voiced, ScoreOptions(seed=1, keep_audio=True, original_level_db=level),
                                         wav=tmp_path / "foley.wav", mix=tmp_path / "mix.wav")
        hits = len(timeline.events)
        foley = sf.read(tmp_path / "foley.wav", dtype="float32")[0][:, 0]
        mix = sf.read(tmp_path / "mix.wav", dtype="float32")[0][:, 0]
        voice = speech_like(len(foley) / SR)[:len(foley), 0]
        # The mix is a·foley + b·voice (then limited a little): find a and b, compare the two parts.
        (a, b), *_ = np.linalg.lstsq(np.stack([foley, voice], 1), mix, rcond=None)
        foley_energy, voice_energy = _speech_band_energy(a * foley), _speech_band_energy(b * voice)
        speaking = voice_energy > voice_energy.max() * 1e-3
        masked[level] = float(np.mean(foley_energy[speaking] > voice_energy[speaking]))
        covered = hits * HIT_FRAMES / np.count_nonzero(speaking)
    assert 0 < hits and masked[0.0] <= covered, (masked, hits, covered)
    assert masked[6.0] <= masked[0.0], "a louder own sound is masked less, without touching the hits"


def test_a_stored_result_gives_the_same_mix(clips, tmp_path):
    """The result cache answers a repeated keep_audio request: the MP4 (which carries the mix) is
    copied, and a mix WAV it does not hold is made from the stored Foley and the clip's sound."""
    from appliance.engine.cache import Cache

    _, voiced = clips
    engine = Engine(Cache(tmp_path / "cache"))
    options = ScoreOptions(seed=2, keep_audio=True, original_level_db=-3.0)
    first = engine.score_to_files(voiced, options, wav=tmp_path / "a.wav", mp4=tmp_path / "a.mp4",
                                  mix=tmp_path / "a-mix.wav")
    again = engine.score_to_files(voiced, options, wav=tmp_path / "b.wav", mp4=tmp_path / "b.mp4",
                                  mix=tmp_path / "b-mix.wav", credits=tmp_path / "b.txt")
    assert first.stats.result_cache == "miss" and again.stats.result_cache == "hit"
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
    a, _ = sf.read(tmp_path / "a-mix.wav", dtype="float32", always_2d=True)
    b, _ = sf.read(tmp_path / "b-mix.wav", dtype="float32", always_2d=True)
    assert np.max(np.abs(a - b)) < 1e-3, "the stored (16-bit) Foley gives the same mix"
    assert again.output.original_audio == mixed_note(-3.0) and (tmp_path / "b.txt").is_file()


def test_an_edit_keeps_the_level_of_the_mix_with_the_clips_own_sound(clips, engine, tmp_path):
    """The Foley stem kept its level through an edit but the mix (mix.wav and the MP4 the page
    plays) was normalised anew: 14 of 15 sounds made 12 dB softer raised the untouched one and the
    clip's own voice by 2.3 dB there."""
    _, voiced = clips
    timeline = engine.score_to_files(voiced, ScoreOptions(seed=1, keep_audio=True, original_level_db=0.0),
                                     wav=tmp_path / "foley.wav", mix=tmp_path / "mix.wav")
    assert timeline.output.track_gains and timeline.output.mix_gains
    first, _ = sf.read(tmp_path / "mix.wav", dtype="float32", always_2d=True)
    edited = Timeline.from_json(timeline.to_json())
    for event in edited.events[1:]:
        event.gain_db -= 12.0
    write_outputs(voiced, mix_timeline(edited, load_catalog()), edited,
                  OutputFiles(wav=tmp_path / "foley2.wav", mix=tmp_path / "mix2.wav"), load_catalog())
    second, _ = sf.read(tmp_path / "mix2.wav", dtype="float32", always_2d=True)
    start = round(edited.events[0].time * SR)
    window = slice(start, start + round(0.04 * SR))
    change_db = 10 * np.log10(np.mean(second[window].astype(np.float64) ** 2) / np.mean(first[window].astype(np.float64) ** 2))
    assert abs(change_db) < 0.2
    assert edited.output.mix_gains == timeline.output.mix_gains
