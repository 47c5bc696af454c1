"""API v1 for operating the appliance: Prometheus metrics, the record button's availability,
and the token hand-over for the web page (login cookie; showing the token to a local user)."""
from __future__ import annotations

import sqlite3
import threading
import time

from flask import Blueprint, Response, jsonify, request

from appliance.capture.control import DaemonUnavailable, call
from appliance.engine.cache_recovery import open_cache, rebuild_cache
from appliance.errors import is_number
from appliance.os_text import one_line
from appliance.service.shared import error, jobs, services
from appliance.service.api import MAX_DESCRIPTION
from appliance.service.auth import COOKIE, is_loopback, token_matches
from appliance.service.jobs import DONE, FAILED, QUEUED, RUNNING

ops_api = Blueprint("ops_api", __name__)
PREVIEW_SECONDS = 120
MAX_PREVIEWS = 4
"""Camera previews streamed at once (each holds a server thread for up to PREVIEW_SECONDS; the
pool counts them, server.py): 34 streams took every thread and the page's requests timed out.
Past it, 503 with Retry-After (a page whose preview was refused shows it again at its next
reconnect, 110 s later)."""
_previews = threading.BoundedSemaphore(MAX_PREVIEWS)


def _token() -> str:
    return services().token


@ops_api.get("/metrics")
def metrics():
    store = jobs()
    lines = ["# HELP foley_jobs Jobs by state.", "# TYPE foley_jobs gauge"]
    lines += [f'foley_jobs{{state="{state}"}} {store.count(state)}' for state in (QUEUED, RUNNING, DONE, FAILED)]
    count, total = store.db.execute(
        "SELECT count(*), coalesce(sum(seconds), 0) FROM jobs WHERE state = ?", (DONE,)).fetchone()
    lines += ["# HELP foley_job_seconds Scoring time of finished jobs.", "# TYPE foley_job_seconds summary",
              f"foley_job_seconds_count {count}", f"foley_job_seconds_sum {total:.3f}",
              "# HELP foley_queue_depth Jobs waiting for a worker.", "# TYPE foley_queue_depth gauge",
              f"foley_queue_depth {store.count(QUEUED)}"]
    cache_folder = services().cache_folder
    try:
        cache = open_cache(cache_folder)
        try:
            counters = cache.stats()["counters"]
        finally:
            cache.close()
    except sqlite3.DatabaseError as exc:  # damaged after it was opened: rebuilt, counted from zero
        rebuild_cache(cache_folder, str(exc))
        counters = {}
    lines += ["# HELP foley_cache_total Cache lookups by level and outcome.", "# TYPE foley_cache_total counter"]
    for name, value in sorted(counters.items()):
        level, _, outcome = name.rpartition("_")
        lines.append(f'foley_cache_total{{level="{level}",outcome="{outcome}"}} {value}')
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")


@ops_api.get("/api/v1/record")
def record_status():
    try:
        status, _ = call("status")
    except DaemonUnavailable as exc:
        return jsonify(available=False, reason=str(exc))
    camera = status["camera"]
    return jsonify(available=camera["ok"], reason=None if camera["ok"] else f"no camera: {camera['error']}", **status)


@ops_api.post("/api/v1/record")
def record():
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        return error("the body must be a JSON object, e.g. {\"description\": \"door slam\", \"seconds\": 10}", 400)
    description, seconds = body.get("description"), body.get("seconds")
    if description is not None and not isinstance(description, str) or \
            seconds is not None and not is_number(seconds):
        return error("'description' must be text and 'seconds' a number", 400)
    description = one_line(description or "")
    if len(description) > MAX_DESCRIPTION:
        return error(f"description too long (at most {MAX_DESCRIPTION} characters)", 400)
    return _daemon("start", 202, **({"description": description} if description else {}),
                   **({"seconds": seconds} if seconds is not None else {}))


@ops_api.post("/api/v1/record/stop")
def record_stop():
    return _daemon("stop", 202)


@ops_api.post("/api/v1/record/cancel")
def record_cancel():
    return _daemon("cancel", 200)


def _daemon(command: str, status: int, **arguments):
    try:
        reply, _ = call(command, **arguments)
    except DaemonUnavailable as exc:
        return error(str(exc), 503)
    if not reply.pop("ok", False):
        return error(reply.get("error", "the capture daemon refused"), int(reply.get("status", 409)))
    response = jsonify(reply)
    response.status_code = status
    return response


@ops_api.get("/api/v1/preview.mjpg")
def preview():
    """The camera's live picture as MJPEG, at most capture.preview_fps frames a second and for at
    most PREVIEW_SECONDS (the page reconnects), so an open page cannot hold a server thread forever."""
    fps = max(0.5, services().config.capture.preview_fps)
    try:
        call("status")
    except DaemonUnavailable as exc:
        return error(str(exc), 503)
    if not _previews.acquire(blocking=False):
        return error(f"{MAX_PREVIEWS} camera previews are already being watched; try again shortly", 503,
                     **{"Retry-After": "10"})

    def frames():
        deadline = time.monotonic() + PREVIEW_SECONDS
        last = None
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                reply, jpeg = call("preview")
            except DaemonUnavailable:
                return
            if reply.get("ok") and reply["time"] != last:
                last = reply["time"]
                yield (b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(jpeg)).encode()
                       + b"\r\n\r\n" + jpeg + b"\r\n")
            time.sleep(max(0.0, 1.0 / fps - (time.monotonic() - started)))

    response = Response(frames(), mimetype="multipart/x-mixed-replace; boundary=frame",
                        headers={"Cache-Control": "no-store"})
    response.call_on_close(_previews.release)  # when the stream ends, or its client goes
    return response


@ops_api.post("/api/v1/login")
def login():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not token_matches(str(body.get("token", "")), _token()):
        return error("wrong token: it is printed on the appliance's console and shown on its own page", 401)
    response = Response(status=204)
    response.set_cookie(COOKIE, _token(), httponly=True, samesite="Strict", max_age=365 * 24 * 3600)
    return response


@ops_api.get("/api/v1/token")
def show_token():
    if not is_loopback(request.remote_addr):
        return error("the token is shown only on the appliance itself", 403)
    return jsonify(token=_token())
