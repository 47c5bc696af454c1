"""Score one generated track against its clip's original sound (onsets, AV-Align, category)."""
from __future__ import annotations

import numpy as np

from appliance.evaluation.avalign import av_align
from appliance.evaluation.category import category_fit
from appliance.evaluation.onsets import detect_onsets, onset_scores


def evaluate_clip(reference_audio: np.ndarray, reference_sr: int, generated_audio: np.ndarray, generated_sr: int,
                  video_peaks: np.ndarray | None = None, frame_period: float | None = None,
                  chosen_category: str | None = None, label: dict | None = None) -> dict:
    """Onset accuracy/precision/F1/AP of the generated track vs the reference; AV-Align of the
    generated track's onsets with `video_peaks` (needs `frame_period`); category fit when a
    `label` (labels.json entry) is given. Keys absent when their inputs are."""
    result = onset_scores(reference_audio, reference_sr, generated_audio, generated_sr).as_dict()
    if video_peaks is not None and frame_period:
        result["av_align"] = av_align(detect_onsets(generated_audio, generated_sr), video_peaks, frame_period)
    if label is not None:
        result["category_fit"] = category_fit(chosen_category, label)
    return result


def summarise(rows: list[dict]) -> dict:
    """Pooled onset scores (matched over all onsets of all clips) plus per-clip means."""
    matched, reference, generated = (sum(r[k] for r in rows) for k in ("matched", "reference_onsets", "generated_onsets"))
    accuracy, precision = matched / max(1, reference), matched / max(1, generated)
    summary = {
        "clips": len(rows), "matched": matched, "reference_onsets": reference, "generated_onsets": generated,
        "accuracy": accuracy, "precision": precision,
        "f1": 2 * accuracy * precision / (accuracy + precision) if accuracy + precision else 0.0,
        "mean_f1": float(np.mean([r["f1"] for r in rows])),
        "mean_ap": float(np.mean([r["ap"] for r in rows])),
        "mean_av_align": float(np.mean([r.get("av_align", 0.0) for r in rows])),
    }
    fits = [r["category_fit"] for r in rows if "category_fit" in r]
    if fits:
        summary["category_fit"] = f"{sum(fits)}/{len(fits)}"
    return summary
