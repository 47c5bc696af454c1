"""64-bit perceptual frame hashes (DCT "pHash") and their Hamming distance.

Repeated actions in a clip give frames whose hashes differ in a few bits; the engine uses that
to run the vision model once per group of near-duplicate keyframes (appliance.engine.visual).
A DCT hash was chosen over an average/difference hash because it ignores small brightness and
compression changes but still separates different scenes (low-frequency structure).
"""
from __future__ import annotations

import cv2
import numpy as np

_BITS = np.uint64(1) << np.arange(64, dtype=np.uint64)


def frame_hash(frame: np.ndarray) -> int:
    """Hash of a grey or BGR uint8 frame: sign of the 8×8 lowest DCT terms against their median."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].reshape(-1)
    bits = low > np.median(low[1:])  # the DC term would dominate the median
    return int(np.bitwise_or.reduce(_BITS[bits], initial=np.uint64(0)))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
