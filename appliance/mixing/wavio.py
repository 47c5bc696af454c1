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


def wav_track(path: str | Path) -> Track:
    """A finished WAV as a Track (stereo float32, read in blocks): a stored result re-muxed or
    re-mixed without holding it in memory."""
    info = sf.info(str(path))

    def source(start: int, stop: int) -> np.ndarray:
        block, _ = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
        return np.repeat(block, 2, axis=1) if block.shape[1] == 1 else block

    return Track(source, info.frames, info.samplerate)
