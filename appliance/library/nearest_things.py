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
seconds on a Pi, once), so the matrix is kept in a cache folder, keyed by the table and by the
encoder's output for a fixed probe sentence (a changed model or variant gives a new key).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np

from appliance.atomic import atomic_open
from appliance.library.materials import known

NEIGHBOURS = 3
"""How many known things vote (1, 3 and 5 were within one phrasing of each other)."""
PROBE = "a probe sentence that identifies the text encoder"


class NearestThings:
    """Known things' embeddings, and the vote of the nearest ones for a new thing's material."""

    def __init__(self, embed: Callable[[str], np.ndarray], cache_dir: Path | None = None):
        entries = known()
        self.materials = [material for _, material in entries]
        digest = hashlib.sha256(repr(entries).encode())
        digest.update(np.asarray(embed(PROBE), dtype=np.float32).tobytes())
        path = Path(cache_dir) / f"nearest-things-{digest.hexdigest()[:16]}.npy" if cache_dir else None
        if path is not None and path.is_file():
            self.vectors = np.load(path)
        else:
            self.vectors = np.stack([embed(thing) for thing, _ in entries]).astype(np.float32)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_open(path, binary=True) as out:
                    np.save(out, self.vectors)

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
