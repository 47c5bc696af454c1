"""The clip's own sound kept with the Foley (`keep_audio`): decoded, levelled, mixed, normalised.

The default is "replace": the video carries the Foley alone. With keep_audio the clip's first
audio track is decoded with PyAV, resampled to 48 kHz stereo and written to a temporary float
WAV beside the outputs (read back in blocks, so five minutes of it never sit in memory). It is
set to `level_db` relative to the Foley's target loudness (0: as loud as the Foley), added to
the Foley track, and the sum is normalised as any track is (appliance.mixing: the one meter,
target loudness, true peak under the ceiling). The Foley alone stays what it was: the stem.

The Foley is not ducked under speech-like passages: the Foley is louder than a voice of the same
loudness in only 1–5 % of its 20 ms frames (the hits themselves), so a duck would quieten every
hit in speech to clear those few frames (docs/benchmarks.md, "Keep the clip's own sound";
tests/test_own_sound.py::test_ducking_would_not_help).
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile

from appliance.errors import UsageError
from appliance.mixing import SAMPLE_RATE, Track
from appliance.mixing.loudness import block_powers, filter_chunk, gated_loudness
from appliance.mixing.mixer import normalise, regain
from appliance.video.audio import audio_blocks
from appliance.video.probe import open_container

LEVEL_RANGE_DB = (-30.0, 6.0)
NO_TRACK = "the clip has no sound track of its own: the video carries the Foley alone"
SILENT_TRACK = "the clip's own sound track is silent: the video carries the Foley alone"


def check_level(level_db: float) -> float:
    """The level, or a UsageError naming the range (CLI exit 2, API 400)."""
    low, high = LEVEL_RANGE_DB
    if not (isinstance(level_db, (int, float)) and np.isfinite(level_db) and low <= level_db <= high):
        raise UsageError(f"the clip's own sound level must be a number of dB from {low:g} to {high:+g} "
                         f"(0: as loud as the Foley), not {level_db!r}")
    return float(level_db)


def mixed_note(level_db: float) -> str:
    return f"the clip's own sound mixed in at {level_db:+.1f} dB relative to the Foley"


def decode_own_sound(video: Path, target: Path, length: int, sr: int = SAMPLE_RATE) -> bool:
    """Write the clip's first audio track to `target` as float32 stereo at `sr`, exactly `length`
    samples from the video's start (padded with silence or cut). False when it has none."""
    with open_container(video) as container:
        if not container.streams.audio:
            return False
    with soundfile.SoundFile(str(target), "w", sr, 2, "FLOAT", format="WAV") as out:
        written = 0
        for block in first_samples(audio_blocks(video, sr, mono=False), length):
            out.write(block)
            written += len(block)
        out.write(np.zeros((length - written, 2), np.float32))
    return True


def first_samples(blocks: Iterator[np.ndarray], length: int) -> Iterator[np.ndarray]:
    """The first `length` samples of `blocks` (the last block cut): a track longer than the
    picture, or a whole hour of it, is never decoded past what is used."""
    taken = 0
    for block in blocks:
        yield block[:length - taken]
        taken += len(block)
        if taken >= length:
            return


@contextmanager
def with_own_sound(video: Path, foley: Track, level_db: float | None, scratch: Path, target_lufs: float,
                   ceiling_db: float, gains: list[float] | None = None) -> Iterator[tuple[Track, str | None]]:
    """(the track the video carries, what was done with the clip's own sound) while the block
    runs: the Foley itself and None when `level_db` is None (replace), else the mix normalised
    (or given `gains`, those of the scoring's mix: an edit keeps its level, as the Foley's)
    and a sentence for the timeline (the Foley alone, and why, when there is nothing to mix)."""
    if level_db is None:
        yield foley, None
        return
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".own-sound-") as folder:
        path = Path(folder) / "own.wav"
        if not decode_own_sound(Path(video), path, len(foley), foley.sr):
            yield foley, NO_TRACK
            return
        with soundfile.SoundFile(str(path)) as own:
            def read_own(start: int, stop: int) -> np.ndarray:
                own.seek(start)
                return own.read(stop - start, dtype="float32", always_2d=True)

            size = filter_chunk(foley.sr)[0]
            loudness = gated_loudness(block_powers(
                (read_own(s, min(len(foley), s + size)) for s in range(0, len(foley), size)), foley.sr))
            if not np.isfinite(loudness):
                yield foley, SILENT_TRACK
                return
            gain = np.float32(10 ** ((target_lufs + level_db - loudness) / 20))

            def source(start: int, stop: int) -> np.ndarray:
                block = foley.read(start, stop)
                block += read_own(start, stop) * gain
                return block

            track = Track(source, len(foley), foley.sr)
            yield (regain(track, gains, ceiling_db) if gains else normalise(track, target_lufs, ceiling_db),
                   mixed_note(level_db))
