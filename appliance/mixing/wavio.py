"""Write the WAV atomically: readers never see a half-written file, failures leave nothing.

The track goes to a temporary file in the destination folder, is flushed and fsynced, then
renamed over the destination (atomic on POSIX within one file system), and the folder is fsynced
so the rename survives a power cut — the appliance's power may be pulled at any moment.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from appliance.errors import UsageError


def write_wav_atomic(path: str | Path, audio: np.ndarray, sr: int, subtype: str = "PCM_16") -> Path:
    """Write `audio` ((n,) or (n, channels) float in -1..1) to `path` as WAV, atomically."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write here ({exc.strerror})") from None
    try:
        with os.fdopen(handle, "wb") as out:
            sf.write(out, audio, sr, format="WAV", subtype=subtype)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path
