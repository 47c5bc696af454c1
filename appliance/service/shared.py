"""The app's shared objects and helpers, in one place the blueprints import.

`create_app` (app.py) builds a `Services` and imports the blueprints; the blueprints import only
this module for what they share — the config, the queue, the state folder, the request's
JobStore, JSON errors — so there is no import cycle between app.py and the blueprints.
"""
from __future__ import annotations

import re
import tempfile
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, g, jsonify, request

from appliance.config import MB, Config
from appliance.service.jobs import JobStore, folder_lock
from appliance.service.retired_sounds import RemovedSoundsPurger
from appliance.service.player import Player
from appliance.service.retention import JobRetention
from appliance.service.state import room_for

_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")
_TEMP_NAME = re.compile(r"\b(?:upload|analysis|tmp)[-_]?[a-z0-9_]{6,}(?:\.npz)?\b")


@dataclass
class Services:
    """What every request may need, built once by create_app."""

    config: Config
    queue: object  # submit(job_id)
    folder: Path  # the service folder: jobs.sqlite3, job folders, uploads in progress
    token: str
    waiters: threading.BoundedSemaphore  # slots for ?wait=1 requests
    player: Player  # the result playing on the board's audio output, if any
    purger: RemovedSoundsPurger  # deletes removed sounds no kept job uses (after a job is deleted)
    retention: JobRetention  # removes the oldest jobs when the disk runs short (service/retention.py)
    notices: list[str] = field(default_factory=list)  # what the start found broken and repaired
    admission: threading.Lock = field(default_factory=threading.Lock)  # guards `admitting`
    admitting: int = 0  # uploads being checked and stored right now (count towards max_waiting)

    @property
    def cache_folder(self) -> Path:
        return self.folder.parent / "cache"


def services() -> Services:
    return current_app.extensions["foley"]


def service_folder() -> Path:
    """The service's folder (jobs database, job folders, uploads in progress)."""
    return services().folder


def jobs() -> JobStore:
    """The request's JobStore (one SQLite connection per request thread; closed by the app's
    teardown)."""
    if "jobs" not in g:
        g.jobs = JobStore(services().folder)
    return g.jobs


def close_jobs() -> None:
    store = g.pop("jobs", None)
    if store is not None:
        store.db.close()


def public_message(message: str) -> str:
    """A message fit for a client: no Python object reprs, no server paths or temporary names
    (they tell an attacker about the box and a user nothing)."""
    message = _OBJECT_REPR.sub("the data", message)
    roots = {tempfile.gettempdir()}
    try:
        roots |= {str(service_folder().parent), str(service_folder())}
    except RuntimeError:  # outside a request
        pass
    for root in sorted(roots, key=len, reverse=True):
        message = re.sub(re.escape(root) + r"/[^\s'\"(),:]*", "the file", message)
    message = _TEMP_NAME.sub("the upload", message)
    return message.strip() or "the request could not be served"


def missing_fields(what: str):
    """The 400 for an upload whose required `what` is missing, telling apart a form that could
    not be read at all (form_request.py: Werkzeug reads a multipart form whose part headers are
    not UTF-8 as an empty one), for which "field 'video' is required" would send the user
    looking for a field they did send."""
    if getattr(request, "form_unreadable", False):
        return error("the multipart form could not be read: a part's headers (its file name?) are not "
                     "UTF-8 text, or the form is malformed; rename the file or send it again", 400)
    return error(what, 400)


def not_utf8(*names: str):
    """The 400 for the first of these form fields whose bytes were not UTF-8, or None. Werkzeug
    decodes form values with replacement, so Latin-1 text arrives with U+FFFD where its accents
    were: stored, it would be a guess, not what the user typed (a clip's description, a sound's
    words)."""
    mangled = next((name for name in names if "\ufffd" in request.form.get(name, "")), None)
    if mangled:
        return error(f"field {mangled!r} holds bytes that are not UTF-8 text; send it as UTF-8", 400)
    return None


def error(message: str, status: int, **headers):
    response = jsonify(error=public_message(message))
    response.status_code = status
    response.headers.update(headers)
    return response


def disk_full(upload_bytes: int, factor: float):
    """None when the state folder's disk has room for this work (the upload times `factor`, for
    what it becomes, plus service.min_free_mb); else the 507 JSON saying how much is free and
    needed. The cache's stored results are evicted first when that makes the room."""
    foley = services()
    enough, free, needed = room_for(foley.folder, int(upload_bytes * factor), foley.config.service.min_free_mb,
                                    foley.cache_folder)
    if enough:
        return None
    # The service keeps room for one more upload by removing the oldest jobs (retention.py), a
    # few seconds after the disk runs short, when their removal frees enough.
    made_soon = foley.config.service.old_jobs_make_room and needed <= foley.retention.wanted_free()
    advice = ("the oldest finished jobs are removed to make room when that can free it, within seconds: try "
              "again shortly, or delete jobs or sounds" if made_soon else "delete old jobs or sounds and try again")
    response = jsonify(error=f"not enough free disk space on the appliance: {free / MB:.0f} MB free, "
                             f"{needed / MB:.0f} MB needed; {advice}",
                       free_mb=round(free / MB, 1), needed_mb=round(needed / MB, 1))
    response.status_code = 507
    return response


def job_lock(job_id: str):
    """The job folder's lock (one re-mix or delete of a job at a time): jobs.folder_lock."""
    return folder_lock(jobs().job_dir(job_id))


def client_file_label(raw: str | None) -> str:
    """The client's file name, for display only (never used as a path): printable, short."""
    name = unicodedata.normalize("NFC", (raw or "upload").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(c for c in name if c.isprintable() and c not in "\x00")
    return name[:100] or "upload"
