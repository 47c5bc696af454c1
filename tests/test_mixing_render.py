"""Mixing: attack on the exact sample, equal-power pan, loudness target, true peak, atomic write."""
import numpy as np
import pytest
import soundfile as sf

from appliance.errors import UsageError
from appliance.mixing import (Ambience, Placement, Track, integrated_loudness, mix_track, pan_gains, render_track,
                              true_peak_db, write_wav_atomic)
from appliance.mixing.mixer import Gain, Mix, normalise
from appliance.mixing.placement import add_placement

SR = 48000


def _array_track(audio):
    """A Track read from an array (the mixer's tracks render their samples on demand)."""
    return Track(lambda start, stop: audio[start:stop].copy(), len(audio), SR)


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
    assert not np.any(normalise(_array_track(np.zeros((SR, 2), np.float32)), -20.0, -1.0).array())


@pytest.mark.parametrize("target", [-100.0, -200.0, float("nan")])
def test_a_target_under_the_gate_or_nan_never_gains_the_track_up(target):
    """A first pass that takes the track under the meter's −70 LUFS gate measures −inf: the next
    gain would be infinite (the WAV all −1.0: full-scale DC). No gain past that is applied."""
    bed = np.random.default_rng(3).normal(0, 0.05, (SR, 2)).astype(np.float32)
    track = normalise(_array_track(bed), target, -1.0).array()
    assert np.all(np.isfinite(track)) and np.abs(track).max() <= np.abs(bed).max()


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

    monkeypatch.setattr("appliance.mixing.wavio.sf.SoundFile.write", broken)
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
    track = normalise(_array_track(bed), -23.0, -1.0).array()  # quiet: the limiter does not engage
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
    limited = _array_track(track)
    limited.gains.append(Gain(1.0))
    assert limit_true_peak(limited, limited.gains[-1])
    limited = limited.array()
    residual = 10 ** (true_peak_db(expected) / 20)
    expected *= min(1.0, ceiling / residual)
    assert np.allclose(limited, expected, rtol=0, atol=1e-6)
    assert true_peak_db(limited) <= -1.0 + 1e-6
    quiet = _array_track(track * 0.1)
    quiet.gains.append(Gain(1.0))
    assert not limit_true_peak(quiet, quiet.gains[-1])


def test_ambience_loop_is_added_period_by_period():
    from appliance.mixing.mixer import add_loop, loop_period
    rng = np.random.default_rng(7)
    bed = rng.normal(0, 0.1, (SR // 3, 2)).astype(np.float32)
    mix = np.zeros((SR * 2 + 17, 2), np.float32)
    add_loop(mix, loop_period(bed, SR))
    fade = int(0.05 * SR)
    assert np.array_equal(mix[fade:len(bed) - fade], bed[fade:-fade])  # the body is untouched
    period = len(bed) - fade
    assert np.array_equal(mix[period:2 * period], mix[:period])  # and it repeats with that period
    # The join of unrelated noise keeps its level (a linear crossfade dipped 3 dB in its middle).
    middle = slice(fade // 4, fade * 3 // 4)
    join_db = 10 * np.log10(np.mean(mix[middle].astype(np.float64) ** 2) / np.mean(bed.astype(np.float64) ** 2))
    assert abs(join_db) < 1.0


def _busy_mix(seconds=9.0):
    """Many overlapping placements (mono and stereo, repitched, some past both ends), loud enough
    for the limiter, over a looped bed."""
    rng = np.random.default_rng(8)
    hits = [(rng.normal(0, 1, n) * np.exp(-np.arange(n) / 2000)).astype(np.float32) for n in (3000, 9000, 40000)]
    hits.append(rng.normal(0, 0.5, (7000, 2)).astype(np.float32))
    placements = [Placement(hits[i % 4], attack=0.01 * (i % 3), time=float(t), gain=float(rng.uniform(0.3, 4)),
                            pan=float(rng.uniform(-1, 1)), pitch=(1.0, 0.95, 1.06)[i % 3])
                  for i, t in enumerate(rng.uniform(-0.5, seconds + 0.5, 60))]
    return placements, Ambience(rng.normal(0, 0.05, 2 * SR + 123).astype(np.float32), gain=0.5)


def test_rendering_in_blocks_equals_rendering_whole(monkeypatch):
    """Every read of a long track renders a block on its own; the blocks, the decisions taken from
    them (loudness, limiter spans across block edges) and the WAV are those of the whole track."""
    monkeypatch.setattr("appliance.mixing.mixer.HELD_BYTES", 0)  # render every read, as for a long clip

    class Whole(Track):
        def blocks(self, size=None):
            yield self.array()

    from appliance.mixing.mixer import add_loop, fade_in, faded_out, loop_period
    from appliance.mixing.placement import stereo_of
    placements, ambience = _busy_mix()
    n = round(9.0 * SR)
    bed = stereo_of(Placement(ambience.audio, 0.0, 0.0, gain=ambience.gain, pan=ambience.pan))
    whole_mix = np.zeros((n, 2), np.float32)  # summed into one buffer, as a whole-track mixer would
    add_loop(whole_mix, loop_period(bed, SR))
    whole_mix[:480] *= fade_in(480, 0, 480)  # the bed fades in over 10 ms
    for placement in placements:
        add_placement(whole_mix, placement, SR)
    mix = Mix(placements, SR, bed)
    assert np.array_equal(mix(0, n), whole_mix)
    assert np.array_equal(np.concatenate([mix(start, min(n, start + 4801)) for start in range(0, n, 4801)]), whole_mix)

    track = mix_track(placements, 9.0, ambience=ambience, target_lufs=-12.0)
    assert len(track.gains) >= 1 and track.gains[0].curves  # the limiter worked
    reference = normalise(Whole(faded_out(Mix(placements, SR, bed), n, SR), n, SR), -12.0, -1.0).array()
    assert np.array_equal(track.array(), reference)
    assert np.array_equal(np.concatenate(list(track.blocks())), reference)
    assert np.array_equal(np.concatenate(list(track.blocks(1000))), reference)
    assert true_peak_db(reference) <= -1.0 + 1e-3
    monkeypatch.undo()  # a short track keeps its summed mix: the same samples
    assert np.array_equal(mix_track(placements, 9.0, ambience=ambience, target_lufs=-12.0).array(), reference)


def test_the_track_fades_out_at_its_end_and_the_bed_in_at_its_start():
    """A tone ringing past the end and a bed were cut at the last sample, and the bed started at
    full level on the first; a hit at 0 s keeps its attack."""
    hit, attack = _template(attack_sample=0, n=2000)
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(3 * SR) / SR)).astype(np.float32)
    bed = np.random.default_rng(4).normal(0, 0.1, SR).astype(np.float32)
    track = mix_track([Placement(tone, 0.0, time=0.5)], 2.0, ambience=Ambience(bed, gain=0.5))
    audio = track.array()
    body = np.abs(audio[SR:SR + 4800]).max()
    assert np.abs(audio[-1]).max() < 0.01 * body and np.abs(audio[-480:-240]).max() < 0.9 * body
    assert np.abs(audio[0]).max() < 1e-3 * np.abs(audio[240:24000]).max()
    assert np.array_equal(np.concatenate(list(track.blocks(333))), audio)
    kicked = mix_track([Placement(hit, attack, time=0.0, gain=0.5)], 1.0, ambience=Ambience(bed, gain=0.01)).array()
    assert np.argmax(np.abs(kicked[:, 0])) == 0, "a hit on the first sample is not faded in"


def test_wav_written_in_blocks_equals_the_array_written_at_once(tmp_path):
    placements, ambience = _busy_mix(3.0)
    track = mix_track(placements, 3.0, ambience=ambience)
    write_wav_atomic(tmp_path / "blocks.wav", track, SR)
    sf.write(tmp_path / "whole.wav", track.array(), SR, subtype="PCM_16")
    assert (tmp_path / "blocks.wav").read_bytes() == (tmp_path / "whole.wav").read_bytes()
