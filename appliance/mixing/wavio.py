"""Write the WAV atomically (see appliance.atomic): readers never see a half-written file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from appliance.atomic import atomic_open


def write_wav_atomic(path: str | Path, audio: np.ndarray, sr: int, subtype: str = "PCM_16") -> Path:
    """Write `audio` ((n,) or (n, channels) float in -1..1) to `path` as WAV, atomically."""
    with atomic_open(path, binary=True) as out:
        sf.write(out, audio, sr, format="WAV", subtype=subtype)
    return Path(path)
