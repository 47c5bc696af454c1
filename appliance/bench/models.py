"""`foley bench models`: per-call latency of both encoders, INT8 and FP32, 1 and 2 threads.

FP32 files are not shipped; they appear next to the INT8 ones when `scripts/export_models.py
--keep-fp32` has run, and are then measured side by side so the quantization gain is visible.
"""
from __future__ import annotations

import numpy as np

from appliance.bench.timing import time_calls
from appliance.inference.manifest import load_manifest
from appliance.inference.text import TextEncoder
from appliance.inference.vision import VisionEncoder

SENTENCE = "a wooden drumstick hits a metal towel bar twice"


def _variants(entry):
    """(label, path or None for the verified INT8 file) for each variant present on disk."""
    yield "int8", None
    if entry.fp32_path().is_file():
        yield "fp32", entry.fp32_path()


def bench_models(threads_list=(1, 2), repeat: int = 30) -> list[dict]:
    entries = load_manifest()
    frame = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    rows = []
    for name, encoder_class, call in (
        ("text-encoder", TextEncoder, lambda enc: enc.embed(SENTENCE)),
        ("vision-encoder", VisionEncoder, lambda enc: enc.embed([frame])),
    ):
        entry = entries[name]
        for variant, path in _variants(entry):
            for threads in threads_list:
                encoder = encoder_class(entry, threads, path=path)
                figures = time_calls(lambda: call(encoder), repeat=repeat)
                rows.append({"model": name, "variant": variant, "threads": threads, **figures})
    return rows


def print_rows(rows: list[dict]) -> None:
    print(f"{'model':<16}{'variant':<9}{'threads':>8}{'median ms':>11}{'p90 ms':>9}{'min ms':>9}")
    for r in rows:
        print(f"{r['model']:<16}{r['variant']:<9}{r['threads']:>8}"
              f"{r['median_ms']:>11.2f}{r['p90_ms']:>9.2f}{r['min_ms']:>9.2f}")
