"""`foley doctor`: is this installation able to work? Versions, model files, one inference each.

Meant for the first minute after flashing a card or upgrading: every check prints one line,
and the exit code is non-zero when any fails, so scripts (and the aarch64 check) can rely on it.
"""
from __future__ import annotations

import platform
import time
from typing import Callable

from appliance import __version__
from appliance.errors import ModelFileError
from appliance.inference.manifest import load_manifest, verify
from appliance.inference.sessions import default_threads
from appliance.paths import models_dir


def versions() -> dict[str, str]:
    """Versions of the pieces whose mismatch is most likely to explain a failure."""
    from importlib.metadata import version

    import cv2
    import numpy
    import onnxruntime
    import soundfile

    return {
        "foley": __version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} ({platform.system()} {platform.release()})",
        "onnxruntime": onnxruntime.__version__,
        "onnxruntime-extensions": version("onnxruntime-extensions"),  # the package import is heavy
        "numpy": numpy.__version__,
        "opencv": cv2.__version__,
        "libsndfile": soundfile.__libsndfile_version__,
    }


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def check_text_encoder() -> str:
    from appliance.inference import text_encoder

    encoder = text_encoder()
    encoder.embed("warm up")
    latency = _timed(lambda: encoder.embed("footsteps on gravel"))
    return f"text encoder runs: 384-d embedding in {latency:.1f} ms"


def check_vision_encoder() -> str:
    import numpy as np

    from appliance.inference import vision_encoder

    encoder = vision_encoder()
    frame = np.full((240, 320, 3), 128, dtype=np.uint8)
    encoder.embed([frame])
    latency = _timed(lambda: encoder.embed([frame]))
    return f"vision encoder runs: 1280-d embedding + 1000 logits in {latency:.1f} ms"


def run_checks() -> list[tuple[bool, str]]:
    """Every check as (passed, one-line message); a failing check never stops the others."""
    results: list[tuple[bool, str]] = []
    try:
        entries = load_manifest()
    except ModelFileError as exc:
        return [(False, str(exc))]
    results.append((True, f"manifest: {models_dir() / 'manifest.json'} ({len(entries)} models)"))
    for entry in entries.values():
        try:
            verify(entry)
            size_mb = entry.path.stat().st_size / 1e6
            results.append((True, f"{entry.name}: {entry.path.name} {size_mb:.1f} MB, sha256 ok"))
        except ModelFileError as exc:
            results.append((False, str(exc)))
    for check in (check_text_encoder, check_vision_encoder):
        try:
            results.append((True, check()))
        except Exception as exc:  # doctor reports every failure instead of stopping at one
            results.append((False, f"{check.__name__}: {type(exc).__name__}: {exc}"))
    return results


def handle(args) -> int:
    for name, version in versions().items():
        print(f"{name:>24}: {version}")
    print(f"{'threads':>24}: {default_threads()}")
    failures = 0
    for passed, message in run_checks():
        failures += not passed
        print(f"{'ok' if passed else 'FAIL':>4}  {message}")
    print("doctor: all checks passed" if not failures else f"doctor: {failures} check(s) failed")
    return 1 if failures else 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("doctor", help="check versions, model files and run each model once")
    parser.set_defaults(handler=handle)
