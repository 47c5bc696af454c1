"""Write the WAV atomically (see appliance.atomic): readers never see a half-written file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from appliance.atomic import atomic_open
from appliance.mixing.mixer import Track


def write_wav_atomic(path: str | Path, audio: np.ndarray | Track, sr: int, subtype: str = "PCM_16") -> Path:
    """Write `audio` to `path` as WAV, atomically: an (n,) or (n, channels) float array in -1..1,
    or a Track, written block by block (never whole in memory)."""
    if isinstance(audio, Track):
        blocks, channels = audio.blocks(), audio.channels
    else:
        blocks, channels = [audio], 1 if np.ndim(audio) == 1 else np.shape(audio)[1]
    with atomic_open(path, binary=True) as out, \
            sf.SoundFile(out, "w", sr, channels, subtype, format="WAV") as wav:
        for block in blocks:
            wav.write(block)
    return Path(path)
