"""Write audio atomically (see appliance.atomic): readers never see a half-written file."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from appliance.atomic import atomic_open
from appliance.mixing.mixer import Track

AUDIO_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
                 ".mp3": ("MP3", "MPEG_LAYER_III")}
"""Audio outputs by file ending: libsndfile's format and subtype (MP3 only where it has it)."""


def audio_spec(path: str | Path) -> tuple[str, str]:
    """libsndfile's (format, subtype) for the ending of `path`; WAV for an ending not in
    AUDIO_FORMATS (the engine's outputs were WAV whatever their name; `foley score` refuses
    other endings before any work)."""
    return AUDIO_FORMATS.get(Path(path).suffix.lower(), AUDIO_FORMATS[".wav"])


def pcm16(block: np.ndarray) -> np.ndarray:
    """`block` (floats in -1..1) as the 16-bit samples libsndfile writes to a WAV for it: the one
    quantization every audio output gets, so a FLAC or OGG carries the WAV's samples, and one
    encoded from a stored WAV (a cache hit) the same as one encoded from the track. Given floats,
    libsndfile scales them for FLAC otherwise than for PCM, and the outputs would differ by one."""
    raw = io.BytesIO()
    with sf.SoundFile(raw, "w", 1, 1 if np.ndim(block) == 1 else np.shape(block)[1], "PCM_16", format="RAW",
                      endian="LITTLE") as out:
        out.write(block)
    return np.frombuffer(raw.getvalue(), "<i2").reshape(np.shape(block))


def write_audio_atomic(path: str | Path, audio: np.ndarray | Track, sr: int,
                       spec: tuple[str, str] | None = None) -> Path:
    """Write `audio` to `path` atomically as 16-bit samples (`pcm16`), in libsndfile's (format,
    subtype) `spec` (by default the one its ending names, `audio_spec`): an (n,) or (n, channels)
    float array in -1..1, or a Track, written block by block (never whole in memory).
    libsndfile writes to an open file: given a name, it fails on one that is not valid UTF-8,
    which Linux allows."""
    if isinstance(audio, Track):
        blocks, channels = audio.blocks(), audio.channels
    else:
        blocks, channels = [audio], 1 if np.ndim(audio) == 1 else np.shape(audio)[1]
    file_format, subtype = spec or audio_spec(path)
    with atomic_open(path, binary=True) as out:
        sink = _Sink(out)
        try:
            with sf.SoundFile(sink, "w", sr, channels, subtype, format=file_format) as written:
                for block in blocks:
                    written.write(pcm16(block))
        finally:
            sink.raise_failure()
    return Path(path)


def write_wav_atomic(path: str | Path, audio: np.ndarray | Track, sr: int) -> Path:
    """`write_audio_atomic` as WAV, whatever the name ends in."""
    return write_audio_atomic(path, audio, sr, AUDIO_FORMATS[".wav"])


def wav_track(path: str | Path) -> Track:
    """A finished WAV as a Track (stereo float32, read in blocks): a stored result re-muxed or
    re-mixed without holding it in memory."""
    info = sf.info(str(path))

    def source(start: int, stop: int) -> np.ndarray:
        block, _ = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
        return np.repeat(block, 2, axis=1) if block.shape[1] == 1 else block

    return Track(source, info.frames, info.samplerate)


class _Sink:
    """The open file libsndfile writes through, keeping what its calls raised. libsndfile calls
    back into Python to write, seek and tell, and an exception there cannot cross the C code:
    cffi printed it and reported nothing written, and soundfile then failed with a bare
    AssertionError (a full disk's OSError, a Ctrl-C's KeyboardInterrupt were lost: a traceback
    instead of one line, or of the interrupt). `raise_failure` raises the first of them again
    once libsndfile is done; after one, nothing more is written."""

    def __init__(self, file):
        self.file, self.failure = file, None

    def _guarded(self, call, *args, failed: int = 0):
        """`call(*args)`, or `failed` once a call has raised (what it raised is kept)."""
        if self.failure is not None:
            return failed
        try:
            return call(*args)
        except BaseException as exc:  # raised again by raise_failure: nothing may escape into C
            self.failure = exc
            return failed

    def write(self, data) -> int:
        return self._guarded(self.file.write, data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._guarded(self.file.seek, offset, whence, failed=-1)

    def tell(self) -> int:
        return self._guarded(self.file.tell, failed=-1)

    def readinto(self, buffer) -> int:
        return self._guarded(self.file.readinto, buffer)

    def raise_failure(self) -> None:
        """Raise what a call raised, if one did (it, not the short write it caused, is the error)."""
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
