"""AV-Align: do the sound's onsets coincide with the picture's motion peaks?

Video peaks are local maxima of the per-frame optical-flow magnitude (camera motion included, as
the metric is defined on raw flow); an audio onset is aligned when a video peak lies within one
frame of it and vice versa. The score is the aligned share of both sets together (an
intersection-over-union of the two peak sets), 0..1.
"""
from __future__ import annotations

import numpy as np


def flow_peaks(times: list[float] | np.ndarray, magnitudes: list[float] | np.ndarray) -> np.ndarray:
    """Times of local maxima of the flow magnitude that stand above its median."""
    times, magnitudes = np.asarray(times, float), np.asarray(magnitudes, float)
    if len(magnitudes) < 3:
        return np.zeros(0)
    middle = magnitudes[1:-1]
    peaks = (middle > magnitudes[:-2]) & (middle >= magnitudes[2:]) & (middle > np.median(magnitudes))
    return times[1:-1][peaks]


def av_align(audio_onsets: np.ndarray, video_peaks: np.ndarray, frame_period: float) -> float:
    """(aligned audio onsets + aligned video peaks) / (all audio onsets + all video peaks)."""
    audio_onsets, video_peaks = np.asarray(audio_onsets, float), np.asarray(video_peaks, float)
    total = len(audio_onsets) + len(video_peaks)
    if total == 0:
        return 0.0
    window = frame_period + 1e-9

    def aligned(a: np.ndarray, b: np.ndarray) -> int:
        return int(sum(np.any(np.abs(b - t) <= window) for t in a)) if len(b) else 0

    return (aligned(audio_onsets, video_peaks) + aligned(video_peaks, audio_onsets)) / total
