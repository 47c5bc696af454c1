"""The material of a thing the table does not hold: the materials of its nearest known things.

The text encoder is poor at naming a material outright: compared with material words ("metal",
"wood" …) it gives the table's own objects their material only 40 % of the time (13-22 % for
metal; templated anchors such as "a thing made of metal" do no better). It is much better at
saying which known object a new one resembles: the three nearest of the table's things
(library/materials.py), votes weighted by cosine, give a held-out table entry its material 64 %
of the time (55 % with five neighbours none of which shares a word with it). So an unknown
"harmonica" takes the material of the metal things it sits beside. On the test phrasings with
every object they name hidden from the table, this fallback gave 0.89-0.90 top-1 where the
nearest material word gave 0.84, when it was chosen (docs/library.md).

Embedding the table takes one encoder run per entry (about 1,300: seconds on a PC, tens of
seconds on a Pi), so the matrix ships in models/ (scripts/build_nearest_things.py), named by the
table and by the encoder's output for a fixed probe sentence; a board whose table or model
differs embeds it once into its cache folder.
"""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from appliance.atomic import save_table
from appliance.library.materials import known
from appliance.paths import models_dir

NEIGHBOURS = 3
"""How many known things vote (1, 3 and 5 were within one phrasing of each other)."""
PROBE = "a probe sentence that identifies the text encoder"


def matrix_name(embed: Callable[[str], np.ndarray]) -> str:
    """The file name of the table's matrix for this table and this encoder (its output for a
    fixed probe sentence identifies it): another table or model never reads a stale matrix."""
    digest = hashlib.sha256(repr(known()).encode())
    digest.update(np.asarray(embed(PROBE), dtype=np.float32).tobytes())
    return f"nearest-things-{digest.hexdigest()[:16]}.npy"


def embed_known(embed: Callable[[str], np.ndarray]) -> np.ndarray:
    """Every known thing's embedding, in `known()` order, as float16 (1 MB; cosines to 1e-3)."""
    return np.stack([embed(thing) for thing, _ in known()]).astype(np.float16)


class NearestThings:
    """Known things' embeddings, and the vote of the nearest ones for a new thing's material."""

    def __init__(self, embed: Callable[[str], np.ndarray], cache_dir: Path | None = None):
        """Nothing is embedded until the first thing the table does not hold is asked about:
        most descriptions name a material or a known thing, and a process that never meets an
        unknown one (a test, a short-lived CLI run) never pays the ~1,300 encoder runs."""
        self.embed, self.cache_dir = embed, cache_dir
        self.materials = [material for _, material in known()]
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def vectors(self) -> np.ndarray:
        with self._lock:
            if self._vectors is None:
                self._vectors = self._load_or_embed()
            return self._vectors

    def _load_or_embed(self) -> np.ndarray:
        """The bundled matrix (models/, built by scripts/build_nearest_things.py), else this
        board's cached one, else embedded now and cached (kept in memory only when the cache
        folder cannot take it)."""
        name = matrix_name(self.embed)
        for folder in (models_dir(), self.cache_dir):
            if folder is not None and (Path(folder) / name).is_file():
                return np.load(Path(folder) / name).astype(np.float32)
        vectors = embed_known(self.embed)
        if self.cache_dir is not None:
            save_table(Path(self.cache_dir) / name, vectors)
        return vectors.astype(np.float32)

    def material_of(self, vector: np.ndarray) -> tuple[str, float]:
        """(material, clarity 0-1): the nearest things' material by cosine-weighted vote; clarity
        is the winner's lead over the runner-up as a share of the vote, doubled and capped."""
        sims = self.vectors @ vector
        votes: dict[str, float] = {}
        for i in np.argsort(-sims)[:NEIGHBOURS]:
            votes[self.materials[i]] = votes.get(self.materials[i], 0.0) + max(float(sims[i]), 0.0)
        ranked = sorted(votes.values(), reverse=True) + [0.0]
        total = sum(votes.values()) or 1.0
        return max(votes, key=votes.get), float(np.clip(2 * (ranked[0] - ranked[1]) / total, 0.0, 1.0))
