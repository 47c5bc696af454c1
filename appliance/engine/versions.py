"""Versions of what shapes a stored result, so that nothing stored by other code is reused.

The result cache, the frame cache of vision outputs and the label tables kept in the state folder
are keyed by these digests, with no number to remember to bump: a file of the packages that turn
a clip into a track (decoding, motion, inference, choice, mixing, the library) or a library that
computes for them (ONNX Runtime, OpenCV, numpy, PyAV and its FFmpeg, libsndfile, soxr) changes
the key. An upgrade
once changed only `inference/sessions.py`, which changed the vision outputs on CPUs without VNNI,
and the caches kept serving results computed the old way.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import av
import cv2
import numpy as np
import soundfile
import soxr

from appliance.inference.sessions import ort  # ONNX Runtime, imported as the appliance configures it

PACKAGE = Path(__file__).resolve().parent.parent
RESULT_PACKAGES = ("video", "motion", "inference", "engine", "mixing", "library")
"""The appliance's folders whose code shapes a result (the service, capture and live only ask)."""


def _digest(folders: tuple[str, ...], libraries: dict[str, object]) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for source in sorted((PACKAGE / folder).rglob("*.py")):
            digest.update(source.relative_to(PACKAGE).as_posix().encode())
            digest.update(source.read_bytes())
    digest.update(repr(sorted(libraries.items())).encode())
    return digest.hexdigest()[:12]


def _libraries() -> dict[str, object]:
    """The versions of the libraries that compute for a result: models, pictures (the vision
    model's input is resized by OpenCV, normalised by numpy), decoding, the library's sounds
    (libsndfile decodes, soxr resamples them)."""
    return {"onnxruntime": ort.__version__, "opencv": cv2.__version__, "numpy": np.__version__,
            "pyav": av.__version__, "ffmpeg": sorted(av.library_versions.items()),
            "soundfile": soundfile.__version__, "libsndfile": soundfile.__libsndfile_version__,
            "soxr": soxr.__version__}


INFERENCE_VERSION = _digest(("inference",), _libraries())
"""The model-running code and the libraries: with a model's own digest, what a stored model
output was computed by (engine/visual.py's frame cache)."""
ENGINE_VERSION = _digest(RESULT_PACKAGES, _libraries())
"""Everything that turns a clip into its result (with the models' and the library's own keys)."""
