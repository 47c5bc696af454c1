"""Evaluation against a clip's own sound: onset accuracy/precision/F1/AP (CondFoleyGen protocol),
AV-Align and category fit. Needs the `eval` extra (librosa) for onset detection."""
from appliance.evaluation.avalign import av_align, flow_peaks
from appliance.evaluation.clip import evaluate_clip, summarise
from appliance.evaluation.onsets import OnsetScores, detect_onsets, match_onsets, onset_scores

__all__ = ["OnsetScores", "av_align", "detect_onsets", "evaluate_clip", "flow_peaks",
           "match_onsets", "onset_scores", "summarise"]
