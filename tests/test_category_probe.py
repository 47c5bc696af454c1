"""The shipped picture → category probe: loading, contract, and how the engine combines it."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from appliance.engine.zeroshot import with_probe
from appliance.evaluation.category_training import fit_probe
from appliance.inference import category_probe
from appliance.inference.manifest import load_manifest
from appliance.library.catalog import Catalog


@pytest.fixture(scope="module")
def probe():
    found = category_probe()
    assert found is not None, "models/manifest.json ships a category-probe"
    return found


def test_probe_gives_a_distribution_over_library_categories(probe):
    assert set(probe.classes) <= set(Catalog.load().categories)
    embedding = np.random.default_rng(0).random(1280).astype(np.float32)
    logp = probe.log_probabilities(embedding)
    assert set(logp) == set(probe.classes)
    assert sum(np.exp(v) for v in logp.values()) == pytest.approx(1.0, abs=1e-4)
    assert probe.log_probabilities(embedding) == logp  # deterministic
    assert probe.key == load_manifest()["category-probe"].sha256  # what the engine's cache keys name
    scaled = probe.log_probabilities(3 * embedding)  # the input is normalised: only direction counts
    assert all(scaled[c] == pytest.approx(logp[c], abs=1e-5) for c in logp)


def test_a_probe_fitted_in_memory_runs_from_its_bytes():
    """What `foley eval --folds` does per fold: the shipped recipe, never written to models/."""
    pytest.importorskip("sklearn")
    pytest.importorskip("skl2onnx")
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 16))
    clips = [centres[n % 2] + 0.1 * rng.normal(size=(3, 16)) for n in range(6)]
    fitted = fit_probe(clips, ["impact_wood", "impact_metal"] * 3)
    assert fitted.counts() == {"clips": 6, "frames": 18, "per_category": {"impact_metal": 3, "impact_wood": 3}}
    probe = fitted.probe()
    assert probe.classes == ["impact_metal", "impact_wood"]
    assert probe.key == hashlib.sha256(fitted.onnx).hexdigest()
    frames = probe.log_probabilities(clips[0])  # a clip's frames: the mean log-probability
    assert max(frames, key=frames.get) == "impact_wood"
    per_frame = [probe.log_probabilities(f)["impact_wood"] for f in clips[0]]
    assert frames["impact_wood"] == pytest.approx(np.mean(per_frame))


def test_manifest_records_training_and_cross_validation():
    info = load_manifest()["category-probe"].info
    assert info["training"]["clips"] >= 30 and info["cross_validation"]["split"] == "by recording_id"
    pooled = info["cross_validation"]["pooled"]
    assert pooled["combined"] > pooled["majority"] and pooled["combined"] >= pooled["zeroshot"]
    assert info["size_bytes"] < 200_000


def test_with_probe_adds_standardised_votes():
    zero_shot = {"a": 0.1, "b": 0.3, "c": 0.2}
    assert with_probe(zero_shot, None) is zero_shot
    combined = with_probe(zero_shot, {"a": np.log(0.5), "b": np.log(0.5)})  # c: never trained, at the floor
    assert max(combined, key=combined.get) == "b" and min(combined, key=combined.get) == "c"
    close_call = with_probe({"a": 0.2, "b": 0.21, "c": 0.1}, {"a": np.log(0.99), "b": np.log(0.01)})
    assert max(close_call, key=close_call.get) == "a"  # a confident probe settles a near tie
