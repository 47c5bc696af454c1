"""Mixing: attack on the exact sample, equal-power pan, loudness target, true peak, atomic write."""
import numpy as np
import pytest
import soundfile as sf

from appliance.errors import UsageError
from appliance.mixing import (Ambience, Placement, integrated_loudness, pan_gains, render_track, true_peak_db,
                              write_wav_atomic)
from appliance.mixing.mixer import normalise
from appliance.mixing.placement import add_placement

SR = 48000


def _template(attack_sample=100, n=1000):
    audio = np.zeros(n, np.float32)
    audio[attack_sample] = 1.0
    return audio, attack_sample / SR


def test_attack_lands_on_the_event_sample():
    audio, attack = _template()
    mix = np.zeros((SR, 2), np.float32)
    add_placement(mix, Placement(audio, attack, time=0.5), SR)
    assert np.argmax(np.abs(mix[:, 0])) == SR // 2


def test_events_near_the_edges_are_cut_not_shifted():
    audio, attack = _template(attack_sample=500)
    mix = np.zeros((SR, 2), np.float32)
    add_placement(mix, Placement(audio, attack, time=0.005), SR)  # attack at sample 240, start < 0
    assert np.argmax(np.abs(mix[:, 0])) == 240
    add_placement(mix, Placement(audio, attack, time=0.9999), SR)
    assert mix.shape == (SR, 2)


def test_track_has_exactly_the_video_duration():
    assert render_track([], 2.5).shape == (120000, 2)
    assert render_track([], 1 / 29.97 * 7).shape == (round(7 / 29.97 * SR), 2)


def test_equal_power_pan():
    for pan in np.linspace(-1, 1, 9):
        left, right = pan_gains(pan)
        assert left ** 2 + right ** 2 == pytest.approx(1.0)
    assert pan_gains(-1) == pytest.approx((1.0, 0.0))
    assert pan_gains(1) == pytest.approx((0.0, 1.0), abs=1e-12)
    audio, attack = _template()
    mix = np.zeros((SR, 2), np.float32)
    add_placement(mix, Placement(audio, attack, time=0.5, pan=-1.0), SR)
    assert np.abs(mix[:, 1]).max() < 1e-6 and np.abs(mix[:, 0]).max() > 0.9


def test_loudness_meter_calibration():
    t = np.arange(5 * SR) / SR
    sine = np.sin(2 * np.pi * 1000 * t)  # full-scale 1 kHz in one channel reads -3.01 LKFS
    assert integrated_loudness(sine, SR) == pytest.approx(-3.01, abs=0.05)
    assert integrated_loudness(np.zeros(SR), SR) == float("-inf")


@pytest.mark.parametrize("target", [-23.0, -16.0])
def test_loudness_target_and_true_peak(target):
    rng = np.random.default_rng(1)
    bed = rng.normal(0, 0.05, SR).astype(np.float32)
    track = render_track([], 3.0, ambience=Ambience(bed, gain=1.0), target_lufs=target)
    assert integrated_loudness(track, SR) == pytest.approx(target, abs=0.5)
    assert true_peak_db(track) <= -1.0 + 1e-3


def test_hot_transients_are_limited_not_clipped():
    rng = np.random.default_rng(2)
    burst = (rng.normal(0, 1, 4800) * np.exp(-np.arange(4800) / 400)).astype(np.float32)
    placements = [Placement(burst * 4, 0.0, time=t, gain=3.0) for t in (0.2, 0.7, 1.2)]
    track = render_track(placements, 2.0, target_lufs=-10.0)
    assert true_peak_db(track) <= -1.0 + 1e-3
    assert np.abs(track).max() < 1.0
    assert np.isfinite(integrated_loudness(track, SR))


def test_silence_stays_silent():
    assert not np.any(normalise(np.zeros((SR, 2), np.float32), SR, -20.0, -1.0))


def test_atomic_write(tmp_path):
    track = np.zeros((SR, 2), np.float32)
    track[100] = 0.5
    out = write_wav_atomic(tmp_path / "out.wav", track, SR)
    data, sr = sf.read(out)
    assert sr == SR and data.shape == (SR, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.wav"
    target.write_bytes(b"previous result")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("appliance.mixing.wavio.sf.write", broken)
    with pytest.raises(OSError):
        write_wav_atomic(target, np.zeros((10, 2), np.float32), SR)
    assert target.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_unwritable_destination(tmp_path):
    with pytest.raises(UsageError, match="cannot write"):
        write_wav_atomic(tmp_path / "missing" / "out.wav", np.zeros((10, 2), np.float32), SR)


def _direct_k_weighted(x):
    """The two K-weighting biquads run sample by sample: the reference the FFT filter must match."""
    from appliance.mixing.loudness import k_weighting_coefficients
    for b, a in k_weighting_coefficients(SR):
        y = np.zeros_like(x)
        x1 = x2 = y1 = y2 = 0.0
        for n, xn in enumerate(x):
            y[n] = b[0] * xn + b[1] * x1 + b[2] * x2 - a[1] * y1 - a[2] * y2
            x2, x1, y2, y1 = x1, xn, y1, y[n]
        x = y
    return x


def test_loudness_matches_the_direct_biquad_filter():
    from appliance.mixing.loudness import gated_loudness
    rng = np.random.default_rng(4)
    n = int(2.3 * SR)  # several FFT chunks, and a last partial block step
    mono = (rng.normal(0, 0.1, n) * (1 + np.sin(np.arange(n) / SR * 3))).astype(np.float32)
    stereo = np.stack([mono, np.roll(mono, 999) * 0.5], axis=1)
    block, step = int(0.4 * SR), int(0.1 * SR)
    squared = sum(_direct_k_weighted(stereo[:, c].astype(np.float64)) ** 2 for c in range(2))
    powers = np.array([squared[s:s + block].mean() for s in range(0, n - block + 1, step)])
    assert integrated_loudness(stereo, SR) == pytest.approx(gated_loudness(powers), abs=1e-6)


def test_measured_once_then_scaled_equals_measured_again():
    rng = np.random.default_rng(5)
    bed = rng.normal(0, 0.01, (3 * SR, 2)).astype(np.float32)
    track = normalise(bed.copy(), SR, -23.0, -1.0)  # quiet: the limiter does not engage
    assert integrated_loudness(track, SR) == pytest.approx(-23.0, abs=1e-6)
    assert np.allclose(track / bed, track[0, 0] / bed[0, 0], rtol=1e-6)


def test_limiting_span_by_span_equals_the_whole_track():
    import cv2

    from appliance.mixing.limiter import HALF_WINDOW_S, limit_true_peak
    from appliance.mixing.loudness import oversampled_peaks
    rng = np.random.default_rng(6)
    track = rng.normal(0, 0.02, (2 * SR, 2)).astype(np.float32)
    for start in (10, 30000, 31000, 95900):  # hits at both edges, two close together
        track[start:start + 50] += rng.normal(0, 1.5, (len(track[start:start + 50]), 2)).astype(np.float32)
    ceiling, half = 10 ** (-1 / 20), int(HALF_WINDOW_S * SR)
    needed = np.minimum(1.0, ceiling / np.maximum(oversampled_peaks(track), 1e-12)).astype(np.float32)[None]
    held = cv2.erode(needed, np.ones((1, 4 * half + 1), np.uint8), borderType=cv2.BORDER_REPLICATE)
    expected = track * cv2.blur(held, (2 * half + 1, 1), borderType=cv2.BORDER_REPLICATE).ravel()[:, None]
    limited = track.copy()
    assert limit_true_peak(limited, SR)
    residual = 10 ** (true_peak_db(expected) / 20)
    expected *= min(1.0, ceiling / residual)
    assert np.allclose(limited, expected, rtol=0, atol=1e-6)
    assert true_peak_db(limited) <= -1.0 + 1e-6
    quiet = track * 0.1
    assert not limit_true_peak(quiet, SR)


def test_ambience_loop_is_added_period_by_period():
    from appliance.mixing.mixer import add_loop
    rng = np.random.default_rng(7)
    bed = rng.normal(0, 0.1, (SR // 3, 2)).astype(np.float32)
    mix = np.zeros((SR * 2 + 17, 2), np.float32)
    add_loop(mix, bed, SR)
    fade = int(0.05 * SR)
    assert np.array_equal(mix[fade:len(bed) - fade], bed[fade:-fade])  # the body is untouched
    period = len(bed) - fade
    assert np.array_equal(mix[period:2 * period], mix[:period])  # and it repeats with that period
