"""Category probe: a frame's vision embedding in, sound-category probabilities out.

A logistic regression on the L2-normalised EfficientNet-Lite0 embedding, trained on real footage
whose recorded sound was labelled with a library category (scripts/train_category_probe.py; the
figures and counts are in models/manifest.json). It reads materials and scenes straight from the
picture where the zero-shot route (ImageNet label → text → category) has to guess through label
names. Exported with skl2onnx and run by ONNX Runtime like the encoders; the normalisation is done
here, so the graph stays the plain linear model.
"""
from __future__ import annotations

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
    def __init__(self, entry: ModelEntry, threads: int):
        verify(entry)
        self.entry = entry
        self.classes = list(entry.info["classes"])
        self.session = create_session(entry.path, threads)

    def log_probabilities(self, embedding: np.ndarray) -> dict[str, float]:
        """One embedding (dim,) → log-probability per trained category."""
        (probabilities,) = self.session.run(["probabilities"], {"embedding": normalised(embedding)})
        logp = np.log(np.clip(probabilities[0], PROBABILITY_FLOOR, 1.0))
        return dict(zip(self.classes, logp.astype(float)))
