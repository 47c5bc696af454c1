"""Onset scoring (CondFoleyGen protocol) and AV-Align."""
import numpy as np
import pytest

from appliance.evaluation import av_align, evaluate_clip, flow_peaks, match_onsets
from appliance.evaluation.onsets import average_precision, merge_close_onsets

SR = 22050


def _clicks(times, seconds=3.0, sr=SR):
    audio = np.zeros(int(seconds * sr), np.float32)
    rng = np.random.default_rng(0)
    for t in times:
        start = int(t * sr)
        audio[start:start + 1000] += rng.normal(0, 0.5, 1000) * np.exp(-np.arange(1000) / 150)
    return audio


def test_matching_counts_and_f1():
    scores = match_onsets(np.array([0.5, 1.0, 1.5]), np.array([0.52, 1.3, 1.55, 2.0]), np.ones(4))
    assert scores.matched == 2 and scores.accuracy == pytest.approx(2 / 3) and scores.precision == 0.5
    assert scores.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_merge_keeps_the_most_confident():
    times, conf = merge_close_onsets(np.array([1.0, 1.03, 2.0]), np.array([0.2, 0.9, 0.5]))
    assert list(times) == [1.03, 2.0]


def test_average_precision_matches_definition():
    assert average_precision(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.7])) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision(np.array([1, 1]), np.array([0.5, 0.4])) == pytest.approx(1.0)


def test_identical_tracks_score_one_and_shifted_tracks_zero():
    reference = _clicks([0.5, 1.2, 2.0])
    assert evaluate_clip(reference, SR, reference, SR)["f1"] == pytest.approx(1.0)
    shifted = _clicks([0.75, 1.45, 2.25])
    assert evaluate_clip(reference, SR, shifted, SR)["f1"] == 0.0


def test_av_align():
    assert av_align(np.array([1.0, 2.0]), np.array([1.03, 3.0]), 1 / 15) == pytest.approx(0.5)
    assert av_align(np.zeros(0), np.zeros(0), 1 / 15) == 0.0
    times = np.arange(10) / 10
    assert list(flow_peaks(times, [0, 1, 5, 1, 0, 0, 3, 0, 0, 0])) == [0.2, 0.6]
