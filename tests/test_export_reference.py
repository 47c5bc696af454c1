"""The committed ONNX models against the reference data written by scripts/export_models.py.

Runs with onnxruntime + onnxruntime-extensions (+ `tokenizers` for the live tokenizer check);
no torch. Checks the files the manifest names, their signatures, token ids against Hugging
Face's, and INT8 outputs against the FP32 torch outputs recorded at export time. Sessions compute
INT8 products exactly, as the appliance's do (EXACT_INT8 in appliance/inference/sessions.py):
without it an x86-64 CPU without VNNI saturates them and the figures depend on the CPU.
"""
from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import onnxruntime_extensions as ortx
import pytest

from appliance.inference.sessions import EXACT_INT8

MODELS = Path(__file__).resolve().parent.parent / "models"
REF = MODELS / "reference"
MANIFEST = json.loads((MODELS / "manifest.json").read_text(encoding="utf-8"))
TEXT = json.loads((REF / "text.json").read_text(encoding="utf-8"))
VISION = json.loads((REF / "vision.json").read_text(encoding="utf-8"))


def _session(name: str, custom_ops: bool = False) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    so.add_session_config_entry(*EXACT_INT8)
    if custom_ops:
        so.register_custom_ops_library(ortx.get_library_path())
    return ort.InferenceSession(str(MODELS / MANIFEST["models"][name]["file"]), so,
                                providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def text_session():
    return _session("text-encoder", custom_ops=True)


@pytest.fixture(scope="module")
def vision_session():
    return _session("vision-encoder")


def _cos(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _run_text(sess, text: str):
    emb, ids = sess.run(["embedding", "input_ids"], {"text": np.array([text], dtype=object)})
    return emb, [int(i) for i in ids.reshape(-1)]


def test_manifest_checksums_and_sizes():
    assert MANIFEST["format"] == 1
    for name, entry in MANIFEST["models"].items():
        path = MODELS / entry["file"]
        assert path.stat().st_size == entry["size_bytes"], name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], name
    labels = (MODELS / MANIFEST["models"]["vision-encoder"]["labels_file"]).read_text(encoding="utf-8")
    assert len(labels.splitlines()) == 1000


def test_text_signature(text_session):
    (inp,) = text_session.get_inputs()
    assert (inp.name, inp.type) == ("text", "tensor(string)")
    outs = {o.name: o for o in text_session.get_outputs()}
    assert outs["embedding"].type == "tensor(float)" and outs["embedding"].shape == [1, 384]
    assert outs["input_ids"].type == "tensor(int64)" and outs["input_ids"].shape[0] == 1


def test_text_ids_and_embeddings_match_reference(text_session):
    cosines = []
    for row in TEXT["strings"]:
        emb, ids = _run_text(text_session, row["text"])
        assert emb.shape == (1, 384)
        assert abs(np.linalg.norm(emb) - 1.0) < 1e-3
        if row["graph_ids_equal_hf"]:
            assert ids == row["hf_input_ids"], row["text"][:40]
            cosines.append(_cos(emb, row["fp32_embedding"]))
        else:  # known BertTokenizer-op difference (non-Latin accents/case): recorded ids
            assert ids == row["graph_input_ids"], row["text"][:40]
    assert len(cosines) >= 20
    assert min(cosines) >= 0.98, min(cosines)


def test_text_pre_normalisation_makes_every_string_match(text_session):
    """lower() + NFD + dropping combining marks in Python gives HF's ids for every string."""
    for row in TEXT["strings"]:
        text = "".join(c for c in unicodedata.normalize("NFD", row["text"].lower())
                       if unicodedata.category(c) != "Mn")
        assert _run_text(text_session, text)[1] == row["hf_input_ids"], row["text"][:40]


def test_text_truncates_to_256_keeping_cls_sep(text_session):
    longest = max(TEXT["strings"], key=lambda r: len(r["text"]))
    ids = _run_text(text_session, longest["text"])[1]
    assert len(ids) == TEXT["max_length"] == 256
    assert ids[0] == 101 and ids[-1] == 102


def test_text_empty_string_is_cls_sep(text_session):
    emb, ids = _run_text(text_session, "")
    assert ids == TEXT["empty_string"]["graph_input_ids"] == [101, 102]
    assert np.isfinite(emb).all()


def test_live_hf_tokenizer_agrees():
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(REF / "tokenizer.json"))
    # HF's tokenizer.json ships fixed padding and truncation at 128; sentence-transformers
    # uses no padding for one sentence and truncation at 256.
    tok.no_padding()
    tok.enable_truncation(max_length=TEXT["max_length"])
    for row in TEXT["strings"]:
        assert tok.encode(row["text"]).ids == row["hf_input_ids"], row["text"][:40]


def test_vision_signature(vision_session):
    (inp,) = vision_session.get_inputs()
    assert inp.name == "pixels" and inp.type == "tensor(float)" and inp.shape[1:] == [3, 224, 224]
    outs = {o.name: o.shape for o in vision_session.get_outputs()}
    assert outs["embedding"][1:] == [1280] and outs["logits"][1:] == [1000]


def test_vision_reference_photos(vision_session):
    batch = []
    for image in VISION["images"]:
        bgr = cv2.imread(str(REF / image["file"]), cv2.IMREAD_COLOR)
        batch.append(((bgr[:, :, ::-1].astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1))
    emb, logits = vision_session.run(["embedding", "logits"], {"pixels": np.stack(batch)})  # batch of 3
    assert emb.shape == (len(batch), 1280) and logits.shape == (len(batch), 1000)
    for image, e, lg in zip(VISION["images"], emb, logits):
        assert int(lg.argmax()) == image["fp32_top5"][0], image["file"]
        assert _cos(e, image["fp32_embedding"]) >= 0.97, image["file"]
