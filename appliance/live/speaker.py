"""Who holds the board's speaker: one advisory lock file shared by every Foley process.

On a Pi an ALSA hw device is opened by one program at a time: two of ours opening it at once
leave one with "device busy" (or, through a dmix, both sounding at once). So whatever is about to
use the board's audio output — `foley live`, the service's live mode, the service playing a
result — first claims the speaker: an exclusive `flock` on `speaker.lock` in the runtime
directory (appliance/paths.py; /run/foley on the board), taken without waiting. The holder writes
who it is into the file (JSON: what, pid, how to free it), so a refusal can name it. The kernel
drops the lock when the holder's process ends, however it ends: no stale lock after a crash.
`flock` locks belong to an open file, so two claims in one process exclude each other too.

The file is never replaced (a rename would make a new file, and a new lock): the holder truncates
and rewrites it in place, so a reader can catch it empty for an instant, and then says "another
Foley program" instead of its name.
"""
from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from appliance.paths import runtime_dir

LOCK_NAME = "speaker.lock"
WITHOUT_SPEAKER = ("live mode runs without the board's speaker, on the audio seam: sounds are timed and recorded "
                   "but not heard from the board (a page with Live on still plays them)")
"""Said once when a live session cannot have the speaker (no device, a busy one, another holder)."""


@dataclass(frozen=True)
class Holder:
    """Who holds the speaker, as its claim wrote it."""

    what: str
    """e.g. "`foley live`", "the service's live mode", "the service playing job 0123…"."""
    pid: int
    free: str = ""
    """How to free the speaker (said after the name in a refusal)."""

    def describe(self) -> str:
        return f"{self.what} (pid {self.pid})" if self.pid else self.what


UNNAMED = Holder("another Foley program", 0)


class SpeakerBusy(Exception):
    """Another claim holds the speaker."""

    def __init__(self, holder: Holder):
        self.holder = holder
        super().__init__(f"the speaker is in use by {holder.describe()}" + (f"; {holder.free}" if holder.free else ""))


class Claim:
    """A hold on the speaker until `release` (or the process ends)."""

    def __init__(self, fd: int, holder: Holder):
        self._fd: int | None = fd
        self.holder = holder

    def release(self) -> None:
        """Let the speaker go (again: nothing happens)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the file drops its lock

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *_) -> None:
        self.release()


def _lock_path(folder: Path | None) -> Path:
    return (folder or runtime_dir()) / LOCK_NAME


def claim_speaker(what: str, free: str = "", folder: Path | None = None) -> Claim:
    """The speaker for `what`, now, or SpeakerBusy naming who has it (never waits)."""
    fd = os.open(_lock_path(folder), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(fd)
        os.close(fd)
        raise SpeakerBusy(holder) from None
    holder = Holder(what, os.getpid(), free)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(asdict(holder)).encode(), 0)
    return Claim(fd, holder)


def speaker_holder(folder: Path | None = None) -> Holder | None:
    """Who holds the speaker now (None: free). A look, not a claim: it may change at once."""
    try:
        fd = os.open(_lock_path(folder), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None  # nobody holds it (the shared lock goes with the file, closed below)
    except BlockingIOError:
        return _read(fd)
    finally:
        os.close(fd)


def _read(fd: int) -> Holder:
    try:
        data = json.loads(os.pread(fd, 4096, 0))
        return Holder(str(data["what"]), int(data["pid"]), str(data.get("free", "")))
    except (ValueError, KeyError, TypeError):  # being rewritten by a new holder, or not ours
        return UNNAMED
