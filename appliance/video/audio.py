"""Read a clip's own sound track as float32 samples.

Evaluation compares the generated Foley track with the clip's original sound, and teaching cuts
real sounds out of a clip; both need the audio decoded and resampled by the same FFmpeg that
decodes the picture, so no second media library is involved.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import av
import numpy as np

from appliance.errors import UsageError
from appliance.video.probe import open_container


def audio_blocks(path: str | Path, sr: int = 48000, mono: bool = True) -> Iterator[np.ndarray]:
    """The first audio stream of `path`, resampled to `sr` Hz, as consecutive float32 blocks of
    shape (n,) if mono else (n, 2): decoded as they are read, so a long track is never whole in
    memory. Samples start at the container's start time (silence first when the sound starts
    later), the same origin as the frame timestamps of `appliance.video.decode.iter_frames`."""
    path = Path(path)
    channels = 1 if mono else 2
    with open_container(path) as container:
        if not container.streams.audio:
            raise UsageError(f"{path}: has no audio track")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono" if mono else "stereo", rate=sr)
        origin = (container.start_time or 0) / av.time_base
        started = False
        try:
            for frame in container.decode(stream):
                if not started:
                    lead = max(0, round((frame.time - origin) * sr)) if frame.time is not None else 0
                    started = True
                    if lead:
                        yield np.zeros((lead, channels) if channels > 1 else lead, np.float32)
                for out in resampler.resample(frame):
                    yield _shaped(out, channels)
            for out in resampler.resample(None):
                yield _shaped(out, channels)
        except av.error.FFmpegError as exc:
            raise UsageError(f"{path}: corrupt audio data ({exc})") from None


def _shaped(frame: av.AudioFrame, channels: int) -> np.ndarray:
    samples = frame.to_ndarray().reshape(-1, channels)  # packed 'flt': L R L R …
    return samples[:, 0] if channels == 1 else samples


def read_audio(path: str | Path, sr: int = 48000, mono: bool = True) -> np.ndarray:
    """The whole of `audio_blocks` in one array: float32, shape (n,) if mono else (n, 2)."""
    blocks = list(audio_blocks(path, sr, mono))
    if blocks:
        return np.concatenate(blocks)
    return np.zeros(0 if mono else (0, 2), np.float32)
