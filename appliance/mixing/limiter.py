"""Keep the true peak under a ceiling without clipping: a look-ahead peak limiter.

Foley tracks are transients; normalising them to a loudness target often pushes single hits
over full scale. The required gain per sample (ceiling / oversampled peak) is spread over a
short window — a moving minimum over 2·h then a moving average over h — which keeps the gain
at or under the requirement at every sample (every averaged value covers it) while turning the
reduction into a ~2 ms fade rather than a click. OpenCV's erode/blur do both filters in C.

Only the spans where the interpolated signal can pass the ceiling (`loud_spans`) are filtered:
everywhere else the required gain is 1, and so is the filtered gain more than 3·h away from a
reduction, so working span by span (with that margin) gives the whole-track result in place,
without a track-sized copy.
"""
from __future__ import annotations

import cv2
import numpy as np

from appliance.mixing.loudness import loud_spans, oversampled_peaks

HALF_WINDOW_S = 0.001


def limit_true_peak(audio: np.ndarray, sr: int, ceiling_db: float = -1.0) -> bool:
    """Bring `audio` (n, channels) float32's 4× oversampled peak to at or under `ceiling_db`,
    in place. Returns whether anything had to change."""
    ceiling = 10 ** (ceiling_db / 20)
    half = max(1, int(HALF_WINDOW_S * sr))
    spans = loud_spans(audio, ceiling, margin=4 * half)
    limited = False
    for start, stop in spans:
        peaks = oversampled_peaks(audio, start, stop)
        if peaks.max(initial=0.0) <= ceiling:
            continue
        needed = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12)).astype(np.float32).reshape(1, -1)
        held = cv2.erode(needed, np.ones((1, 4 * half + 1), np.uint8), borderType=cv2.BORDER_REPLICATE)
        gain = cv2.blur(held, (2 * half + 1, 1), borderType=cv2.BORDER_REPLICATE).ravel()
        audio[start:stop] *= gain[:, None]
        limited = True
    if not limited:
        return False
    # Interpolated peaks can move by a hair under a gain change: trim what is left over.
    residual = max(float(oversampled_peaks(audio, start, stop).max(initial=0.0)) for start, stop in spans)
    if residual > ceiling:
        audio *= ceiling / residual
    return True
