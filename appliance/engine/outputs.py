"""Every output of a scored clip, written in one place from its track and timeline.

Scoring (Engine.score_to_files) and each edit of a finished job (the events API) both end
here, so the WAV, the MP4, the mix with the clip's own sound, the credits and timeline.json
always describe the same mix, whichever wrote them, and a new kind of output is added once
(the MP4, the mix and the credits are made by engine/deliver.py, as for a cached result). The files are written to staged names next to their
targets first and only renamed into place when all of them are written: a failure (a full
disk, a muxer error) leaves the previous outputs untouched and consistent, never a new WAV
beside an old MP4. timeline.json is renamed last, so a reader that sees the new timeline sees
the new audio too. Each format has its writer, and each writes to its staged name: the audio in
the format its name ends in (.wav, .flac, .ogg, .mp3: mixing.write_audio_atomic), the MP4 by the
muxer, the credits as text, the timeline as JSON. Nothing is encoded after the renames.
"""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from appliance.atomic import fsync_folder, named_after, temp_beside, write_json_atomic
from appliance.engine.deliver import deliver
from appliance.engine.timeline import Timeline
from appliance.library import Catalog
from appliance.mixing import SAMPLE_RATE, Track, write_audio_atomic

WAV_NAME, MP4_NAME, TIMELINE_NAME = "audio.wav", "video.mp4", "timeline.json"
MIX_NAME, CREDITS_NAME = "mix.wav", "credits.txt"
"""With keep_audio, the Foley mixed with the clip's own sound (the MP4's track); the credits."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Ctrl-C, a stop (systemd), a closed terminal: the command line unwinds on each (score_cli.py)."""


@dataclass(frozen=True)
class OutputFiles:
    """Where each output goes; None: not wanted."""

    wav: Path
    mp4: Path | None = None
    timeline: Path | None = None
    mix: Path | None = None
    """Written only for a timeline that keeps the clip's own sound."""
    credits: Path | None = None

    @classmethod
    def in_folder(cls, folder: Path) -> OutputFiles:
        """A job folder's outputs, under their fixed names."""
        return cls(wav=folder / WAV_NAME, mp4=folder / MP4_NAME, timeline=folder / TIMELINE_NAME,
                   mix=folder / MIX_NAME, credits=folder / CREDITS_NAME)

    def paths(self) -> list[Path]:
        return [p for p in (self.wav, self.mp4, self.timeline, self.mix, self.credits) if p is not None]


def _staged(target: Path) -> Path:
    """A fresh name next to `target` (same folder, so the final rename is atomic), same suffix."""
    return temp_beside(target, f".staged{target.suffix}")


class Staging:
    """Files written under fresh names next to their targets, renamed over them together by
    `commit` in the order they were staged (stage timeline.json last)."""

    def __init__(self):
        self.staged: list[tuple[Path, Path]] = []

    def path(self, target: Path) -> Path:
        """Where to write what will replace `target`."""
        temp = _staged(target)
        self.staged.append((temp, target))
        return temp

    def target_of(self, path) -> Path | None:
        """The output the staged file `path` will become; None if it is not a staged file."""
        return next((target for temp, target in self.staged if str(temp) == str(path)), None)

    def commit(self) -> list[Path]:
        """Rename every staged file over its target; returns the targets. Ctrl-C (or SIGTERM)
        waits until every rename is done: one between two renames left a new WAV beside the
        previous MP4 and timeline. Each file's data is made durable before its rename, whoever
        wrote it (a cached result's MP4 is a plain copy): after a power cut a new name with no
        data behind it would be a finished job with an empty video."""
        for temp, _ in self.staged:
            with open(temp, "rb+") as written:
                os.fsync(written.fileno())
        with _interrupts_held():
            for temp, target in self.staged:
                os.replace(temp, target)
            for folder in {target.parent for _, target in self.staged}:
                fsync_folder(folder if str(folder) else Path("."))
        return [target for _, target in self.staged]


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP (STOP_SIGNALS) held back for the block and delivered as it ends, in the main thread
    (where Python runs its handlers and raises KeyboardInterrupt). Handlers that only note the
    signal, not a blocked signal mask: the kernel gives a process's signal to any thread that
    does not block it (ONNX Runtime's and numpy's threads run by then)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    previous = {number: signal.signal(number, lambda received, _frame: noted.append(received))
                for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        for number in noted:
            signal.raise_signal(number)


@contextmanager
def staging() -> Iterator[Staging]:
    """A Staging whose files not yet renamed are removed if the block fails (a full disk, a
    muxer error, Ctrl-C): the previous outputs stay as they were until every new one is written.
    A file that could not be written is named as the user named it, not by its staged name."""
    stage = Staging()
    try:
        yield stage
    except BaseException as exc:
        for temp, _ in stage.staged:
            temp.unlink(missing_ok=True)
        target = stage.target_of(exc.filename) if isinstance(exc, OSError) else None
        if target is not None:
            raise named_after(exc, target)
        raise


def write_outputs(clip: Path, track: Track, timeline: Timeline, files: OutputFiles, catalog: Catalog) -> list[Path]:
    """Write the track as audio (WAV unless its name ends in another format), the clip's video with the track (or with keep_audio the mix) as
    MP4 (`timeline.mp4` then says how it was muxed), the mix, the credits and the timeline as
    JSON; all of them replace their targets, or none does. Returns the paths written."""
    with staging() as stage:
        write_audio_atomic(stage.path(files.wav), track, SAMPLE_RATE)
        keeps_own_sound = timeline.output.original_level_db is not None
        made = {name: target for name, target in (("mp4", files.mp4), ("mix", files.mix if keeps_own_sound else None),
                                                  ("credits", files.credits)) if target is not None}
        deliver(clip, track, timeline, catalog, **{name: stage.path(target) for name, target in made.items()})
        if files.timeline is not None:
            write_json_atomic(stage.path(files.timeline), timeline.to_json())
        return stage.commit()
