"""Text encoder: a description string in, a 384-d unit vector out.

The tokenizer is inside the ONNX graph (onnxruntime-extensions), so no Python tokenizer or
vocabulary file is needed on the board. The graph's BertTokenizer lowercases and strips accents
only for Latin script; Hugging Face's uncased BERT does it for every script (Greek, Hangul
syllables, Devanagari marks, kana with dakuten). `normalise` applies HF's rule — lowercase,
NFD, drop combining marks — before the graph, after which the ids equal HF's on every tested
string (tests compare with HF's own `tokenizers` library).
"""
from __future__ import annotations

import unicodedata

from pathlib import Path

import numpy as np

from appliance.errors import UsageError
from appliance.inference.manifest import ModelEntry, verify
from appliance.inference.sessions import create_session


def normalise(text: str) -> str:
    """HF BasicTokenizer's lowercasing and accent stripping (what `do_lower_case` implies)."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


class TextEncoder:
    """One loaded text-encoder session; `embed` is safe to call from several threads."""

    def __init__(self, entry: ModelEntry, threads: int, path=None):
        if path is None:
            verify(entry)
        self.entry = entry
        self.variant = "int8" if path is None else Path(path).name  # cache keys never mix variants
        self.session = create_session(path or entry.path, threads, custom_ops=True)
        self.dim = int(entry.info.get("dim", 384))

    def _run(self, text: str, outputs: list[str]):
        if not isinstance(text, str):
            raise UsageError(f"text must be a string, not {type(text).__name__}")
        if not text.strip():
            raise UsageError("text is empty: give a description such as 'footsteps on gravel'")
        return self.session.run(outputs, {"text": np.array([normalise(text)], dtype=object)})

    def embed(self, text: str) -> np.ndarray:
        """The L2-normalised sentence embedding, float32 of shape (dim,)."""
        (embedding,) = self._run(text, ["embedding"])
        return np.asarray(embedding, dtype=np.float32).reshape(self.dim)

    def token_ids(self, text: str) -> list[int]:
        """The word-piece ids the graph's tokenizer produced (for checks and debugging)."""
        (ids,) = self._run(text, ["input_ids"])
        return [int(i) for i in np.asarray(ids).reshape(-1)]
