"""Text encoder: a description string in, a 384-d unit vector out.

The tokenizer is inside the ONNX graph (onnxruntime-extensions), so no Python tokenizer or
vocabulary file is needed on the board, and the ids match Hugging Face's by construction
(checked in tests against the `tokenizers` library).
"""
from __future__ import annotations

import numpy as np

from appliance.errors import UsageError
from appliance.inference.manifest import ModelEntry, verify
from appliance.inference.sessions import create_session


class TextEncoder:
    """One loaded text-encoder session; `embed` is safe to call from several threads."""

    def __init__(self, entry: ModelEntry, threads: int, path=None):
        if path is None:
            verify(entry)
        self.entry = entry
        self.session = create_session(path or entry.path, threads, custom_ops=True)
        self.dim = int(entry.info.get("dim", 384))

    def _run(self, text: str, outputs: list[str]):
        if not isinstance(text, str):
            raise UsageError(f"text must be a string, not {type(text).__name__}")
        if not text.strip():
            raise UsageError("text is empty: give a description such as 'footsteps on gravel'")
        return self.session.run(outputs, {"text": np.array([text], dtype=object)})

    def embed(self, text: str) -> np.ndarray:
        """The L2-normalised sentence embedding, float32 of shape (dim,)."""
        (embedding,) = self._run(text, ["embedding"])
        return np.asarray(embedding, dtype=np.float32).reshape(self.dim)

    def token_ids(self, text: str) -> list[int]:
        """The word-piece ids the graph's tokenizer produced (for checks and debugging)."""
        (ids,) = self._run(text, ["input_ids"])
        return [int(i) for i in np.asarray(ids).reshape(-1)]
