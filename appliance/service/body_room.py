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
connection closes. Its answer, from the headers alone:
- 413 when the folder could not hold it even empty (its whole size, less service.min_free_mb):
  no retry can help, so a client (the capture outbox) gives the clip up instead of retrying;
- 507 when the folder's free space could not hold it even once the bodies being received now
  are gone (a disk or tmpfs filled by something else);
- 503 with Retry-After when only those bodies leave no room for it now.
A reservation counts what its body still has to bring: the bytes waitress has received so far
are already out of the folder's free space. Werkzeug's copy is not seen as it is written, so
while a view copies an upload's file the room is short of up to that file's size: a busy folder
refuses a little early, never late.

A folder smaller than twice service.max_upload_mb (a tmpfs is half the RAM by default: about
460 MB on a 1 GB board, less the 200 MB reserve) would refuse every upload between what it can
hold and that limit with the 413 above, while the service said it took up to max_upload_mb. So
the service's upload limit is `upload_limit`: the lower of the two, computed here from the same
arithmetic as `reserve`'s 413 (`form_room`), held and stated by the gate (its 413 names it) and
checked by `foley doctor`. A fleet worker's result is such a form too, bounded by what its job
can produce: the gate holds that bound to `form_room` the same way (the result of a long clip
outgrows a tmpfs long before its clip does).
"""
from __future__ import annotations

import shutil
import tempfile
import threading
from typing import Callable

from appliance.config import MB
from appliance.service.gate import Refusal, held_to, upload_body_limit

MULTIPART = "multipart/form-data"
RETRY_AFTER_S = 10


class Reservation:
    """Bytes held for one body: `size` in all, of which `received()` are stored already."""

    def __init__(self, room: "BodyRoom | MemoryRoom", size: int, received: Callable[[], int]):
        self.room, self.size, self.received = room, size, received

    def outstanding(self) -> int:
        return max(0, self.size - self.received())

    def release(self) -> None:
        """Give the bytes back (any number of times, from any thread: once counts)."""
        self.room._give_back(self)


class BodyRoom:
    """The reservations of the bodies being received, against the temporary folder's space."""

    def __init__(self, min_free_bytes: int, folder: str | None = None):
        self.min_free_bytes = min_free_bytes
        self.folder = folder
        self._live: set[Reservation] = set()
        self._lock = threading.Lock()

    def reserve(self, size: int, received: Callable[[], int] = lambda: 0,
                declared: bool = True) -> Reservation | Refusal:
        """`size` bytes for a body (`declared`: its length was announced, not estimated), of
        which `received()` have arrived; or the refusal to answer it with."""
        usage = self._usage()
        if declared and size > self.capacity(usage):
            return Refusal(413, f"too large for this appliance: receiving it takes {size / MB:.0f} MB of its "
                                f"temporary folder, which holds {usage.total / MB:.0f} MB in all "
                                f"({self.min_free_bytes / MB:.0f} MB of it kept free)")
        with self._lock:
            outstanding = sum(reservation.outstanding() for reservation in self._live)
            if usage.free - outstanding - size >= self.min_free_bytes:
                reservation = Reservation(self, size, received)
                self._live.add(reservation)
                return reservation
            arrived = sum(reservation.received() for reservation in self._live)
        if usage.free + arrived - size < self.min_free_bytes:
            hint = "" if declared else " (a chunked body is counted at its limit: send it with a Content-Length)"
            return Refusal(507, f"not enough room on the appliance to receive this request: {usage.free / MB:.0f} MB "
                                f"free for request bodies, {(size + self.min_free_bytes) / MB:.0f} MB needed with "
                                f"the reserve (service.min_free_mb){hint}")
        return Refusal(503, f"the requests being received now hold {outstanding / MB:.0f} MB of the room for request "
                            "bodies; try again shortly", retry_after=RETRY_AFTER_S)

    def _usage(self):
        return shutil.disk_usage(self.folder or tempfile.gettempdir())

    def capacity(self, usage=None) -> int:
        """The most bytes one body may ever take in the folder: all of it, less the reserve.
        `reserve` refuses anything larger with 413 (no retry can help)."""
        return (usage or self._usage()).total - self.min_free_bytes

    def largest_body(self, content_type: str) -> int:
        """The longest body of this type (as sent) that the folder could ever hold."""
        return max(0, self.capacity() // copies_stored(content_type))

    def _give_back(self, reservation: Reservation) -> None:
        with self._lock:
            self._live.discard(reservation)


class MemoryRoom:
    """The bodies waitress keeps in memory (announced at most its `inbuf_overflow`), held to
    `capacity` bytes in all: 503 with Retry-After past it. The open routes' bodies are a few KB
    (gate.OPEN_BODY), but a client with the token (or a process on the board) could otherwise
    have each of the 2000 connections hold a body just under the overflow, half sent."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._live: set[Reservation] = set()
        self._lock = threading.Lock()

    def reserve(self, size: int) -> Reservation | Refusal:
        with self._lock:
            held = sum(reservation.size for reservation in self._live)
            if held + size <= self.capacity:
                reservation = Reservation(self, size, lambda: 0)
                self._live.add(reservation)
                return reservation
        return Refusal(503, f"the requests being received now hold {held / MB:.0f} MB of the memory for request "
                            "bodies; try again shortly", retry_after=RETRY_AFTER_S)

    def _give_back(self, reservation: Reservation) -> None:
        with self._lock:
            self._live.discard(reservation)


def copies_stored(content_type: str) -> int:
    """How many times a body is in the temporary folder while its request lasts: a multipart
    form twice (waitress's copy and Werkzeug's copy of its file), any other body once."""
    return 2 if content_type.strip().lower().startswith(MULTIPART) else 1


def stored_size(content_type: str, content_length: int | None, limit: int) -> int:
    """What a body takes in the temporary folder while its request lasts (`copies_stored`); a
    chunked body (`content_length` None) counted at its `limit`."""
    return copies_stored(content_type) * (limit if content_length is None else content_length)


def form_room(min_free_mb: float, folder: str | None = None) -> tuple[int, str]:
    """The longest multipart form (an upload, a worker's result) the temporary folder could ever
    hold (`BodyRoom.largest_body`), and why, for a limit that is this to state (gate.held_to).
    Read from the folder's size when asked: the service asks once, when it starts (a tmpfs
    resized later is still guarded by `reserve`). The reason names no path: clients read it in
    the gate's 413."""
    room = BodyRoom(int(min_free_mb * MB), folder)
    return room.largest_body(MULTIPART), (
        f"its temporary folder, where uploads are received, holds {room._usage().total / MB:.0f} MB; an upload "
        f"takes twice its size there, and service.min_free_mb ({min_free_mb:g} MB) is kept free")


def upload_limit(max_upload_mb: float, room: tuple[int, str]) -> tuple[int, str]:
    """The bytes an upload's body (a multipart form) may have on this machine, and why when that
    is under service.max_upload_mb's bound ("" when it is not): no more than the temporary folder
    could ever hold of one (`room`, from `form_room`)."""
    limit, why = held_to(upload_body_limit(max_upload_mb), room)
    return limit, why and f"{why}; service.max_upload_mb is {max_upload_mb:g}"
