"""Score one generated track against its clip's original sound (onsets, AV-Align)."""
from __future__ import annotations

import numpy as np

from appliance.evaluation.avalign import av_align
from appliance.evaluation.onsets import detect_onsets, onset_scores


def evaluate_clip(reference_audio: np.ndarray, reference_sr: int, generated_audio: np.ndarray, generated_sr: int,
                  video_peaks: np.ndarray | None = None, frame_period: float | None = None) -> dict:
    """Onset accuracy/precision/F1/AP of the generated track vs the reference; AV-Align of the
    generated track's onsets with `video_peaks` (needs `frame_period`), absent without them.
    (Category fit is judged by `corpus.category_fits` in the cross-validated evaluation.)"""
    result = onset_scores(reference_audio, reference_sr, generated_audio, generated_sr).as_dict()
    if video_peaks is not None and frame_period:
        result["av_align"] = av_align(detect_onsets(generated_audio, generated_sr), video_peaks, frame_period)
    return result


def pooled(rows: list[dict]) -> dict:
    """Pooled onset figures of many clips: matched over all their onsets (not a mean of F1s)."""
    matched = sum(r["matched"] for r in rows)
    reference = sum(r["reference_onsets"] for r in rows)
    generated = sum(r["generated_onsets"] for r in rows)
    accuracy, precision = matched / max(1, reference), matched / max(1, generated)
    f1 = 2 * accuracy * precision / (accuracy + precision) if accuracy + precision else 0.0
    return {"clips": len(rows), "reference_onsets": reference, "generated_onsets": generated, "matched": matched,
            "accuracy": round(accuracy, 4), "precision": round(precision, 4), "f1": round(f1, 4)}


def summarise(rows: list[dict]) -> dict:
    """Pooled onset scores plus per-clip means (F1, AP, AV-Align)."""
    return {**pooled(rows),
            "mean_f1": float(np.mean([r["f1"] for r in rows])),
            "mean_ap": float(np.mean([r["ap"] for r in rows])),
            "mean_av_align": float(np.mean([r.get("av_align", 0.0) for r in rows]))}
