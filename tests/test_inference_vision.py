"""The INT8 vision encoder: preprocessing, output shapes, agreement with FP32 on held-out photos."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from appliance.errors import UsageError
from appliance.inference import vision_encoder
from appliance.inference.vision import INPUT_SIZE, preprocess
from tests.conftest import MODELS

REFERENCE = json.loads((MODELS / "reference" / "vision.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("shape", [(720, 1280), (1280, 720), (100, 100), (40, 300), (224, 224)])
def test_preprocess_any_size_to_network_input(shape):
    frame = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    tensor = preprocess(frame)
    assert tensor.shape == (3, INPUT_SIZE, INPUT_SIZE) and tensor.dtype == np.float32
    assert -1.0 <= tensor.min() and tensor.max() <= 1.0


def test_preprocess_is_rgb_and_centre_cropped():
    frame = np.zeros((256, 512, 3), np.uint8)
    frame[:, :, 2] = 255  # pure red in BGR
    frame[:, :128] = 0  # black left quarter lies outside the centre crop
    tensor = preprocess(frame)
    assert np.allclose(tensor[0], (255 - 127) / 128) and np.allclose(tensor[2], -127 / 128)


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32)])
def test_bad_frames_are_clear_errors(bad):
    with pytest.raises(UsageError):
        preprocess(bad)


def test_batch_outputs_and_labels():
    encoder = vision_encoder()
    frames = [np.full((120, 160, 3), v, np.uint8) for v in (30, 200)]
    embeddings, logits = encoder.embed(frames)
    assert embeddings.shape == (2, 1280) and logits.shape == (2, 1000)
    assert len(encoder.labels) == 1000
    top = encoder.top_labels(logits, k=3)
    assert len(top) == 2 and all(0 <= p <= 1 for _, p in top[0])


@pytest.mark.parametrize("entry", REFERENCE["images"], ids=lambda e: e["file"])
def test_int8_agrees_with_fp32_on_held_out_photos(entry):
    """Network input exactly as at export (224×224 crop, no resize); top-1 within FP32 top-5."""
    crop = cv2.imread(str(MODELS / "reference" / entry["file"]), cv2.IMREAD_COLOR)
    pixels = ((crop[:, :, ::-1].astype(np.float32) - 127) / 128).transpose(2, 0, 1)[None]
    embedding, logits = vision_encoder().session.run(["embedding", "logits"], {"pixels": pixels})
    assert int(np.argmax(logits)) in entry["fp32_top5"][:2]
    reference = np.asarray(entry["fp32_embedding"], np.float32)
    cosine = float(embedding[0] @ reference / (np.linalg.norm(embedding[0]) * np.linalg.norm(reference)))
    assert cosine >= 0.98
