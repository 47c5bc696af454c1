"""Conversion and measurement: loudness (BS.1770), trimming, attack, loops, event splitting."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from appliance.errors import UsageError
from appliance.library import audio_io, load_catalog
from appliance.library.store import UserLibrary

RATE = audio_io.SAMPLE_RATE


def sine(seconds: float, freq: float = 1000.0, dbfs: float = -20.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    x = (10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def test_loudness_of_reference_tones():
    # BS.1770: a 0 dBFS-peak 1 kHz sine in one channel reads -3.01 LUFS; in two channels +3 dB.
    integrated, momentary = audio_io.loudness(sine(5.0, dbfs=-20.0))
    assert integrated == pytest.approx(-23.0, abs=0.1) and momentary == pytest.approx(-23.0, abs=0.1)
    stereo, _ = audio_io.loudness(sine(5.0, dbfs=-20.0, channels=2))
    assert stereo == pytest.approx(-20.0, abs=0.1)


def test_gating_ignores_silence():
    quiet_gap = np.concatenate([sine(3.0), np.zeros((3 * RATE, 1), np.float32)])
    assert audio_io.loudness(quiet_gap)[0] == pytest.approx(-23.0, abs=0.3), "ungated it would read -26"


def test_trim_and_attack():
    signal = np.concatenate([np.zeros((int(0.3 * RATE), 1), np.float32), sine(0.2), np.zeros((RATE, 1), np.float32)])
    trimmed = audio_io.trim(signal)
    assert len(trimmed) / RATE == pytest.approx(0.205, abs=0.01)
    assert audio_io.attack_time(trimmed) == pytest.approx(audio_io.PRE_ROLL, abs=0.003)


def test_resample_and_channels():
    data = np.random.default_rng(1).standard_normal((22050, 6)).astype(np.float32)
    out = audio_io.to_template_format(data, 22050)
    assert out.shape == (48000, 1) and out.dtype == np.float32


def test_loop_is_seamless():
    noise = (np.random.default_rng(2).standard_normal((6 * RATE, 2)) * 0.1).astype(np.float32)
    bed = audio_io.make_loop(noise, 4.0, 1.0)
    assert len(bed) == 4 * RATE
    assert np.array_equal(bed[-1], noise[4 * RATE - 1]) and np.allclose(bed[0], noise[4 * RATE], atol=1e-6)


def test_split_events_finds_separate_hits():
    hit = sine(0.08, freq=600, dbfs=-6.0) * np.exp(-np.arange(int(0.08 * RATE)) / 800)[:, None]
    gap = np.zeros((int(0.4 * RATE), 1), np.float32)
    walk = np.concatenate([gap, hit, gap, hit * 0.5, gap, hit * 0.8, gap]).astype(np.float32)
    events = audio_io.split_events(walk, RATE, max_events=2, min_gap=0.2, max_length=0.3)
    assert len(events) == 2 and all(audio_io.peak_dbfs(e) > -9 for e in events), "the two loudest"


def test_usability_limits():
    with pytest.raises(UsageError, match="silent"):
        audio_io.check_usable(np.zeros((RATE, 1), np.float32), RATE, "x")
    with pytest.raises(UsageError, match="at least"):
        audio_io.check_usable(sine(0.01), RATE, "x")
    with pytest.raises(UsageError, match="at most"):
        audio_io.check_usable(sine(31.0), RATE, "x")
    audio_io.check_usable(sine(0.5), RATE, "x")


def thumped_hit(dc: float = 0.15) -> np.ndarray:
    """A knock as a handled recording has it: a 12 Hz thump and a DC offset under a 1 kHz hit
    that starts 50 ms in (faded in, as trim leaves a recording)."""
    t = np.arange(int(0.5 * RATE)) / RATE
    hit = np.where(t >= 0.05, np.sin(2 * np.pi * 1000 * t) * np.exp(-(t - 0.05) * 40), 0.0) * 0.3
    data = (hit + dc + 0.3 * np.sin(2 * np.pi * 12 * t)).astype(np.float32)[:, None]
    data[:240] *= np.linspace(0, 1, 240, dtype=np.float32)[:, None]
    return data


def band_power(data: np.ndarray, lo: float, hi: float) -> float:
    spectrum = np.abs(np.fft.rfft(data[:, 0].astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(data), 1 / RATE)
    return float(spectrum[(freqs >= lo) & (freqs < hi)].sum())


def test_rumble_and_dc_removed_without_moving_the_attack():
    data = thumped_hit()
    clean = audio_io.without_rumble(data, loop=False)
    assert abs(float(data.mean())) > 0.1 and abs(float(clean.mean())) < 0.005
    assert 10 * np.log10(band_power(clean, 0, 20) / band_power(data, 0, 20)) < -25
    assert 10 * np.log10(band_power(clean, 200, 20000) / band_power(data, 200, 20000)) > -0.1
    # The offset leaves no trace: its faded-in rise, high-passed, was a bump at the start.
    without_offset = audio_io.without_rumble(thumped_hit(dc=0.0), loop=False)
    assert np.abs(clean - without_offset)[: int(0.45 * RATE)].max() < 1e-3  # (this knock is not faded out)
    assert np.abs(clean[-1]).max() < 1e-3, "the end faded again"


def test_the_attack_is_measured_on_the_sound_the_mix_plays():
    """Measured with its rumble, a knock's attack was where the rumble rose, and its audible start
    was placed tens of milliseconds off the action."""
    t = np.arange(int(0.5 * RATE)) / RATE
    hit = np.where(t >= 0.05, np.sin(2 * np.pi * 1000 * t) * np.exp(-(t - 0.05) * 40), 0.0) * 0.3
    data = (hit + 0.1 * np.sin(2 * np.pi * 15 * t)).astype(np.float32)[:, None]  # a handling rumble 10 dB under it
    assert audio_io.attack_time(data) < 0.01
    assert audio_io.measure(data).attack_time == pytest.approx(0.05, abs=0.002)


def test_a_bed_stays_loopable_once_its_rumble_is_removed():
    noise = (np.random.default_rng(3).standard_normal((6 * RATE, 2)) * 0.1 + 0.2).astype(np.float32)
    bed = audio_io.make_loop(noise, 4.0, 1.0)
    clean = audio_io.without_rumble(bed, loop=True)
    assert np.abs(clean.mean(axis=0)).max() < 1e-6
    step = np.abs(clean[0] - clean[-1]).max()
    assert step < 4 * np.abs(np.diff(clean, axis=0)).mean(), "the loop's join is an ordinary step"


def test_the_catalog_mixes_your_sounds_without_their_rumble(tmp_path):
    path = tmp_path / "thump.wav"
    sf.write(str(path), thumped_hit()[:, 0], RATE)
    template = UserLibrary().add(path, "impact_wood", tags="knock", licence="CC0-1.0", author="test")
    stored, _ = audio_io.decode(template.path)
    audio = load_catalog().audio(template.id)
    assert abs(float(stored.mean())) > 0.1 and abs(float(audio.mean())) < 0.005
    assert 10 * np.log10(band_power(audio, 0, 20) / band_power(stored, 0, 20)) < -20
