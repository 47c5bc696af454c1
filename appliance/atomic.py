"""Atomic file writes: a reader (or the next boot after a power cut) sees the old file or the
new one, never half of one, and a failure leaves nothing behind.

The content goes to a temporary file in the destination folder, is flushed and fsynced, then
renamed over the destination (atomic on POSIX within one file system), and the folder is fsynced
so the rename itself survives a power cut — an appliance's power may be pulled at any moment.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from appliance.errors import UsageError


NAME_MAX = 255
"""Bytes in one file name on Linux's file systems (ext4, vfat's long names, tmpfs)."""
RANDOM_PART = 8
"""The characters mkstemp adds to make the name unique."""


def temp_beside(target: Path, suffix: str) -> Path:
    """A fresh empty file next to `target` (same folder: the final rename is atomic), named
    `.{target's name}.XXXXXXXX{suffix}`, its name part cut so the whole fits NAME_MAX bytes: a
    target of 250-255 bytes is a legal name, and its temporary name must not be what refuses it.
    mkstemp's random part and exclusive create keep it unique however much is cut. OSError as
    mkstemp raises it."""
    folder = target.parent if str(target.parent) else Path(".")
    name = target.name
    room = NAME_MAX - len(os.fsencode(suffix)) - RANDOM_PART - 2  # the two dots
    while name and len(os.fsencode(name)) > room:
        name = name[:-1]  # by characters: a name cut inside a UTF-8 sequence would not read back
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=folder)
    os.close(handle)
    return Path(temporary)


@contextmanager
def atomic_path(path: str | Path, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path`, on error it is removed.

    For writers that need a file name (encoders, muxers) rather than an open handle."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        temp = temp_beside(path, ".tmp")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write here ({exc.strerror})") from None
    try:
        yield temp
        with open(temp, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(temp, mode)  # mkstemp makes files private; results and indexes are not secrets
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_folder(folder)


@contextmanager
def atomic_open(path: str | Path, binary: bool = False, mode: int = 0o644) -> Iterator[IO]:
    """An open file whose content replaces `path` only when the block ends without error."""
    with atomic_path(path, mode) as temp:
        with open(temp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
            yield handle


def write_json_atomic(path: str | Path, data) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as handle:
        json.dump(data, handle, indent=1, ensure_ascii=False)
        handle.write("\n")


def fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
