"""The learned event model: its file and contract, the ONNX trees equal to scikit-learn's, and
the causal peak picking (decided one row late, minimum gap, nothing where nothing moved)."""
from __future__ import annotations

import numpy as np
import pytest

from appliance.evaluation.event_training import TrainingClip, fit_classifier, to_onnx
from appliance.evaluation.onnx_bytes import canonical_bytes
from appliance.inference.manifest import load_manifest
from appliance.motion.event_model import EventModel, OnsetPicker, Picking, bundled_event_model, pick_onsets
from appliance.motion.onset_features import FEATURE_INDEX, FEATURE_NAMES, FeatureRow


def _row(i: float, moving: bool = True) -> FeatureRow:
    values = np.zeros(len(FEATURE_NAMES), np.float32)
    values[FEATURE_INDEX["log_energy_before"]] = 0.0 if moving else -3.0
    return FeatureRow(start=i / 30, end=(i + 1) / 30, frame_index=int(i), x=0.5, y=0.5, values=values)


def test_bundled_model_contract():
    entry = load_manifest()["events"]
    assert entry.info["features"] == list(FEATURE_NAMES)
    assert entry.info["cross_validation"]["folds"], "the manifest records the held-out figures"
    assert entry.path.stat().st_size < 1 << 20
    model = bundled_event_model()
    rng = np.random.default_rng(0)
    values = rng.normal(0, 1, (50, len(FEATURE_NAMES))).astype(np.float32)
    p = model.probabilities(values)
    assert p.shape == (50,) and np.all((p >= 0) & (p <= 1))
    still = values.copy()
    still[:, FEATURE_INDEX["log_energy_before"]] = -3.0
    assert np.all(model.probabilities(still) == 0), "no motion before the interval, no onset"


def test_onnx_trees_equal_scikit_learn():
    rng = np.random.default_rng(1)
    rows = [_row(i) for i in range(300)]
    for row in rows:
        row.values[:] = rng.normal(0, 1, len(FEATURE_NAMES))
        row.values[FEATURE_INDEX["log_energy_before"]] = 0.0
    onsets = np.array([r.start for r in rows if r.values[1] > 1.0])
    clip = TrainingClip("x", "x", rows, onsets)
    classifier = fit_classifier([clip])
    model = EventModel(to_onnx(classifier), Picking(0.5, 0.1, 0.5))
    expected = classifier.predict_proba(clip.matrix())[:, 1]
    assert np.allclose(model.probabilities(clip.matrix()), expected, atol=1e-5)


def test_the_same_fit_writes_the_same_bytes():
    """skl2onnx lists a model's opset imports in a set's order, which changes with the hash seed:
    the file is written with them in domain order, so a rebuild that changes nothing changes no
    byte (nor the manifest's sha256)."""
    import onnx

    rows = [_row(i) for i in range(60)]
    for k, row in enumerate(rows):
        row.values[1] = float(k % 7 == 0)
    classifier = fit_classifier([TrainingClip("x", "x", rows, np.array([r.start for r in rows[::7]]))])
    written = onnx.load_from_string(to_onnx(classifier))
    domains = [entry.domain for entry in written.opset_import]
    assert domains == sorted(domains) and set(domains) == {"", "ai.onnx.ml"}
    reversed_imports = onnx.load_from_string(to_onnx(classifier))
    ordered = list(reversed_imports.opset_import)[::-1]
    del reversed_imports.opset_import[:]
    reversed_imports.opset_import.extend(ordered)
    assert canonical_bytes(reversed_imports) == to_onnx(classifier)


def test_picker_is_causal_and_keeps_its_gap():
    picker = OnsetPicker(Picking(threshold=0.5, min_gap=0.1, time_at=0.5))
    probabilities = [0.1, 0.9, 0.2, 0.8, 0.3, 0.1, 0.95, 0.1]
    decided_at = {}
    for i, p in enumerate(probabilities):
        for onset in picker.push(_row(i), p):
            decided_at[onset.row.frame_index] = i
    decided_at.update({o.row.frame_index: len(probabilities) for o in picker.flush()})
    # Peaks at rows 1 and 6; row 3 is 2 rows (0.067 s) after row 1: inside the gap.
    assert decided_at == {1: 2, 6: 7}, "each peak is decided when the next row arrives"


def test_picker_places_the_onset_in_its_interval_and_flushes_the_last():
    onsets = pick_onsets([_row(0), _row(1)], np.array([0.2, 0.9]), Picking(0.5, 0.1, 1.0))
    assert len(onsets) == 1 and onsets[0].time == pytest.approx(2 / 30)


def test_picking_parameters_are_checked():
    with pytest.raises(ValueError):
        Picking(threshold=1.5, min_gap=0.1, time_at=0.5)


def test_interval_rows_at_a_lower_frame_rate(tmp_path):
    """`--frame-step`'s clips: every Nth frame with its own time, as a slower camera films it."""
    from appliance.evaluation.event_training import interval_rows
    from appliance.video.synthetic import render_scene

    clip = render_scene("stick", tmp_path / "stick.mp4", width=160, height=120, fps=30, seconds=2, seed=3)
    every = interval_rows(clip.path)
    half = interval_rows(clip.path, frame_step=2)
    assert len(every) > 40 and abs(len(half) - len(every) / 2) <= 2
    assert all(abs((r.end - r.start) - 2 / 30) < 1e-3 for r in half)
    assert {round(r.end, 3) for r in half} <= {round(r.end, 3) for r in every}
    assert all(abs(r.values[FEATURE_INDEX["frame_period"]] - 2 / 30) < 1e-3 for r in half), "the cues see the slower rate"
