"""Errors the appliance reports to users as a clear one-line message (CLI exit code 2, HTTP 4xx)."""
import errno


class UsageError(Exception):
    """Bad input from the user: a file, an argument or a setting the appliance cannot use."""


class ModelFileError(RuntimeError):
    """A bundled model file is missing or does not match its manifest."""


def is_number(value) -> bool:
    """Whether a value read from a request (JSON) is a number. A bool is not one, though Python
    makes it an int: checked with `isinstance(value, (int, float))`, `"seconds": true` was taken
    as 1 s."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_text(value) -> bool:
    """Whether a value read from a request (JSON) is a string that can be written as UTF-8.
    JSON lets a request carry a lone surrogate ("\\ud800"): as a recording's description it let
    the recording start and then lost the clip when it was written; as a worker's progress stage
    it was a 500 from SQLite."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


DISK_FULL = "no space left on the device"
_DISK_ERRNOS = {errno.ENOSPC: DISK_FULL, errno.EDQUOT: "the disk quota is used up",
                errno.EFBIG: "the file would be too large for the disk", errno.EROFS: "the disk is read-only"}
WRITE_ERRNOS = frozenset(_DISK_ERRNOS)
"""Failures of a write that are the disk's, not the program's: a one-line error for the user."""


def disk_reason(exc: BaseException) -> str:
    """Why a write failed, in words for a user: an OSError by its errno, SQLite's full or
    unwritable disk (it says "database or disk is full", or on a full tmpfs "disk I/O error",
    with no errno) as the same words."""
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        return _DISK_ERRNOS[exc.errno]
    text = str(exc)
    if "disk is full" in text:
        return DISK_FULL
    if "disk I/O error" in text:
        return f"{DISK_FULL}, or the disk failed (SQLite: {text})"
    if "readonly database" in text:
        return "the disk or the folder is read-only"
    return (exc.strerror if isinstance(exc, OSError) else None) or text or type(exc).__name__


def write_failure(exc: OSError) -> str | None:
    """The line "cannot write FILE: no space left on the device" for a write the disk refused (WRITE_ERRNOS),
    else None (not the disk's fault: a bug, to be shown as one)."""
    if exc.errno not in WRITE_ERRNOS:
        return None
    return f"cannot write {exc.filename}: {disk_reason(exc)}" if exc.filename else disk_reason(exc)
