"""Which sound each live action gets: one decision per scene, a varied recording per action.

A scored clip decides per keyframe; live, the vision model cannot run between an action and its
sound (tens of milliseconds on a Pi would double the latency), so the scene is decided ahead:
`SceneWatcher` reads the newest frame every few seconds, or at once when the picture changes
(its 64-bit frame hash moves by SCENE_CHANGE_BITS), through the same
`VisualLookup` (near-duplicate groups, the shared frame-hash cache) and the same rule as a
scored clip (`Engine.decide`: description + vision + probe + exemplars). The decided category's
recordings are decoded then, so an action only draws one from memory: per action a recording
and its variation from the action's own seeded stream, never the same one twice in a row, and
its placement (gain from strength, pan from position) from `placement_for`, as offline.
A session waits for the first picture to be read before it analyses (a fraction of a second, once).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.engine.analysis import Keyframe
from appliance.engine.cache import Cache
from appliance.engine.choose import Evidence, TemplatePicker, decide_category
from appliance.engine.exemplars import Exemplars
from appliance.engine.framehash import hamming
from appliance.engine.pipeline import Engine
from appliance.engine.scene import placement_for
from appliance.engine.visual import VisualLookup
from appliance.library import Catalog, Template
from appliance.live.mixer import from_attack
from appliance.mixing import Placement
from appliance.motion import IMPACT, ActionEvent

log = logging.getLogger("foley.live")
WATCH_EVERY_S = 0.25
"""How often the newest frame's hash is compared with the decided scene's."""
SCENE_CHANGE_BITS = 26
"""Hash bits (of 64) by which the picture must differ from the decided scene's to count as a new
scene: an object moving across the same scene changes up to ~24 (a stick swinging through a
640×360 frame), a new scene about half of them."""
MIN_READ_GAP_S = 1.0
"""Never read the scene more often than this (the vision model shares the CPU with the motion)."""
FRESH_LOOKUP_AFTER = 500
"""Keyframes after which a long session starts a new VisualLookup (its groups grow with the scenes)."""


@dataclass(frozen=True)
class Choice:
    """An action's sound: the recording, its live placement, and the decision behind it."""

    template: Template
    placement: Placement
    decision: dict


class LiveChooser:
    """Decisions (from the scene thread) and per-action draws (from the analysis thread)."""

    def __init__(self, engine: Engine, catalog: Catalog, description: str | None, seed: int,
                 cache_folder: Path | None):
        """`cache_folder`: the frame cache's folder (the cache is opened in the scene thread, as
        each thread opens its own); None: no frame cache."""
        self.engine, self.catalog = engine, catalog
        self.described = engine.describe(description, catalog)
        self.picker = TemplatePicker(catalog, self.described.template_scores, seed)
        self.cache_folder = cache_folder
        self.cache: Cache | None = None
        self.visual = VisualLookup(engine.vision, None)
        self.exemplars = Exemplars(catalog, self.visual.model_key)
        self.audio: dict[str, np.ndarray] = {}
        """Decoded recordings of every category decided so far (the mixer's templates)."""
        self.decisions = 0
        self.decision = self._prepared(decide_category(catalog, IMPACT, Evidence(self.described.category_scores)))
        self.decision["why"] = "the description" if self.described.text else "no picture read yet"

    def _prepared(self, decision: dict) -> dict:
        """The decision, with its category's recordings decoded into memory."""
        for template in self.catalog.in_category(decision["category"]):
            if template.id not in self.audio and self.catalog.playable(template.id):
                self._audio(template.id)
        return decision

    def _audio(self, template_id: str) -> np.ndarray:
        """A recording's samples, decoded once (ahead, by `_prepared`, for the decided category;
        a taught recording preferred by an exemplar, outside the category's list, on first use)."""
        audio = self.audio.get(template_id)
        if audio is None:
            audio = self.audio[template_id] = self.catalog.audio(template_id)
        return audio

    def read_scene(self, keyframe: Keyframe) -> dict:
        """Decide the scene from this frame (vision through the lookup and cache); becomes the
        decision for the actions that follow."""
        if self.cache is None and self.cache_folder is not None:
            self.cache = self.visual.cache = Cache(self.cache_folder)
        if self.visual.run + self.visual.skipped > FRESH_LOOKUP_AFTER:
            self.visual = VisualLookup(self.engine.vision, self.cache)
        decision = self.engine.decide(IMPACT, self.visual.outputs(keyframe), self.catalog, self.described,
                                      self.exemplars)
        decision["why"] = "the picture" + (" and the description" if self.described.text else "")
        self.decision = self._prepared(decision)
        self.decisions += 1
        return decision

    def choose(self, number: int, event: ActionEvent) -> Choice:
        """The sound of the `number`-th action of the session (from the analysis thread only)."""
        decision = self.decision
        self.picker.draw_for(0, number)
        template = self.picker.pick(decision["category"], decision.get("preferred", []))
        placement = placement_for(event, template, self._audio(template.id), self.picker)
        return Choice(template, from_attack(placement), decision)


class SceneWatcher:
    """A thread deciding the scene: every `refresh_s`, and when the picture changes."""

    def __init__(self, chooser: LiveChooser, refresh_s: float):
        self.chooser, self.refresh_s = chooser, refresh_s
        self._latest: Keyframe | None = None
        self._stop = threading.Event()
        self.first_read = threading.Event()
        """Set once the first frame offered has been read (or its reading failed)."""
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="foley-live-scene", daemon=True)
        self._thread.start()

    def offer(self, keyframe: Keyframe) -> None:
        """The newest frame (from the analysis thread; only the newest is kept)."""
        self._latest = keyframe

    def _run(self) -> None:
        decided_hash, decided_at = None, -np.inf
        while not self._stop.wait(0.0 if self._latest is not None and not self.first_read.is_set() else WATCH_EVERY_S):
            keyframe = self._latest
            if keyframe is None:
                continue
            since = time.monotonic() - decided_at
            changed = decided_hash is None or hamming(keyframe.hash, decided_hash) > SCENE_CHANGE_BITS
            if since < MIN_READ_GAP_S or (not changed and since < self.refresh_s):
                continue
            try:
                decision = self.chooser.read_scene(keyframe)
            except Exception:  # a model or cache problem must not stop the sounds: keep the last decision
                if not self.failures:
                    log.exception("live: reading the scene failed (the last decision stays)")
                self.failures += 1
                decided_at = time.monotonic()
                self.first_read.set()
                continue
            self.first_read.set()
            decided_hash, decided_at = keyframe.hash, time.monotonic()
            log.info("live: scene %s → %s", "changed" if changed else "re-read", decision["category"])

    def close(self) -> None:
        self._stop.set()
        self._thread.join()  # an inference in progress finishes (ONNX Runtime must not be torn down under it)
