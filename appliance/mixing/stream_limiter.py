"""The offline limiter's rule, run block by block with a few milliseconds of look-ahead.

The offline limiter (mixing/limiter.py) needs, per sample, the 4× oversampled peak around it,
turns ceiling / peak into a gain that is the moving minimum over ±2h then the moving average
over ±h samples (h = 1 ms), which keeps the gain at or under the requirement at every sample and
makes each reduction a ~2 ms fade. Live, the same curve is computed on a stream: the output is
held back by the filters' reach (3h) plus the interpolator's context, LOOKAHEAD samples (3.25 ms
at 48 kHz), so each sample's gain sees every requirement it depends on. The offline limiter
trims the tiny residual a gain curve leaves on interpolated peaks after the fact, which a stream
cannot; here the requirement is computed against a ceiling MARGIN_DB lower instead.
"""
from __future__ import annotations

import cv2
import numpy as np

from appliance.mixing.limiter import HALF_WINDOW_S
from appliance.mixing.loudness import PEAK_CONTEXT, oversampled_peaks

MARGIN_DB = 0.1
"""Headroom under the ceiling for what a gain curve moves interpolated peaks by (≪ 0.1 dB)."""


class StreamLimiter:
    """`process(block)` returns a block of the same length, LOOKAHEAD samples late, with a true
    peak at or under `ceiling_db` (stereo float32)."""

    def __init__(self, sr: int, ceiling_db: float):
        self.half = max(1, int(HALF_WINDOW_S * sr))
        self.reach = 3 * self.half
        """Samples either side of a sample whose requirement shapes its gain (erode 2h + blur h)."""
        self.lookahead = self.reach + PEAK_CONTEXT
        self.ceiling = 10 ** ((ceiling_db - MARGIN_DB) / 20)
        self._kernel = np.ones((1, 4 * self.half + 1), np.uint8)
        # Input not yet output plus the context behind it: starts as silence.
        self._history = np.zeros((self.lookahead + self.reach + PEAK_CONTEXT, 2), np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        n = len(block)
        history = np.concatenate([self._history, block])
        keep = self.lookahead + self.reach + PEAK_CONTEXT
        self._history = history[-keep:]
        # Output samples [a, b) of `history`: the ones `lookahead` behind the newest.
        b = len(history) - self.lookahead
        a = b - n
        out = history[a:b].copy()
        lo, hi = a - self.reach, b + self.reach  # requirements the gains of [a, b) depend on
        peaks = oversampled_peaks(history, lo, hi)
        if peaks.max(initial=0.0) <= self.ceiling:
            return out
        needed = np.minimum(1.0, self.ceiling / np.maximum(peaks, 1e-12)).astype(np.float32).reshape(1, -1)
        held = cv2.erode(needed, self._kernel, borderType=cv2.BORDER_REPLICATE)
        curve = cv2.blur(held, (2 * self.half + 1, 1), borderType=cv2.BORDER_REPLICATE).ravel()
        out *= curve[self.reach:self.reach + n, None]
        return out
