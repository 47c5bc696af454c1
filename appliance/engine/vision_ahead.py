"""The vision model run on keyframes while the clip is still being decoded and analysed.

Offline scoring used to run in series: decode and motion over the whole clip, then the vision
model on the actions' keyframes (20 inferences, ~0.4 s of a 10 s clip here). The keyframes are
known a few frames after their action, long before the pass ends, and ONNX Runtime releases the
GIL, so a thread of its own runs them as they come: on a multi-core board the inferences hide
behind the decode and the motion analysis (which is serial) instead of adding to them.

It only computes ahead; it decides nothing. `VisualLookup` still groups the clip's keyframes and
picks each group's representative exactly as without it, and asks here for the representative's
outputs by its exact pixels (Keyframe.digest): found, it takes them; not offered (a group this
thread skipped as a near-duplicate of a candidate that did not become an event), it runs the
model itself. The model sees the same pixels in a batch of one either way, so results are
identical with or without it (tests/test_vision_ahead.py). Candidates that the motion analysis
later drops cost an inference for nothing; near-duplicates of a keyframe already run are
skipped here, and `keep_only` drops the queued ones no decision will ask for.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from appliance.engine.analysis import Keyframe
from appliance.engine.framehash import hamming
from appliance.engine.visual import NEAR_DISTANCE, Outputs, model_key, stored_precision
from appliance.inference import VisionEncoder

log = logging.getLogger("foley.engine")


@dataclass(frozen=True)
class Ahead:
    """A keyframe's outputs computed here, and whether the model ran for them (or the cache held them)."""

    outputs: Outputs
    ran: bool


class VisionAhead:
    """One clip's vision inferences, computed in a background thread (make one per clip, `close` it)."""

    def __init__(self, encoder: VisionEncoder, cache_folder: Path | None):
        """cache_folder: the persistent frame cache, consulted (with the thread's own connection)
        before running the model, so a warm re-score runs nothing ahead either."""
        self.encoder = encoder
        self.cache_folder = cache_folder
        self._model_key = model_key(encoder)
        self.run = 0
        """Inferences this thread ran (some may serve no decision: candidates later dropped)."""
        self._pending: deque[Keyframe] = deque()
        self._offered: set[int] = set()
        self._busy: int | None = None
        self._done: dict[str, Ahead] = {}
        self._hashes: list[int] = []
        self._wanted: set[int] | None = None
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="foley-vision-ahead", daemon=True)
        self._thread.start()

    def offer(self, keyframe: Keyframe) -> None:
        """A keyframe some decision may ask for (an action's, or a scene frame)."""
        with self._changed:
            if keyframe.index in self._offered or self._closed:
                return
            self._offered.add(keyframe.index)
            self._pending.append(keyframe)
            self._changed.notify_all()

    def keep_only(self, indices: set[int]) -> None:
        """The analysis is complete: keyframes not in `indices` will never be asked for."""
        with self._changed:
            self._wanted = set(indices)
            self._pending = deque(k for k in self._pending if k.index in self._wanted)
            self._changed.notify_all()

    def outputs(self, keyframe: Keyframe) -> Ahead | None:
        """The keyframe's outputs once computed here (waits while it is queued or running);
        None when this thread will not compute them."""
        with self._changed:
            while True:
                found = self._done.get(keyframe.digest)
                if found is not None:
                    return found
                queued = any(k.index == keyframe.index for k in self._pending) or self._busy == keyframe.index
                if not queued or self._closed:
                    return None
                self._changed.wait()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._pending.clear()
            self._changed.notify_all()
        self._thread.join()

    def _next(self) -> Keyframe | None:
        with self._changed:
            while not self._pending and not self._closed:
                self._changed.wait()
            if self._closed:
                return None
            keyframe = self._pending.popleft()
            self._busy = keyframe.index
            return keyframe

    def _work(self) -> None:
        from appliance.engine.cache import Cache

        cache = None
        try:
            if self.cache_folder is not None:
                try:
                    cache = Cache(self.cache_folder)
                except Exception:  # a broken cache is the worker's to report and rebuild; run without it
                    log.exception("vision ahead runs without the frame cache")
            while (keyframe := self._next()) is not None:
                result = None
                try:
                    result = self._compute(keyframe, cache)
                except Exception:  # only time is lost: the lookup runs this keyframe itself
                    log.exception("vision ahead failed for keyframe %d", keyframe.index)
                with self._changed:
                    if result is not None:
                        self._done[keyframe.digest] = result
                    self._busy = None
                    self._changed.notify_all()
        finally:
            with self._changed:  # whatever ended this thread, nobody waits on it any more
                self._closed = True
                self._changed.notify_all()
            if cache is not None:
                cache.close()

    def _compute(self, keyframe: Keyframe, cache) -> Ahead | None:
        value = keyframe.hash
        if any(hamming(value, h) <= NEAR_DISTANCE for h in self._hashes):
            return None  # likely in an earlier keyframe's group: its representative is run instead
        self._hashes.append(value)
        found = cache.find_frame(self._model_key, keyframe.digest) if cache is not None else None
        if found is not None:
            return Ahead((found["embedding"], found["logits"]), ran=False)
        embeddings, logits = self.encoder.embed([keyframe.bgr])
        self.run += 1
        outputs = stored_precision(embeddings[0]), stored_precision(logits[0])
        if cache is not None:
            cache.put_frame(self._model_key, keyframe.digest, *outputs)
        return Ahead(outputs, ran=True)
