"""On-device inference: the text and vision encoders, each loaded once per process.

`embed_text(str)` and `embed_frames(frames)` are what the rest of the appliance calls; the
sessions behind them are created lazily (first use) and verified against models/manifest.json.
"""
from __future__ import annotations

import threading

from appliance.inference.manifest import load_manifest
from appliance.inference.probe import CategoryProbe
from appliance.inference.sessions import default_threads
from appliance.inference.text import TextEncoder
from appliance.inference.vision import VisionEncoder

__all__ = ["CategoryProbe", "TextEncoder", "VisionEncoder", "category_probe", "embed_frames", "embed_text",
           "text_encoder", "vision_encoder"]

_lock = threading.Lock()
_loaded: dict[str, object] = {}


def _get(name: str, factory):
    with _lock:
        if name not in _loaded:
            _loaded[name] = factory(load_manifest()[name], default_threads())
        return _loaded[name]


def text_encoder() -> TextEncoder:
    return _get("text-encoder", TextEncoder)


def vision_encoder() -> VisionEncoder:
    return _get("vision-encoder", VisionEncoder)


def category_probe() -> CategoryProbe | None:
    """The picture → category probe, or None when the manifest ships none (the engine then
    relies on the zero-shot reading alone)."""
    if "category-probe" not in load_manifest():
        return None
    return _get("category-probe", CategoryProbe.from_entry)


def embed_text(text: str):
    """Description → float32 (384,) unit vector. Empty text raises UsageError."""
    return text_encoder().embed(text)


def embed_frames(frames):
    """BGR uint8 frames → (embeddings (N, 1280), logits (N, 1000))."""
    return vision_encoder().embed(frames)
