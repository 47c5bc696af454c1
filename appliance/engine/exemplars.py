"""User-taught exemplars: the picture of a moment whose sound the user taught (`foley library
teach`). A later keyframe that looks like it (cosine of vision embeddings) votes for that
sound's category, and that very recording is preferred within the category.
"""
from __future__ import annotations

import numpy as np

from appliance.library import Catalog

EXEMPLAR_FIELD = "exemplar"
MIN_COSINE = 0.80  # below this a keyframe does not count as "the same scene"


def exemplar_record(model_key: str, embedding: np.ndarray) -> dict:
    """The extra index fields of a taught template (the vision model it belongs to + vector)."""
    return {EXEMPLAR_FIELD: {"model": model_key, "vector": [round(float(v), 5) for v in embedding]}}


class Exemplars:
    """The exemplars of one catalog for one vision model version, as a normalised matrix."""

    def __init__(self, catalog: Catalog, model_key: str):
        records = [r for r in catalog.user_index.get("templates", [])
                   if (r.get(EXEMPLAR_FIELD) or {}).get("model") == model_key and r["id"] in catalog.by_id]
        self.template_ids = [r["id"] for r in records]
        self.categories = [r["category"] for r in records]
        self.matrix = np.zeros((0, 0), np.float32)
        if records:
            vectors = np.array([r[EXEMPLAR_FIELD]["vector"] for r in records], dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            self.matrix = vectors / np.where(norms == 0, 1, norms)

    def __bool__(self) -> bool:
        return bool(self.template_ids)

    def match(self, embedding: np.ndarray) -> tuple[dict[str, float], list[str]]:
        """(best cosine per category, ids of templates whose exemplar matches, best first)."""
        if not self:
            return {}, []
        cosines = self.matrix @ (embedding / (np.linalg.norm(embedding) or 1.0))
        per_category: dict[str, float] = {}
        for category, cosine in zip(self.categories, cosines):
            per_category[category] = max(per_category.get(category, -1.0), float(cosine))
        matching = [self.template_ids[i] for i in np.argsort(-cosines) if cosines[i] >= MIN_COSINE]
        return per_category, matching
