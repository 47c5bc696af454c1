"""Keep the true peak under a ceiling without clipping: a look-ahead peak limiter.

Foley tracks are transients; normalising them to a loudness target often pushes single hits
over full scale. The required gain per sample (ceiling / oversampled peak) is spread over a
short window — a moving minimum over 2·h then a moving average over h — which keeps the gain
at or under the requirement at every sample (every averaged value covers it) while turning the
reduction into a ~2 ms fade rather than a click. OpenCV's erode/blur do both filters in C.
"""
from __future__ import annotations

import cv2
import numpy as np

from appliance.mixing.loudness import oversampled_peaks

HALF_WINDOW_S = 0.001


def limit_true_peak(audio: np.ndarray, sr: int, ceiling_db: float = -1.0) -> np.ndarray:
    """`audio` (n, channels) float with its 4× oversampled peak at or under `ceiling_db`."""
    ceiling = 10 ** (ceiling_db / 20)
    peaks = oversampled_peaks(audio)
    if peaks.max(initial=0.0) <= ceiling:
        return audio
    half = max(1, int(HALF_WINDOW_S * sr))
    needed = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12)).astype(np.float32).reshape(1, -1)
    held = cv2.erode(needed, np.ones((1, 4 * half + 1), np.uint8), borderType=cv2.BORDER_REPLICATE)
    gain = cv2.blur(held, (2 * half + 1, 1), borderType=cv2.BORDER_REPLICATE).ravel()
    limited = audio * gain[:, None]
    # Interpolated peaks can move by a hair under a gain change: trim what is left over.
    residual = oversampled_peaks(limited).max(initial=0.0)
    return limited * min(1.0, ceiling / residual) if residual > 0 else limited
