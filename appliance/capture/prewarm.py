"""The vision model run on each action's keyframe while the recording is still going.

The frame cache is shared by everything on the board (SQLite in the state directory):
embeddings the daemon stores here during a recording are found by the scoring worker a moment
later (same keyframe pixels; near-duplicates grouped per recording as the worker groups them),
so a new scene's first recording does not pay for its vision inferences after the stop (0.38 s
for 19 keyframes of a 720p clip here, several times that on a Pi). It has its own thread and a
small queue: when the board is too busy to keep up, keyframes are skipped and the worker simply
runs those itself. What the pre-warm stores only saves time: a result is the same without it.
"""
from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

from appliance.engine.analysis import Keyframe

log = logging.getLogger("foley.capture")
QUEUE_SIZE = 16


class VisionPrewarm:
    def __init__(self, cache_folder: Path):
        self.cache_folder = cache_folder
        self.offered = self.skipped = 0
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        threading.Thread(target=self._work, name="foley-prewarm", daemon=True).start()

    def offer(self, keyframe: Keyframe) -> None:
        self.offered += 1
        try:
            self._queue.put_nowait(keyframe)
        except queue.Full:
            self.skipped += 1

    def _work(self) -> None:
        from appliance.engine.cache import Cache
        from appliance.engine.visual import VisualLookup
        from appliance.inference import vision_encoder

        encoder, cache = vision_encoder(), Cache(self.cache_folder)  # loaded here: startup stays quick
        lookup, last_index = VisualLookup(encoder, cache), -1
        while True:
            keyframe = self._queue.get()
            if keyframe.index <= last_index:  # a new recording (its frames count from 0 again)
                lookup = VisualLookup(encoder, cache)
            last_index = keyframe.index
            try:
                lookup.outputs(keyframe)
            except Exception:  # a cache or model problem must not stop recordings; the worker retries
                log.exception("vision pre-warm failed for a keyframe")
