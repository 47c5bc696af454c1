"""Category probe: a frame's vision embedding in, sound-category probabilities out.

A logistic regression on the L2-normalised EfficientNet-Lite0 embedding, trained on real footage
whose recorded sound was labelled with a library category (appliance/evaluation/category_training.py,
run by scripts/train_category_probe.py; the figures and counts are in models/manifest.json). It
reads materials and scenes straight from the picture where the zero-shot route (ImageNet label →
text → category) has to guess through label names. Exported with skl2onnx and run by ONNX Runtime
like the encoders; the normalisation is done here, so the graph stays the plain linear model.

A probe is built from ONNX bytes and its classes, so cross-validation can run one fitted on the
training folds only; `from_entry` loads the shipped one. `key` (the bytes' sha256) tells them
apart in the engine's cache keys.
"""
from __future__ import annotations

import hashlib

import numpy as np

from appliance.inference.manifest import ModelEntry, verify
from appliance.inference.sessions import create_session

PROBABILITY_FLOOR = 1e-6
"""Log-probabilities are taken of at least this: a category the probe never saw stays comparable."""


def normalised(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (the probe's input, in training and at run time)."""
    embeddings = np.asarray(embeddings, np.float32).reshape(-1, np.shape(embeddings)[-1])
    return embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-9)


class CategoryProbe:
    def __init__(self, model: bytes, classes: list[str], threads: int = 1):
        self.key = hashlib.sha256(model).hexdigest()
        """sha256 of the ONNX bytes: equals the manifest's sha256 for the shipped probe."""
        self.classes = list(classes)
        self.session = create_session(model, threads)

    @classmethod
    def from_entry(cls, entry: ModelEntry, threads: int) -> "CategoryProbe":
        """The probe a manifest entry names, verified against its checksum."""
        verify(entry)
        return cls(entry.path.read_bytes(), entry.info["classes"], threads)

    def log_probabilities(self, embeddings: np.ndarray) -> dict[str, float]:
        """One embedding (dim,) → log-probability per trained category; several (n, dim) → the
        mean over them (a clip's frames, in evaluation)."""
        (probabilities,) = self.session.run(["probabilities"], {"embedding": normalised(embeddings)})
        logp = np.log(np.clip(probabilities, PROBABILITY_FLOOR, 1.0)).mean(axis=0)
        return dict(zip(self.classes, logp.astype(float)))
