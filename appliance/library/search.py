"""Text query → ranked templates, with the on-device text encoder.

Each template is scored twice against the query embedding and the two are averaged:
  * template score: cosine to the template's own text (description, category description,
    tags), so "a squeaky footstep in fresh snow" can prefer one recording over another;
  * category score: the best cosine to any of its category's phrases (curation.yaml), so a
    user's wording that matches none of the tags literally ("someone walks across the lawn")
    still lands on the right kind of sound.
Embeddings of the bundled templates and phrases are computed at build time
(models/library/embeddings.npz) together with the sha256 of the text model that made them;
if the model has changed since, they are recomputed in memory at load (a second or two), so a
model upgrade can never silently mix two embedding spaces. User templates carry their
embedding in the user index (computed on add) under the same rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.library.catalog import Catalog, Category, Template

EMBEDDINGS_NAME = "embeddings.npz"
TEMPLATE_WEIGHT = 0.5  # share of the template score; the rest is the category score


def _embed(text: str) -> np.ndarray:
    from appliance.inference import embed_text  # loads the ONNX session on first use

    return np.asarray(embed_text(text), dtype=np.float32)


def text_model_sha256() -> str:
    from appliance.inference.manifest import load_manifest

    return load_manifest()["text-encoder"].sha256


def _category_texts(category: Category) -> list[str]:
    return [category.description, *category.phrases]


def embed_for_index(text: str) -> dict:
    """The embedding stored with a user template: float values plus the model that made them."""
    return {"text_model_sha256": text_model_sha256(), "vector": [round(float(v), 5) for v in _embed(text)]}


def write_bundled_embeddings(index: dict, folder: Path) -> dict:
    """Build step: embed every bundled template and category phrase; returns the index entry."""
    catalog = Catalog(index, folder, {"format": index["format"], "templates": []}, folder)
    templates = np.stack([_embed(t.search_text(catalog.categories[t.category])) for t in catalog.templates])
    names, texts = zip(*[(c.name, text) for c in catalog.categories.values() for text in _category_texts(c)])
    phrases = np.stack([_embed(text) for text in texts])
    np.savez(folder / EMBEDDINGS_NAME, templates=templates.astype(np.float16), phrases=phrases.astype(np.float16),
             phrase_category=np.array(names))
    return {"file": EMBEDDINGS_NAME, "text_model_sha256": text_model_sha256(), "templates": len(templates), "phrases": len(texts)}


@dataclass(frozen=True)
class Match:
    template: Template
    score: float  # 0..1-ish cosine mix; only comparable within one query


class Searcher:
    """Holds the embedding matrices of one catalog; build once, query many times."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        model = text_model_sha256()
        bundled_info = catalog.bundled_index.get("embeddings") or {}
        stored = None
        if bundled_info.get("text_model_sha256") == model:
            stored = np.load(catalog.bundled_folder / bundled_info["file"])
        bundled = [t for t in catalog.templates if t.origin == "bundled"]
        if stored is not None and len(stored["templates"]) == len(bundled):
            vectors = list(stored["templates"].astype(np.float32))
            self.phrase_vectors = stored["phrases"].astype(np.float32)
            self.phrase_category = [str(c) for c in stored["phrase_category"]]
        else:
            vectors = [self._template_vector(t) for t in bundled]
            pairs = [(c.name, text) for c in catalog.categories.values() for text in _category_texts(c)]
            self.phrase_category = [name for name, _ in pairs]
            self.phrase_vectors = np.stack([_embed(text) for _, text in pairs])
        user_records = {r["id"]: r for r in catalog.user_index["templates"]}
        for template in catalog.templates:
            if template.origin == "user":
                stored_user = user_records[template.id].get("embedding") or {}
                if stored_user.get("text_model_sha256") == model:
                    vectors.append(np.asarray(stored_user["vector"], dtype=np.float32))
                else:
                    vectors.append(self._template_vector(template))
        self.template_vectors = np.stack(vectors)
        self._category_rows = {name: [i for i, c in enumerate(self.phrase_category) if c == name] for name in catalog.categories}

    def _template_vector(self, template: Template) -> np.ndarray:
        return _embed(template.search_text(self.catalog.categories[template.category]))

    def category_scores(self, query_vector: np.ndarray) -> dict[str, float]:
        sims = self.phrase_vectors @ query_vector
        return {name: float(sims[rows].max()) for name, rows in self._category_rows.items()}

    def search(self, query: str, k: int = 10, category: str | None = None) -> list[Match]:
        """Top-k templates for a text query (UsageError on empty text, from the encoder)."""
        return self.search_vector(_embed(query), k, category)

    def search_vector(self, query_vector: np.ndarray, k: int = 10, category: str | None = None) -> list[Match]:
        """As search(), for a caller that already embedded the description (the engine)."""
        per_category = self.category_scores(query_vector)
        template_sims = self.template_vectors @ query_vector
        matches = [
            Match(t, TEMPLATE_WEIGHT * float(s) + (1 - TEMPLATE_WEIGHT) * per_category[t.category])
            for t, s in zip(self.catalog.templates, template_sims)
            if category is None or t.category == category
        ]
        matches.sort(key=lambda m: -m.score)
        return matches[:k]

    def rank_categories(self, query: str) -> list[tuple[str, float]]:
        """Categories by their best template's score: the categories `foley library search`
        leads with, which its phrasing test measures. The engine reads a description with
        library/description.py instead (the sounding action and material before the scene)."""
        best: dict[str, float] = {}
        for match in self.search_vector(_embed(query), k=len(self.catalog.templates)):
            best.setdefault(match.template.category, match.score)
        return sorted(best.items(), key=lambda kv: -kv[1])
