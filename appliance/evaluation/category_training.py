"""The category probe's training recipe, in one place for everything that fits one.

scripts/train_category_probe.py fits the shipped probe on every labelled clip; scripts/eval_category.py
and `foley eval --folds` fit one per fold on the training folds only. All of them pick frames,
embed them and fit the same way here, so the cross-validated figures describe the recipe that
ships. The recipe: FRAMES frames per clip evenly spread over it, at analysis size (as the engine's
keyframes are made), through the vision encoder; every frame a training row labelled with its
clip's category; a logistic regression (inverse regularisation C) on the L2-normalised
embeddings, exported with skl2onnx for ONNX Runtime (appliance/inference/probe.py). Fitting needs
the `train` extra (scikit-learn, skl2onnx), imported only then.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.engine.analysis import ANALYSIS_WIDTH
from appliance.evaluation.onnx_bytes import canonical_bytes
from appliance.inference.probe import CategoryProbe, normalised
from appliance.video import AnalysisFrame, VideoInfo, iter_frames, probe

FRAMES = 5
C = 1.0
RECIPE_VERSION = 2
"""Part of cached embeddings' keys (scripts/eval_category.py): bumped when the frames or their
embeddings change while the encoder file does not (2: exact INT8 sessions changed the encoder's
outputs, appliance/inference/sessions.py)."""


class FrameSample:
    """`count` frames evenly spread over a clip, picked while its frames stream past (so the motion
    analysis' own decode serves, and no clip is held in memory). They are spread over the frame
    count the header announces: a clip that ends early gives fewer, and at least its last frame; a
    header without a duration gives the first frame only."""

    def __init__(self, info: VideoInfo, count: int = FRAMES):
        expected = max(1, round((info.duration or 0.0) * info.fps))
        self.wanted = set(np.linspace(0, expected - 1, count + 2)[1:-1].round().astype(int).tolist())
        self.kept: list[np.ndarray] = []
        self.last: AnalysisFrame | None = None

    def offer(self, frame: AnalysisFrame) -> None:
        """Every decoded frame (decoded with colour), in order."""
        if frame.index in self.wanted:
            self.kept.append(frame.bgr)
        self.last = frame

    def frames(self) -> list[np.ndarray]:
        """The picked BGR frames."""
        return self.kept or ([self.last.bgr] if self.last is not None else [])


def clip_frames(path: Path, count: int = FRAMES) -> list[np.ndarray]:
    """The recipe's frames of one clip, by a decode of its own (the scripts; `foley eval` samples
    during its motion decode instead)."""
    sample = FrameSample(probe(path), count)
    for frame in iter_frames(path, ANALYSIS_WIDTH, colour=True):
        sample.offer(frame)
    return sample.frames()


@dataclass
class FittedProbe:
    """A probe fitted on some clips: its ONNX bytes, classes, and what it was fitted on."""

    onnx: bytes
    classes: list[str]
    clips: int
    frames: int
    per_category: dict[str, int]

    def probe(self) -> CategoryProbe:
        return CategoryProbe(self.onnx, self.classes)

    def counts(self) -> dict:
        return {"clips": self.clips, "frames": self.frames, "per_category": self.per_category}


def fit_probe(embeddings: list[np.ndarray], categories: list[str], c: float = C) -> FittedProbe:
    """Per clip its frames' embeddings (n, dim) and its category → the fitted, exported probe.
    Needs at least two categories (scikit-learn refuses one)."""
    from sklearn.linear_model import LogisticRegression

    rows = np.concatenate(embeddings)
    labels = [category for e, category in zip(embeddings, categories) for _ in range(len(e))]
    model = LogisticRegression(C=c, max_iter=2000).fit(normalised(rows), labels)
    return FittedProbe(to_onnx(model, rows.shape[1]), [str(n) for n in model.classes_], len(embeddings), len(rows),
                       dict(sorted(Counter(categories).items())))


def to_onnx(model, dim: int) -> bytes:
    """The linear model as ONNX: input `embedding` (n, dim), outputs `label` and `probabilities`
    (a plain tensor, no ZipMap), columns in the order of `model.classes_`."""
    from skl2onnx import to_onnx as convert
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = convert(model, initial_types=[("embedding", FloatTensorType([None, dim]))],
                         options={id(model): {"zipmap": False}}, target_opset=17)
    assert [o.name for o in onnx_model.graph.output] == ["label", "probabilities"]
    return canonical_bytes(onnx_model)
