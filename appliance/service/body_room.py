"""Room for the request bodies being received, reserved from their headers before a byte is stored.

Waitress keeps a body larger than its `inbuf_overflow` (512 KB) in a temporary file, and
Werkzeug copies the file part of a multipart form to another one while the view reads it: until
its request ends, an upload takes about twice its size in the temporary folder (tempfile's,
$TMPDIR). On Debian trixie that folder is a tmpfs, so those bytes are the board's RAM. The gate
bounds one body (service.max_upload_mb); nothing bounded how many were held at once, nor
checked the folder's room. Measured with $TMPDIR on an 8 MB disk: a 9 MB upload filled it in
waitress's event loop and the client's connection was reset mid-body, with no answer; a 6 MB
one was stored, then Werkzeug's copy ran out of room (an ENOSPC traceback in the log) and the
client was told the state disk was full. On a tmpfs, the board's memory was held all the while.

So a body waitress may store (chunked, or announced over `inbuf_overflow`) reserves what it
will take there — twice its length for a multipart form, its length otherwise, a chunked one
counted at its limit — when its headers are in, and gives it back when its request ends or its
connection closes. A body the folder cannot hold while keeping service.min_free_mb free gets
507 at once; one that only the bodies being received now leave no room for gets 503 and
Retry-After. The folder's free space already counts the part of those bodies written so far,
so a busy folder refuses a little early, never late.
"""
from __future__ import annotations

import shutil
import tempfile
import threading

from appliance.service.gate import Refusal

MB = 1024 * 1024
RETRY_AFTER_S = 10


class Reservation:
    """Bytes held for one body; `release` gives them back (once, whoever calls it first)."""

    def __init__(self, room: "BodyRoom", size: int):
        self._room, self.size = room, size

    def release(self) -> None:
        room, self._room = self._room, None
        if room is not None:
            room._give_back(self.size)


class BodyRoom:
    """The bytes reserved for bodies in the temporary folder, against its free space."""

    def __init__(self, min_free_bytes: int, folder: str | None = None):
        self.min_free_bytes = min_free_bytes
        self.folder = folder
        self._reserved = 0
        self._lock = threading.Lock()

    @property
    def reserved(self) -> int:
        with self._lock:
            return self._reserved

    def reserve(self, size: int) -> Reservation | Refusal:
        """`size` bytes for a body, or the refusal to answer it with."""
        free = shutil.disk_usage(self.folder or tempfile.gettempdir()).free
        with self._lock:
            if free - self._reserved - size >= self.min_free_bytes:
                self._reserved += size
                return Reservation(self, size)
            held = self._reserved
        if free - size < self.min_free_bytes:
            return Refusal(507, f"not enough room on the appliance to receive this request: {free / MB:.0f} MB "
                                f"free for request bodies, {(size + self.min_free_bytes) / MB:.0f} MB needed "
                                "with the reserve (service.min_free_mb)")
        return Refusal(503, f"the requests being received now hold {held / MB:.0f} MB of the room for request "
                            "bodies; try again shortly", retry_after=RETRY_AFTER_S)

    def _give_back(self, size: int) -> None:
        with self._lock:
            self._reserved -= size


def stored_size(content_type: str, content_length: int | None, limit: int) -> int:
    """What a body takes in the temporary folder while its request lasts: a multipart form twice
    (waitress's copy and Werkzeug's copy of its file), any other body once; a chunked body
    (`content_length` None) counted at its `limit`."""
    length = limit if content_length is None else content_length
    return 2 * length if content_type.strip().lower().startswith("multipart/form-data") else length
