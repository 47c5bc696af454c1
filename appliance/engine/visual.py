"""Vision outputs for a clip's keyframes: near-duplicates share one inference, deterministically.

Within a clip, a keyframe whose perceptual hash is within NEAR_DISTANCE bits of an earlier
keyframe's group (the closest; the earliest on a tie) takes that group's vision outputs: the
first keyframe of each group, its representative, is the only one the model sees. Which group a
keyframe joins depends only on the clip (its keyframes, in the order they are asked for), never
on the cache, so a clip gets the same outputs with the cache off, cold or warm.

The persistent cache (appliance.engine.cache) only skips work whose result is identical: it is
keyed by the representative's exact pixels (Keyframe.digest) and the model file, and the outputs
are rounded to float16 whether fresh or stored, which is what the cache keeps. The counts of
inferences run and skipped are reported in the timeline.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from appliance.engine.analysis import Keyframe
from appliance.engine.cache import Cache
from appliance.engine.framehash import hamming
from appliance.engine.versions import INFERENCE_VERSION
from appliance.inference import VisionEncoder

if TYPE_CHECKING:
    from appliance.engine.vision_ahead import VisionAhead

Outputs = tuple[np.ndarray, np.ndarray]
"""(embedding (1280,), logits (1000,)) of one keyframe."""
NEAR_DISTANCE = 6
"""Largest Hamming distance (of 64 bits) at which two keyframes of a clip count as near-duplicates."""


def stored_precision(values: np.ndarray) -> np.ndarray:
    """What the cache keeps (float16), back as float32: fresh and stored outputs are equal."""
    return values.astype(np.float16).astype(np.float32)


def model_key(encoder: VisionEncoder) -> str:
    """The vision model's version and the code and runtime that ran it, as the frame cache keys
    its outputs."""
    return f"{encoder.entry.sha256[:16]}:{encoder.variant}:{INFERENCE_VERSION}"


class VisualLookup:
    """One clip's vision outputs (make one per clip)."""

    def __init__(self, encoder: VisionEncoder, cache: Cache | None, ahead: VisionAhead | None = None):
        """ahead: the same clip's inferences run during its analysis (offline scoring), asked first."""
        self.encoder = encoder
        self.cache = cache
        self.ahead = ahead
        self.model_key = model_key(encoder)
        self.run = 0
        """Inferences run."""
        self.skipped = 0
        """Keyframes that got their outputs without an inference (a near-duplicate earlier in the
        clip, or the representative's exact pixels in the persistent cache)."""
        self._groups: list[tuple[int, Keyframe]] = []
        """(hash, representative) of each group, in the order the groups were made."""
        self._group_of: dict[int, Keyframe] = {}
        self._outputs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        """Outputs by representative's keyframe index."""

    def representative(self, keyframe: Keyframe) -> Keyframe:
        """The first keyframe of this one's near-duplicate group (itself when it starts one)."""
        if keyframe.index in self._group_of:
            return self._group_of[keyframe.index]
        value = keyframe.hash
        best = min(((hamming(value, h), order) for order, (h, _) in enumerate(self._groups)), default=None)
        if best is not None and best[0] <= NEAR_DISTANCE:
            found = self._groups[best[1]][1]
        else:
            found = keyframe
            self._groups.append((value, keyframe))
        self._group_of[keyframe.index] = found
        return found

    def computed(self, keyframe: Keyframe) -> Outputs | None:
        """The outputs this lookup computed or found for this very keyframe (as its group's
        representative), without running anything."""
        return self._outputs.get(keyframe.index)

    def outputs(self, keyframe: Keyframe) -> Outputs:
        """(embedding (1280,), logits (1000,)) of one keyframe: its group representative's."""
        representative = self.representative(keyframe)
        if representative.index in self._outputs:
            self.skipped += 1
            return self._outputs[representative.index]
        ahead = self.ahead.outputs(representative) if self.ahead else None
        found = self.cache.find_frame(self.model_key, representative.digest) if self.cache and ahead is None else None
        if ahead is not None:
            self.run += ahead.ran
            self.skipped += not ahead.ran
            result = ahead.outputs  # in the cache already, when there is one
        elif found is not None:
            self.skipped += 1
            result = found["embedding"], found["logits"]
        else:
            embeddings, logits = self.encoder.embed([representative.bgr])
            self.run += 1
            result = stored_precision(embeddings[0]), stored_precision(logits[0])
            if self.cache:
                self.cache.put_frame(self.model_key, representative.digest, *result)
        self._outputs[representative.index] = result
        return result
