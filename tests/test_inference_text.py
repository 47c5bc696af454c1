"""The INT8 text encoder with its in-graph tokenizer, checked against Hugging Face's.

Reference ids and FP32 torch embeddings were written by scripts/export_models.py (torch is not
needed here); the live comparison uses HF's own `tokenizers` library on the shipped
tokenizer.json, including strings that were never part of the export.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from tokenizers import Tokenizer

from appliance.errors import UsageError
from appliance.inference import text_encoder
from tests.conftest import MODELS

REFERENCE = json.loads((MODELS / "reference" / "text.json").read_text(encoding="utf-8"))
STRINGS = REFERENCE["strings"]


@pytest.fixture(scope="module")
def hf_tokenizer():
    tokenizer = Tokenizer.from_file(str(MODELS / "reference" / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=REFERENCE["max_length"])
    return tokenizer


def test_reference_covers_enough_varied_strings():
    texts = [s["text"] for s in STRINGS]
    assert len(texts) >= 20
    assert any(len(t.split()) >= 1000 for t in texts), "a 1,000-word text"
    assert any(ch in "".join(texts) for ch in "éèçñüï"), "accented text"
    assert any(ord(ch) > 0x1F000 for t in texts for ch in t), "emoji"


@pytest.mark.parametrize("entry", STRINGS, ids=lambda e: e["text"][:30])
def test_token_ids_and_embedding_match_reference(entry):
    encoder = text_encoder()
    assert encoder.token_ids(entry["text"]) == entry["hf_input_ids"]
    cosine = float(encoder.embed(entry["text"]) @ np.asarray(entry["fp32_embedding"], np.float32))
    assert cosine >= REFERENCE["min_cosine_required"], f"cosine to FP32 torch {cosine:.4f}"


@pytest.mark.parametrize(
    "text",
    [
        "Zoë's naïve café: crème brûlée & jalapeño!",
        "SLAM!!! the door... (again) -- 3x",
        "footsteps on gravel, then on wet grass",
        "tab\tseparated\nand new lines",
        "e-mail: someone@example.org, url https://foley.local/api/v1",
        "🙂 clap clap 👏",
        "über-fast Ångström œuvre",
        "Ελληνικά ΓΡΆΜΜΑΤΑ, 한국어 발소리, ガラスが割れる",
    ],
)
def test_ids_equal_hf_tokenizers_library_on_unseen_strings(text, hf_tokenizer):
    assert text_encoder().token_ids(text) == hf_tokenizer.encode(text).ids


def test_long_text_is_truncated_to_max_length(hf_tokenizer):
    text = " ".join(["rustling leaves and footsteps"] * 400)
    ids = text_encoder().token_ids(text)
    assert len(ids) == REFERENCE["max_length"]
    assert ids[0] == 101 and ids[-1] == 102
    assert ids == hf_tokenizer.encode(text).ids


def test_embedding_is_unit_norm_and_semantic():
    encoder = text_encoder()
    gravel = encoder.embed("footsteps on gravel")
    assert gravel.shape == (384,) and gravel.dtype == np.float32
    assert abs(float(np.linalg.norm(gravel)) - 1) < 1e-3
    walking = encoder.embed("someone walking on small stones")
    glass = encoder.embed("a glass bottle shatters")
    assert gravel @ walking > gravel @ glass


@pytest.mark.parametrize("bad", ["", "   \n\t", None, 42])
def test_empty_or_non_text_is_a_clear_error(bad):
    with pytest.raises(UsageError):
        text_encoder().embed(bad)
