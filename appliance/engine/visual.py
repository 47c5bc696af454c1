"""Vision outputs for keyframes, through the frame-hash cache.

A keyframe whose perceptual hash is within a few bits of one seen before (in this clip or an
earlier one, for the same model file) reuses that frame's embedding and logits; only the rest
run the vision model. The counts of both are reported in the timeline.
"""
from __future__ import annotations

import numpy as np

from appliance.engine.analysis import Keyframe
from appliance.engine.cache import Cache
from appliance.inference import VisionEncoder


class VisualLookup:
    def __init__(self, encoder: VisionEncoder, cache: Cache | None):
        self.encoder = encoder
        self.cache = cache
        self.model_key = f"{encoder.entry.sha256[:16]}:{encoder.variant}"
        self.run = 0
        self.skipped = 0
        self._seen: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def outputs(self, keyframe: Keyframe) -> tuple[np.ndarray, np.ndarray]:
        """(embedding (1280,), logits (1000,)) of one keyframe."""
        if keyframe.index in self._seen:
            self.skipped += 1
            return self._seen[keyframe.index]
        found = self.cache.find_frame(self.model_key, keyframe.hash) if self.cache else None
        if found is not None:
            self.skipped += 1
            result = found["embedding"], found["logits"]
        else:
            embeddings, logits = self.encoder.embed([keyframe.bgr])
            self.run += 1
            result = embeddings[0], logits[0]
            if self.cache:
                self.cache.put_frame(self.model_key, keyframe.hash, *result)
        self._seen[keyframe.index] = result
        return result
