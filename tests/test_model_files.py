"""Model files are verified against the manifest: corruption is reported by name, clearly."""
from __future__ import annotations

import shutil

import pytest

from appliance.errors import ModelFileError
from appliance.inference.manifest import load_manifest, verify
from tests.conftest import MODELS, run_foley


@pytest.fixture
def models_copy(tmp_path):
    """A private copy of models/ (without the sound library) that a test may damage."""
    target = tmp_path / "models"
    shutil.copytree(MODELS, target, ignore=shutil.ignore_patterns("library", "*.fp32.onnx"))
    return target


def test_shipped_models_match_manifest():
    entries = load_manifest()
    assert {"text-encoder", "vision-encoder"} <= set(entries)
    for entry in entries.values():
        verify(entry)


def test_corrupt_model_is_named_with_restore_hint(models_copy):
    entry = load_manifest(models_copy)["vision-encoder"]
    data = bytearray(entry.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"vision-encoder\.int8\.onnx is corrupt.*restore"):
        verify(entry)


def test_missing_model_and_missing_manifest(models_copy):
    entry = load_manifest(models_copy)["text-encoder"]
    entry.path.unlink()
    with pytest.raises(ModelFileError, match=r"text-encoder\.int8\.onnx is missing"):
        verify(entry)
    (models_copy / "manifest.json").unlink()
    with pytest.raises(ModelFileError, match="manifest .* is missing"):
        load_manifest(models_copy)


def test_doctor_passes_on_shipped_models():
    result = run_foley("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    assert "text encoder runs" in result.stdout and "vision encoder runs" in result.stdout


def test_doctor_fails_on_corrupt_model(models_copy):
    path = models_copy / "text-encoder.int8.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    result = run_foley("doctor", env={"FOLEY_MODELS_DIR": str(models_copy)})
    assert result.returncode == 1
    assert "text-encoder.int8.onnx is corrupt" in result.stdout
    assert "check(s) failed" in result.stdout
