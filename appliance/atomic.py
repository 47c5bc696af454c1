"""Atomic file writes: a reader (or the next boot after a power cut) sees the old file or the
new one, never half of one, and a failure leaves nothing behind.

The content goes to a temporary file in the destination folder, is flushed and fsynced, then
renamed over the destination (atomic on POSIX within one file system), and the folder is fsynced
so the rename itself survives a power cut — an appliance's power may be pulled at any moment.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from appliance.errors import UsageError, disk_reason

log = logging.getLogger("foley.cache")
_unsaved_logged: set[str] = set()


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

    For writers that need a file name (encoders, muxers) rather than an open handle. An OSError
    from the block names `path` (not the temporary name, and not nothing, as a write's does), so
    that "no space left on device" says which file: the command line makes it one line
    (engine/score_cli.py); the service answers a full disk as such (507, a job's reason)."""
    path = Path(path)
    try:
        temp = temp_beside(path, ".tmp")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write here ({exc.strerror})") from None
    try:
        yield temp
        os.chmod(temp, mode)  # mkstemp makes files private; results and indexes are not secrets
        durable_replace(temp, path)
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename in (None, str(temp)):
            raise named_after(exc, path)
        raise


def durable_replace(temp: Path, target: Path) -> None:
    """Rename `temp`, a finished file in `target`'s folder (or another folder of its file
    system: a job's upload moved into its job, service/jobs.py), over `target` so that a power cut
    after this returns finds the new content under the new name: the content is fsynced before
    the rename (or the name could outlive its data), the folder after it (or the rename could
    be lost while an index written next already names the file)."""
    with open(temp, "rb+") as written:
        os.fsync(written.fileno())
    os.replace(temp, target)
    fsync_folder(target.parent if str(target.parent) else Path("."))


def durable_move(source: Path, target: Path) -> None:
    """`durable_replace`, also from another file system (a rename cannot cross one: EXDEV): the
    file is then copied beside `target` (fsynced, renamed over it) and `source` removed. A live
    recording written to a USB stick or a tmpfs /tmp is filed into the state folder this way."""
    try:
        durable_replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        with atomic_path(target) as temp:
            shutil.copyfile(source, temp)
        Path(source).unlink()


def named_after(exc: OSError, path: str | Path) -> OSError:
    """`exc` naming `path` as the file it failed on: itself, renamed, or where its name cannot
    be set (PyAV's errors) an OSError of the same errno (and so the same subclass). An OSError
    with no errno is left as it is: its message is its only argument, which a file name given
    to it would replace ("[Errno None] None: 'path'")."""
    if exc.errno is None:
        return exc
    try:
        exc.filename = str(path)
        return exc
    except AttributeError:
        return OSError(exc.errno, exc.strerror, str(path))


@contextmanager
def atomic_open(path: str | Path, binary: bool = False, mode: int = 0o644) -> Iterator[IO]:
    """An open file whose content replaces `path` only when the block ends without error."""
    with atomic_path(path, mode) as temp:
        with open(temp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
            yield handle


def write_json_atomic(path: str | Path, data) -> None:
    """`data` as JSON. NaN and infinity are refused (ValueError) before anything is written:
    Python would write them as the bare words NaN and Infinity, which no JSON reader takes."""
    text = json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as handle:
        handle.write(text + "\n")


def save_table(path: Path, array: np.ndarray) -> bool:
    """Store a table computed from shipped files (it only saves recomputing it) as .npy,
    atomically. A folder that cannot take it (read-only, full) is no failure: the table is used
    from memory this time, with a warning once per folder, and nothing is left behind.
    Returns whether it was stored."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, binary=True) as out:
            np.save(out, array)
    except (OSError, UsageError) as exc:  # UsageError: atomic_path could not make its temporary file
        reason = disk_reason(exc)
        if str(path.parent) not in _unsaved_logged:
            _unsaved_logged.add(str(path.parent))
            log.warning("computed tables cannot be kept in %s (%s): used from memory, computed again next time",
                        path.parent, reason)
        return False
    return True


def fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
