"""API v1 for the page's Live switch: turn live mode on and off, and listen to its actions.

`GET /api/v1/live/events` is a Server-Sent Events stream holding a request thread while it
lasts; the server's pool has MAX_LISTENERS threads more for them (server.py), a listener past
that gets 503, and a stream ends when live mode stops, after STREAM_SECONDS (EventSource
reconnects by itself), or at its first failed write (a keep-alive every KEEPALIVE_S finds a
page that went away). So listening pages never take the threads that serve the page.
"""
from __future__ import annotations

import queue
import time

from flask import Blueprint, Response, current_app, jsonify, request

from appliance.capture.cameras import CameraLost
from appliance.os_text import one_line
from appliance.service.live_control import RECORD_BYTES_PER_S, Busy, LiveControl, Refused, sse
from appliance.service.shared import disk_full, error

live_api = Blueprint("live_api", __name__)
STREAM_SECONDS = 300
KEEPALIVE_S = 10.0


def control() -> LiveControl:
    return current_app.extensions["foley-live"]


@live_api.get("/api/v1/live")
def live_state():
    return jsonify(control().state())


@live_api.post("/api/v1/live")
def live_switch():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("on"), bool):
        return error("the body must be a JSON object like {\"on\": true, \"description\": \"knocking\"}", 400)
    description = body.get("description")
    if "description" in body and not isinstance(description, str):
        return error("'description' must be text", 400)
    try:
        return jsonify(control().switch(body["on"], one_line(description or "")[:500] or None))
    except CameraLost as exc:
        return error(f"live mode needs the camera daemon's picture: {exc}", 503)


@live_api.post("/api/v1/live/record")
def live_record():
    """Record while live: the performance (picture and the sound played) into the history."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("on"), bool):
        return error("the body must be a JSON object like {\"on\": true}", 400)
    live = control()
    if body["on"] and live.state()["recording"] is None:
        full = disk_full(int(live.config.live.max_record_seconds * RECORD_BYTES_PER_S), 1.0)
        if full is not None:
            return full
    try:
        return jsonify(live.record(body["on"]))
    except Refused as exc:
        return error(str(exc), exc.status)


@live_api.get("/api/v1/live/events")
def live_events():
    live = control()
    if not live.state()["on"]:
        return Response(status=204)  # EventSource stops reconnecting on 204
    try:
        listener = live.relay.join()
    except Busy as exc:
        return error(str(exc), 503, **{"Retry-After": "10"})
    if not live.state()["on"]:  # it stopped meanwhile: its streams are already ended
        live.relay.leave(listener)
        return Response(status=204)

    def stream():
        try:
            yield b"retry: 2000\n\n"
            deadline = time.monotonic() + STREAM_SECONDS
            while time.monotonic() < deadline:
                try:
                    message = listener.messages.get(timeout=KEEPALIVE_S)
                except queue.Empty:
                    yield b": keep-alive\n\n"
                    continue
                if message is None:
                    yield sse({"type": "end"})
                    return
                yield sse(message)
        finally:
            live.relay.leave(listener)

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
