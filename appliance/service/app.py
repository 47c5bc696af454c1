"""The Flask application: `create_app(config, queue, ...)` with its dependencies injected.

Blueprints: `api`, `library_api`, `events_api`, `ops_api`, `play_api`, `worker_api` (HTTP API v1, JSON
errors) and `ui` (the web page); what they share (config, queue, the request's JobStore, JSON
errors) is in appliance.service.shared, which they import instead of this module. Tests build the app with
a real JobStore in a temp folder and a queue of their choosing; `foley serve` builds it with
the huey queue and serves it with waitress.
"""
from __future__ import annotations

import errno
import logging
import threading
import uuid
from pathlib import Path

from flask import Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from appliance.config import Config
from appliance.service.api import api
from appliance.service.board_audio import BoardAudio
from appliance.service.body_room import form_room, upload_limit
from appliance.service.events_api import events_api
from appliance.service.form_request import FormRequest
from appliance.service.gate import (ANSWER_HEADERS, MAX_FIELDS_BODY, RequestGate, RequestHead, upload_body_limit,
                                    upload_file_mb)
from appliance.service.hosts import HostAllowList
from appliance.service.jobs import JobStore
from appliance.service.library_api import library_api
from appliance.service.live_api import live_api
from appliance.service.live_control import LiveControl
from appliance.service.ops_api import ops_api
from appliance.service.play_api import play_api
from appliance.service.player import Player
from appliance.service.retention import JobRetention
from appliance.service.retired_sounds import RemovedSoundsPurger
from appliance.service.shared import Services, close_jobs
from appliance.service.status_api import status_api
from appliance.service.ui import CSP as PAGE_CSP, ui
from appliance.service.worker_api import most_result_bytes, result_limit, worker_api


log = logging.getLogger("foley.serve")
MAX_JSON_DEPTH = 32
MAX_INT_DIGITS = 18
"""Digits of the longest JSON integer read as an int (a 64-bit integer has at most 19)."""


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings ignored)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def bounded_int(digits: str) -> int | float:
    """A JSON integer: as Python's int when it has at most MAX_INT_DIGITS digits, else as a float
    (1e400 becomes inf). A 400-digit integer is valid JSON, and `float()` or `math.isfinite` of it
    raises OverflowError in whatever view reads the field (a 500); as a float it meets the
    views' checks for a finite number in range, as `1e400` always did."""
    return int(digits) if len(digits.lstrip("-")) <= MAX_INT_DIGITS else float(digits)


class BoundedJSON(DefaultJSONProvider):
    """Request bodies parsed as JSON are at most 1 MB and 32 levels deep: a body of 100,000
    nested `[` would otherwise exhaust the parser's recursion (a 500). Long integers are floats
    (`bounded_int`)."""

    def loads(self, s, **kwargs):
        text = s.decode("utf-8", "replace") if isinstance(s, (bytes, bytearray)) else s
        if len(text) > MAX_FIELDS_BODY:
            raise ValueError(f"JSON body over {MAX_FIELDS_BODY // 1024} KB")
        if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
            raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels")
        return super().loads(s, parse_int=bounded_int, **kwargs)


def create_app(config: Config, queue, service_folder: Path, token: str, notices: list[str] | None = None) -> Flask:
    """`queue` needs `submit(job_id)`; `service_folder` holds jobs.sqlite3 and the job folders;
    `notices` are what the start found wrong and repaired (shown on the page)."""
    app = Flask(__name__, static_folder=None)  # /static/ is the ui blueprint's
    app.request_class = FormRequest
    app.json = BoundedJSON(app)
    player = Player(config.live)
    purger = RemovedSoundsPurger(Path(service_folder), config.service.keep_removed_sounds_hours)
    retention = JobRetention(config, Path(service_folder), Path(service_folder).parent / "cache",
                             removed=player.stop, after=lambda count: purger.request())
    app.extensions["foley"] = Services(config, queue, Path(service_folder), token,
                                       threading.BoundedSemaphore(config.service.max_waiters), player, purger,
                                       retention, list(notices or []))
    app.extensions["foley-board"] = board = BoardAudio(player)  # who has the speaker: Live or Play
    app.extensions["foley-live"] = LiveControl(config, Path(service_folder).parent, board)
    results, results_lock = JobStore(service_folder), threading.Lock()  # creates the schema before the first request
    purger.request()  # what was removed while the service was down, or before a restart

    def result_bytes(job_id: str) -> int | None:
        """Asked by waitress's event loop and by the request threads: one connection, in turns."""
        with results_lock:
            return result_limit(results, job_id, config.engine.max_seconds)

    # From the configured limit, not the machine's: a job let in under a larger temporary folder
    # (before a restart) may still send its result, if the folder now holds it (the gate holds
    # every result's bound to `room`).
    largest_result = most_result_bytes(upload_body_limit(config.service.max_upload_mb), config.engine.max_seconds)
    room = form_room(config.service.min_free_mb)
    app.extensions["foley-gate"] = gate = RequestGate(
        HostAllowList(config.service.allowed_hosts), token, config.service.max_upload_mb, result_bytes, largest_result,
        upload_limit(config.service.max_upload_mb, room), room)
    if gate.upload_note:
        log.warning("uploads are limited to %g MB: %s", upload_file_mb(gate.max_upload_body), gate.upload_note)

    @app.before_request
    def gate_request():
        """Host, Origin, token and body size (gate.py), as waitress checks them before the body;
        the body is then read (a chunked one too) up to the same bound, the gate's `body_limit`."""
        content_type = request.headers.get("Content-Type", "")
        refusal = gate.refusal(RequestHead(
            request.method, request.path, request.remote_addr, request.environ.get("HTTP_HOST"),
            request.headers.get("Origin"), request.headers.get("Authorization", ""), request.cookies,
            content_type, request.content_length))
        if refusal:
            return jsonify(error=refusal.message), refusal.status
        request.max_content_length = gate.body_limit(content_type, request.path)
        return None

    @app.after_request
    def answer_headers(response):
        """ANSWER_HEADERS (gate.py) on every answer, errors and static files too; an HTML answer
        — the page, which is also served as /static/index.html — with the page's whole CSP."""
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        for name, value in ANSWER_HEADERS:
            response.headers.setdefault(name, value)
        return response

    @app.teardown_appcontext
    def close_store(_exc):
        close_jobs()

    @app.errorhandler(HTTPException)
    def json_error(exc: HTTPException):
        code, message = exc.code, exc.description
        if code == 413:
            content_type = request.headers.get("Content-Type", "")
            if (request.content_length or 0) > gate.body_limit(content_type, request.path):
                message = gate.too_large(content_type, request.path).message
            else:  # Werkzeug's own form limits, on a body the gate let through: the file was not the problem
                code, message = 400, (f"the form has too many fields or too long a text field: at most "
                                      f"{request.max_form_parts} parts, and {request.max_form_memory_size // 1024} KB "
                                      "in a field that is not a file")
        response = jsonify(error=message)
        for name, value in exc.get_headers():  # Allow (405), Retry-After, WWW-Authenticate...
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        """A bug: logged with its traceback, answered with a plain sentence (never the exception's
        text, which may hold paths or object reprs). A full disk is not a bug: a 507 like the
        uploads' own check (shared.py disk_full), whichever write ran into it."""
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            log.warning("the disk is full (%s %s)", request.method, request.path)
            return jsonify(error="the appliance's disk is full: delete old jobs or sounds and try again"), 507
        incident = uuid.uuid4().hex[:8]
        log.exception("unexpected error %s in %s %s", incident, request.method, request.path)
        return jsonify(error=f"the appliance hit an unexpected problem (logged as {incident}); "
                             "please try again"), 500

    for blueprint in (api, library_api, live_api, events_api, ops_api, play_api, status_api, worker_api, ui):
        app.register_blueprint(blueprint)
    return app

