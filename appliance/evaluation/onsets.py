"""Onset accuracy, precision, F1 and AP between a reference track and a generated one.

The protocol is CondFoleyGen's (Du et al. 2023), reimplemented so our figures compare with the
literature: both tracks are mono at 22.05 kHz; onsets come from `librosa.onset.onset_detect`
with delta 0.3; generated onsets closer than 50 ms are merged keeping the loudest (confidence =
peak of the min-max normalised |waveform| within ±50 ms); each reference onset, in time order,
takes the most confident unused generated onset within ±0.1 s. Accuracy = matched / reference
onsets, precision = matched / generated onsets, AP from the confidences of matched and unmatched
onsets. librosa is imported lazily: it belongs to the `eval` extra, not the runtime.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

ONSET_SR = 22050
ONSET_DELTA = 0.3
MATCH_TOLERANCE_S = 0.1
NMS_WINDOW_S = 0.05
CONFIDENCE_WINDOW_S = 0.05


@dataclass(frozen=True)
class OnsetScores:
    reference_onsets: int
    generated_onsets: int
    matched: int
    accuracy: float
    precision: float
    f1: float
    ap: float

    def as_dict(self) -> dict:
        return asdict(self)


def to_onset_rate(audio: np.ndarray, sr: int) -> np.ndarray:
    """Mono float32 at ONSET_SR (channels averaged), the form onsets are detected on."""
    import librosa

    mono = np.asarray(audio, np.float32)
    if mono.ndim == 2:
        mono = mono.mean(axis=1)
    return mono if sr == ONSET_SR else librosa.resample(mono, orig_sr=sr, target_sr=ONSET_SR)


def detect_onsets(audio: np.ndarray, sr: int) -> np.ndarray:
    """Onset times (s) of `audio` found the CondFoleyGen way."""
    import librosa

    y = to_onset_rate(audio, sr)
    if not np.any(y):
        return np.zeros(0)
    samples = librosa.onset.onset_detect(y=y, sr=ONSET_SR, units="samples", delta=ONSET_DELTA)
    return np.asarray(samples, float) / ONSET_SR


def onset_confidence(y: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Peak of the min-max normalised |y| (at ONSET_SR) within ±50 ms of each onset."""
    level = np.abs(y)
    span = level.max() - level.min()
    level = (level - level.min()) / span if span > 0 else np.zeros_like(level)
    half = int(CONFIDENCE_WINDOW_S * ONSET_SR)
    centres = np.round(np.asarray(times) * ONSET_SR).astype(int)
    return np.array([level[max(0, c - half):c + half].max(initial=0.0) for c in centres])


def merge_close_onsets(times: np.ndarray, confidence: np.ndarray, window: float = NMS_WINDOW_S
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Keep the most confident onset of any group closer than `window` (non-maximum suppression)."""
    kept: list[int] = []
    for i in np.argsort(-confidence, kind="stable"):
        if all(abs(times[i] - times[j]) >= window for j in kept):
            kept.append(i)
    kept.sort(key=lambda i: times[i])
    return times[kept], confidence[kept]


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall step curve (the definition scikit-learn uses)."""
    labels, scores = np.asarray(labels, bool), np.asarray(scores, float)
    if not labels.any():
        return 0.0
    order = np.argsort(-scores, kind="mergesort")
    labels, scores = labels[order], scores[order]
    # One point per distinct score threshold.
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tp = np.cumsum(labels)[last]
    precision = tp / (last + 1)
    recall = tp / labels.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def match_onsets(reference: np.ndarray, generated: np.ndarray, confidence: np.ndarray,
                 tolerance: float = MATCH_TOLERANCE_S) -> OnsetScores:
    """Score generated onsets (already merged) against reference onsets."""
    unused = list(range(len(generated)))
    labels, scores, matched = [], [], 0
    for r in np.sort(reference):
        near = [i for i in unused if abs(generated[i] - r) < tolerance]
        labels.append(1)
        if not near:
            scores.append(0.0)
            continue
        best = max(near, key=lambda i: confidence[i])
        scores.append(float(confidence[best]))
        unused.remove(best)
        matched += 1
    labels += [0] * len(unused)
    scores += [float(confidence[i]) for i in unused]
    n_ref, n_gen = len(reference), len(generated)
    accuracy = matched / n_ref if n_ref else 0.0
    precision = matched / n_gen if n_gen else 0.0
    f1 = 2 * accuracy * precision / (accuracy + precision) if accuracy + precision else 0.0
    ap = average_precision(np.array(labels), np.array(scores)) if n_ref else 0.0
    return OnsetScores(n_ref, n_gen, matched, accuracy, precision, f1, ap)


def onset_scores(reference_audio: np.ndarray, reference_sr: int, generated_audio: np.ndarray,
                 generated_sr: int, tolerance: float = MATCH_TOLERANCE_S) -> OnsetScores:
    """Detect onsets in both tracks and score the generated ones against the reference."""
    reference = detect_onsets(reference_audio, reference_sr)
    y = to_onset_rate(generated_audio, generated_sr)
    generated = detect_onsets(y, ONSET_SR)
    generated, confidence = merge_close_onsets(generated, onset_confidence(y, generated))
    return match_onsets(reference, generated, confidence, tolerance)
