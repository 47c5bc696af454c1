"""Zero-shot sound categories from what the vision model sees.

The vision encoder names ImageNet classes ("cleaver", "chain mail", "drumstick", "lakeside");
the library speaks in sound categories ("chop", "impact_metal", "ambience_water"). The bridge is
the text encoder: every ImageNet label is embedded once and scored against each category's
phrases with the library's own search, giving a label → category affinity table. A frame's
category scores are then its label probabilities weighted by that table. The table depends only
on the text model, the library's categories and the code (engine/versions.py), so it is computed
once per version and kept in the state directory (a few seconds on first use; used from memory when that folder is read-only or full).

The same bridge tells a picture's setting: each label is scored against the description
reader's setting sentences (indoors, outdoors), so that a scene read without words still has a
setting for its bed (engine/scene.py ambience_category).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from appliance.atomic import save_table
from appliance.engine.choose import standardised
from appliance.engine.versions import ENGINE_VERSION
from appliance.inference import embed_text
from appliance.inference.probe import PROBABILITY_FLOOR
from appliance.library import Searcher
from appliance.library.description import SETTINGS

TOP_LABELS = 5
AFFINITY_PREFIX, SETTING_PREFIX = "imagenet-affinity-", "imagenet-setting-"


def _remove_other_tables(folder: Path, keep: set[str]) -> None:
    """Tables of an earlier engine, model or category set: after an upgrade nothing reads them
    again, and one pair (164 KB) per upgrade would pile up in the cache for the board's life.
    Called only once the new pair is stored, so a folder that cannot take it keeps the old."""
    for prefix in (AFFINITY_PREFIX, SETTING_PREFIX):
        for stale in folder.glob(f"{prefix}*.npy"):
            if stale.name not in keep:
                try:
                    stale.unlink(missing_ok=True)
                except OSError:  # another user's file: it only costs its space, as before
                    pass


def _table_key(searcher: Searcher, labels: list[str], text_model: str) -> str:
    """The tables' inputs: the text model, the labels, the categories and their phrases, and the
    code that words and embeds them (the prompt, the setting sentences, the tokenizer's code)."""
    digest = hashlib.sha256(text_model.encode())
    digest.update(ENGINE_VERSION.encode())
    digest.update("\n".join(labels).encode())
    digest.update("\n".join(sorted(searcher.catalog.categories)).encode())
    digest.update(searcher.phrase_vectors.tobytes())
    return digest.hexdigest()[:16]


class PictureScores(dict):
    """Category → score of the scene frames, plus the setting they show (a dict wherever scores
    are expected, as the description's DescriptionScores is)."""

    def __init__(self, scores: dict[str, float], setting: str):
        super().__init__(scores)
        self.setting = setting


class ZeroShot:
    """label probabilities → category scores, for one catalog's categories; and → setting."""

    def __init__(self, searcher: Searcher, labels: list[str], text_model: str, folder: Path):
        self.categories = sorted(searcher.catalog.categories)
        self.settings = sorted(SETTINGS)
        key = _table_key(searcher, labels, text_model)
        path = Path(folder) / f"{AFFINITY_PREFIX}{key}.npy"
        setting_path = Path(folder) / f"{SETTING_PREFIX}{key}.npy"
        if path.is_file() and setting_path.is_file():
            self.affinity, self.setting_affinity = np.load(path), np.load(setting_path)
        else:
            self.affinity, self.setting_affinity = self._compute(searcher, labels)
            if save_table(path, self.affinity) and save_table(setting_path, self.setting_affinity):
                _remove_other_tables(Path(folder), keep={path.name, setting_path.name})

    def _compute(self, searcher: Searcher, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
        anchors = np.stack([embed_text(SETTINGS[name]) for name in self.settings])
        rows, setting_rows = [], []
        for label in labels:
            vector = embed_text(f"a photo of {label.split(',')[0]}")
            scores = searcher.category_scores(vector)
            rows.append([scores[c] for c in self.categories])
            setting_rows.append(anchors @ vector)
        return np.asarray(rows, dtype=np.float32), np.asarray(setting_rows, dtype=np.float32)

    def _weighted(self, logits: np.ndarray, table: np.ndarray) -> np.ndarray:
        """A table's rows of one frame's top labels, averaged with their probabilities as weights."""
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        top = np.argsort(-probs)[:TOP_LABELS]
        return (probs[top] / probs[top].sum()) @ table[top]

    def scores(self, logits: np.ndarray) -> dict[str, float]:
        """Category affinity of one frame: mean over its top labels, weighted by probability."""
        return dict(zip(self.categories, self._weighted(logits, self.affinity).astype(float)))

    def setting(self, frames_logits: list[np.ndarray]) -> str:
        """The setting (indoors or outdoors) the frames' labels are nearer, over all the frames."""
        mean = np.mean([self._weighted(logits, self.setting_affinity) for logits in frames_logits], axis=0)
        return self.settings[int(np.argmax(mean))]


def with_probe(zero_shot: dict[str, float], probe: dict[str, float] | None) -> dict[str, float]:
    """The picture's category votes: the zero-shot scores and, when a probe is shipped, its
    log-probabilities (a category it was not trained on at the floor), each standardised over
    the categories and added. Cross-validated by recording on real footage, the two together
    fit more clips than either (scripts/eval_category.py; figures in models/manifest.json)."""
    if probe is None:
        return zero_shot
    names = sorted(zero_shot)
    floor = float(np.log(PROBABILITY_FLOOR))
    learned = standardised({n: probe.get(n, floor) for n in names}, names)
    return {n: value + learned[n] for n, value in standardised(zero_shot, names).items()}
