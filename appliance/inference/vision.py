"""Vision encoder: video frames in, 1280-d embeddings and ImageNet logits out.

Frames arrive as OpenCV gives them (BGR uint8, any size). Preprocessing matches the export:
resize the short side to 256, centre-crop 224, RGB, (x − 127) / 128 — the EfficientNet-Lite
convention. The export script calls `preprocess` from here, so the two cannot drift apart.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from appliance.errors import UsageError
from appliance.inference.manifest import ModelEntry, verify
from appliance.inference.sessions import create_session

INPUT_SIZE = 224
RESIZE_SHORT_SIDE = 256
MEAN = 127.0
SCALE = 128.0


def preprocess(frame_bgr: np.ndarray) -> np.ndarray:
    """One BGR uint8 frame (H, W, 3) → float32 (3, 224, 224) network input."""
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
        raise UsageError(f"a frame must be H×W×3 uint8 (BGR), not {frame_bgr.shape} {frame_bgr.dtype}")
    height, width = frame_bgr.shape[:2]
    scale = RESIZE_SHORT_SIDE / min(height, width)
    new_w, new_h = max(INPUT_SIZE, round(width * scale)), max(INPUT_SIZE, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(frame_bgr, (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - INPUT_SIZE) // 2, (new_w - INPUT_SIZE) // 2
    crop = resized[top : top + INPUT_SIZE, left : left + INPUT_SIZE, ::-1]  # BGR → RGB
    return ((crop.astype(np.float32) - MEAN) / SCALE).transpose(2, 0, 1)


class VisionEncoder:
    """One loaded vision-encoder session plus its ImageNet label list."""

    def __init__(self, entry: ModelEntry, threads: int, path: Path | None = None):
        if path is None:
            verify(entry)
        self.entry = entry
        self.variant = "int8" if path is None else Path(path).name  # cache keys never mix variants
        self.session = create_session(path or entry.path, threads)
        self.dim = int(entry.info.get("dim", 1280))
        labels_file = entry.path.parent / entry.info.get("labels_file", "imagenet-labels.txt")
        self.labels = labels_file.read_text(encoding="utf-8").splitlines()

    def embed(self, frames) -> tuple[np.ndarray, np.ndarray]:
        """Frames (a sequence of BGR uint8 images) → (embeddings (N, dim), logits (N, 1000))."""
        batch = np.stack([preprocess(frame) for frame in frames])
        embeddings, logits = self.session.run(["embedding", "logits"], {"pixels": batch})
        return embeddings.astype(np.float32), logits.astype(np.float32)

    def top_labels(self, logits: np.ndarray, k: int = 5) -> list[list[tuple[str, float]]]:
        """Per frame, the k most probable ImageNet labels with their softmax probabilities."""
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        order = np.argsort(-probs, axis=1)[:, :k]
        return [[(self.labels[i], float(row[i])) for i in idx] for row, idx in zip(probs, order)]
