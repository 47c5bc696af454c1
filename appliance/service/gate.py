"""Who may send a request, and how large its body may be, decided from its headers alone.

Three refusals, in this order: a Host that is not one of the appliance's names (421, DNS
rebinding: hosts.py), a write from a page of another site (403, its Origin names another
host), and a request from another machine without the API token (401, auth.py). And one bound:
only a multipart form to an upload route (a clip, a sound) may carry up to `service.max_upload_mb`,
a fleet worker's result what its job can produce (`result_limit`, worker_api.py), each less
where the temporary folder could never hold a form that large (`held_to`: body_room.form_room,
upload_limit); every other body (JSON, a form of fields) at most MAX_FIELDS_BODY.

The same `RequestGate` answers twice. Flask asks it before each view (app.py), which is what
the test client and any other WSGI server get. Waitress asks it as soon as a request's headers
are in, before the body is read (server.py `guarded_channel`): waitress otherwise stores the
whole body, up to its own limit, in a temporary file before the application sees the request,
so anyone on the LAN, token or not, could have the board write gigabytes to disk (or hold a
200 MB JSON body in memory) only to be told 401 or 413 afterwards.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from appliance.config import MB
from appliance.service.auth import is_loopback, presented_token, token_matches
from appliance.service.hosts import HostAllowList

OPEN_PATHS = ("/", "/healthz", "/api/v1/login")
"""Reachable without the token: health checks, the page itself (it asks for the token), and login."""
MAX_FIELDS_BODY = 1024 * 1024
"""Bytes of a body that is not a multipart upload (the JSON parser's own limit, app.py)."""
OPEN_BODY = 4 * 1024
"""Bytes of any body sent to an open route (OPEN_PATHS, /static/): login's token is all any of
them takes. With the 1 MB of MAX_FIELDS_BODY, anyone on the LAN, token or not, could have the
service hold ~1 GB of half-sent login bodies over its 2000 connections, or reserve the room for
uploads with bodies never sent (docs/benchmarks.md, "Reliability")."""
MULTIPART_OVERHEAD = 1024 * 1024
"""Room for a multipart form's boundaries, headers and text fields beside its files."""
READS = ("GET", "HEAD", "OPTIONS")
CLIP_UPLOAD_PATH = "/api/v1/score"
SOUND_UPLOAD_PATH = "/api/v1/library"
UPLOAD_PATHS = (CLIP_UPLOAD_PATH, SOUND_UPLOAD_PATH)
"""The routes that take a file (a clip, a sound) from a multipart form."""
MAX_SOUND_MB = 32
"""A sound file's limit (a template lasts at most library.audio_io.MAX_DURATION: 30 s of 96 kHz
stereo 32-bit float is 23 MB). A sound's form is held to it from its headers, as a clip's to the
upload limit: checked in the view, it was stored whole (up to the clip's 200 MB) first."""
RESULT_PATH = re.compile(r"/api/v1/jobs/([0-9a-f]{16})/result")
"""A fleet worker's result upload: the WAV, the MP4 and the mix of one job."""
ANSWER_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Content-Security-Policy", "frame-ancestors 'none'"),
                  ("Cross-Origin-Resource-Policy", "same-origin"))
"""What every answer carries unless it sets its own (the page has its whole CSP, ui/__init__.py),
the gate's refusals included (server.py): no browser takes a sound, a result, a worker's file or
an error quoting a client's words for HTML or a script, and no other site frames any of it. The
page's file was also served, framable, as /static/index.html: a working copy of the page that
any site could frame — on the board itself, where loopback needs no token, to have its buttons
clicked through a decoy (clickjacking). Nor does another site embed any of it: CORS keeps its
scripts from reading an answer, but not its <img>, <audio> or <script> from loading one (a
no-cors load, which needs no token from the board itself), into the page or, through side
channels, into its process; same-origin refuses those, and the page loads everything it uses
from the appliance itself. Nothing stricter: a `sandbox` or `default-src 'none'` policy stops a
result or a sound opened in a tab of its own from loading into its player."""


@dataclass(frozen=True)
class Refusal:
    """A request turned away: its HTTP status and the sentence the client gets as JSON."""

    status: int
    message: str
    retry_after: int | None = None
    """Seconds a client should wait before trying again (sent as Retry-After), for a refusal
    that passes."""


@dataclass(frozen=True)
class RequestHead:
    """What the gate reads of a request: its method, path and a few headers, and where it came from."""

    method: str
    path: str
    remote_address: str | None
    host: str | None = None
    origin: str | None = None
    authorization: str = ""
    cookies: dict | None = None
    content_type: str = ""
    content_length: int | None = None


def is_open(path: str) -> bool:
    """Whether `path` is reachable without the token (OPEN_PATHS and the page's static files)."""
    return path in OPEN_PATHS or path.startswith("/static/")


def upload_body_limit(max_upload_mb: float) -> int:
    """Bytes of an upload's whole body (a multipart form): the file's limit plus MULTIPART_OVERHEAD."""
    return int(max_upload_mb * MB) + MULTIPART_OVERHEAD


def held_to(bound: int, room: tuple[int, str]) -> tuple[int, str]:
    """A form's `bound` by its route's rule, or less on this machine: `room`, the longest form
    the temporary folder could ever hold and why (body_room.form_room), where that is shorter;
    with the reason for a 413 to state ("" when the rule's bound stands). A form over it is
    refused by the folder anyway (body_room's 413, which states no limit); the gate refuses it
    first, the limit named, for an upload and a worker's result alike."""
    largest, why = room
    return (bound, "") if bound <= largest else (largest, why)


def megabytes(size: int) -> float:
    """`size` bytes in MB, to 0.1 MB (as the 413s and `foley doctor` state a limit)."""
    return round(size / 1024 ** 2, 1)


def upload_file_mb(max_upload_body: int) -> float:
    """The largest file an upload body of `max_upload_body` bytes may bring, in MB (what the 413
    and `foley doctor` state): the body less the form's MULTIPART_OVERHEAD, to 0.1 MB."""
    return megabytes(max(0, max_upload_body - MULTIPART_OVERHEAD))


class RequestGate:
    """The refusals above for one service: its names, its token, its upload limit, and
    `result_limit`: the bytes a worker's result for a job id may have (None: no such job), at
    most `largest_result` for any job. `upload` is the upload limit on this machine and why it
    is under max_upload_mb's (body_room.upload_limit: the temporary folder's size), when it is;
    `room` the longest form that folder could ever hold and why (body_room.form_room), which
    holds a result's bound as `upload` holds max_upload_mb's (`held_to`)."""

    def __init__(self, hosts: HostAllowList, token: str, max_upload_mb: float,
                 result_limit: Callable[[str], int | None] = lambda job_id: None, largest_result: int = 0,
                 upload: tuple[int, str] | None = None, room: tuple[int, str] = (sys.maxsize, "")):
        self.hosts = hosts
        self.token = token
        self.max_upload_body, self.upload_note = upload or (upload_body_limit(max_upload_mb), "")
        self.result_limit = result_limit
        self.largest_result, _ = held_to(largest_result, room)
        self.room = room

    def refusal(self, head: RequestHead) -> Refusal | None:
        if not self.hosts.allows(head.host):
            return Refusal(421, f"this appliance does not answer to the host name {(head.host or '')[:100]!r}; "
                                "use its own name or address, or add the name to service.allowed_hosts "
                                "in the config")
        if head.method not in READS and head.origin and urlsplit(head.origin).netloc != head.host:
            return Refusal(403, f"cross-site request from {head.origin[:100]} refused")
        if not (is_loopback(head.remote_address) or is_open(head.path)
                or token_matches(presented_token({"Authorization": head.authorization}, head.cookies or {}), self.token)):
            return Refusal(401, "an API token is required from other machines: send "
                                "'Authorization: Bearer TOKEN' (the token is shown on the appliance's console)")
        if head.content_length is not None and head.content_length > self.body_limit(head.content_type, head.path):
            return self.too_large(head.content_type, head.path)
        return None

    def result_bound(self, path: str) -> tuple[int, str] | None:
        """The bytes a worker's result sent to `path` may have, from what its job can produce,
        held to the room (`held_to`), and why when the room is less; None for any other path,
        or a job the service does not have."""
        job = RESULT_PATH.fullmatch(path)
        bound = self.result_limit(job[1]) if job else None
        return None if bound is None else held_to(bound, self.room)

    def body_limit(self, content_type: str, path: str = "") -> int:
        """Bytes a body of this type sent to `path` may have: for a multipart form to an upload
        route (UPLOAD_PATHS) the upload limit, to a worker's result route its job's bound; any
        other body MAX_FIELDS_BODY. The one bound of a request: waitress's parser (server.py)
        and Flask's `max_content_length` (app.py) both hold a body to it, so neither refuses
        what the other lets through. Only routes that take files may bring large bodies: a
        multipart form to the open login (or any other route) was allowed the upload limit, so
        anyone on the LAN, token or not, could hold the room for request bodies
        (body_room.py) with a few connections that never sent their bodies."""
        if is_open(path):
            return OPEN_BODY
        if content_type.strip().lower().startswith("multipart/form-data"):
            if path in UPLOAD_PATHS:
                return self.upload_bound(path)
            bound = self.result_bound(path)
            if bound is not None:
                return bound[0]
        return MAX_FIELDS_BODY

    def upload_bound(self, path: str) -> int:
        """An upload route's form limit: a clip's the upload limit, a sound's at most MAX_SOUND_MB's."""
        if path == SOUND_UPLOAD_PATH:
            return min(self.max_upload_body, upload_body_limit(MAX_SOUND_MB))
        return self.max_upload_body

    def largest_body(self) -> int:
        """The largest `body_limit` of any request (waitress's own cap is set from it, server.py)."""
        return max(self.max_upload_body, self.largest_result, MAX_FIELDS_BODY)

    def too_large(self, content_type: str, path: str = "") -> Refusal:
        if is_open(path):
            return Refusal(413, f"request body too large: {path} takes at most {OPEN_BODY // 1024} KB")
        if content_type.strip().lower().startswith("multipart/form-data"):
            if path in UPLOAD_PATHS:
                bound = self.upload_bound(path)
                note = f" on this appliance: {self.upload_note}" if self.upload_note and bound == self.max_upload_body \
                    else ""
                what = "sound file" if path == SOUND_UPLOAD_PATH else "upload"
                return Refusal(413, f"{what} too large: the limit is {upload_file_mb(bound):g} MB{note}")
            bound = self.result_bound(path)
            if bound is not None:
                limit, why = bound
                note = f" on this appliance: {why}" if why else " (what this job's files can come to)"
                return Refusal(413, f"result too large: the limit is {megabytes(limit):g} MB{note}")
        return Refusal(413, f"request body too large: only an upload (multipart/form-data to "
                            f"{' or '.join(UPLOAD_PATHS)}) may exceed {MAX_FIELDS_BODY // 1024} KB")
