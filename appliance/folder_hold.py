"""One process at a time on a state folder: an exclusive flock of a file in it, held until the
process ends (the kernel drops it however the process ends: no stale lock after a crash), the
holder's pid written in the file so a refusal can name it."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from appliance.errors import UsageError


def hold_folder(folder: Path, lock_name: str, who: str, stop_hint: str) -> None:
    """Take `folder` for this process (`lock_name` in it), or a UsageError saying that another
    `who` (its pid) has it and how to stop it. Children made by fork share the hold; programs
    started by exec do not get the file."""
    fd = os.open(Path(folder) / lock_name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise UsageError(f"another {who} (pid {holder}) is running on {folder}; stop it first ({stop_hint})") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
