"""Read a clip's own sound track as float32 samples.

Evaluation compares the generated Foley track with the clip's original sound, and teaching cuts
real sounds out of a clip; both need the audio decoded and resampled by the same FFmpeg that
decodes the picture, so no second media library is involved.
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from appliance.errors import UsageError
from appliance.video.probe import open_container


def read_audio(path: str | Path, sr: int = 48000, mono: bool = True) -> np.ndarray:
    """The first audio stream of `path`, resampled to `sr` Hz: float32, shape (n,) if mono else (n, 2).

    Samples start at the container's start time, the same origin as the frame timestamps of
    `appliance.video.decode.iter_frames`, so onset times of both line up."""
    path = Path(path)
    with open_container(path) as container:
        if not container.streams.audio:
            raise UsageError(f"{path}: has no audio track")
        stream = container.streams.audio[0]
        layout = "mono" if mono else "stereo"
        resampler = av.AudioResampler(format="flt", layout=layout, rate=sr)
        origin = (container.start_time or 0) / av.time_base
        chunks, first_time = [], None
        try:
            for frame in container.decode(stream):
                if first_time is None and frame.time is not None:
                    first_time = frame.time - origin
                chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray() for f in resampler.resample(None))
        except av.error.FFmpegError as exc:
            raise UsageError(f"{path}: corrupt audio data ({exc})") from None
    channels = 1 if mono else 2
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    lead = max(0, round((first_time or 0.0) * sr))
    samples = np.pad(samples, ((0, 0), (lead, 0)))
    return samples[0] if mono else np.ascontiguousarray(samples.T)
