"""Keep the true peak under a ceiling without clipping: a look-ahead peak limiter.

Foley tracks are transients; normalising them to a loudness target often pushes single hits
over full scale. The required gain per sample (ceiling / oversampled peak) is spread over a
short window — a moving minimum over 2·h then a moving average over h — which keeps the gain
at or under the requirement at every sample (every averaged value covers it) while turning the
reduction into a ~2 ms fade rather than a click. OpenCV's erode/blur do both filters in C.

Only the spans where the interpolated signal can pass the ceiling (`loud_spans`) are filtered:
everywhere else the required gain is 1, and so is the filtered gain more than 3·h away from a
reduction, so working span by span (with that margin) gives the whole-track result. The gain
curves of those spans are all the limiter keeps (a few per cent of the track, mono); the track
applies them whenever it is read.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from appliance.mixing.loudness import PEAK_CONTEXT, loud_spans, oversampled_peaks

if TYPE_CHECKING:
    from appliance.mixing.mixer import Gain, Track

HALF_WINDOW_S = 0.001


def limit_true_peak(track: Track, gain: Gain, ceiling_db: float = -1.0) -> bool:
    """Bring the track's 4× oversampled peak to at or under `ceiling_db` by adding gain curves
    (and a final trim) to `gain`, the track's last gain stage. Returns whether any were needed."""
    ceiling = 10 ** (ceiling_db / 20)
    half = max(1, int(HALF_WINDOW_S * track.sr))
    spans = loud_spans(track.blocks(), ceiling, margin=4 * half)
    residual, deferred = 0.0, []
    for k, (start, stop) in enumerate(spans):
        lo, hi = max(0, start - PEAK_CONTEXT), min(len(track), stop + PEAK_CONTEXT)
        samples = track.read(lo, hi)
        peaks = oversampled_peaks(samples, start - lo, stop - lo)
        if peaks.max(initial=0.0) > ceiling:
            needed = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12)).astype(np.float32).reshape(1, -1)
            held = cv2.erode(needed, np.ones((1, 4 * half + 1), np.uint8), borderType=cv2.BORDER_REPLICATE)
            curve = cv2.blur(held, (2 * half + 1, 1), borderType=cv2.BORDER_REPLICATE).ravel()
            gain.add_curve(start, curve)
            samples[start - lo:stop - lo] *= curve[:, None]  # as the track reads now
            peaks = oversampled_peaks(samples, start - lo, stop - lo)
        if k + 1 < len(spans) and spans[k + 1][0] < hi:
            deferred.append((start, stop))  # the next span's curve may change this one's neighbourhood
        else:
            residual = max(residual, float(peaks.max(initial=0.0)))
    if not gain.curves:
        return False
    # Interpolated peaks can move by a hair under a gain change: trim what is left over.
    for start, stop in deferred:
        lo, hi = max(0, start - PEAK_CONTEXT), min(len(track), stop + PEAK_CONTEXT)
        residual = max(residual, float(oversampled_peaks(track.read(lo, hi), start - lo, stop - lo).max(initial=0.0)))
    if residual > ceiling:
        gain.trim = ceiling / residual
    return True
