"""The OpenAPI 3.1 description of API v1, served at /api/v1/openapi.json.

Written by hand next to the routes; the tests compare its paths with the app's registered routes,
and check that every status and content type the routes answer a varied set of requests with
(good, bad and hostile) is declared here, so the document cannot silently fall behind the code.
"""
from __future__ import annotations

from appliance import __version__
from appliance.service.worker_api import WORKER

ERROR_SCHEMA = {"$ref": "#/components/schemas/Error"}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}
ERRORS = {
    400: "bad request: a field, the JSON body (over 1 MB or nested over 32 levels) or a header",
    401: "an API token is required from other machines",
    403: "refused: a cross-site write, or the token asked for from another machine",
    404: "no such job, template, event or file",
    405: "method not allowed (the Allow header lists the allowed ones)",
    409: "conflict: the job is not finished, is running, or is held by another worker",
    410: "the job was deleted while this request waited for it",
    413: "the upload is over the limit",
    415: "the upload is not a usable video",
    421: "the Host header names a host this appliance does not answer to",
    422: "scoring failed (with ?wait=1): the reason",
    500: "an unexpected fault, with an incident id that is in the service's log",
    503: "busy or unavailable: the queue or the waiting slots are full, the camera daemon is absent, "
         "or the appliance has no audio output",
    504: "still scoring when the wait limit was reached; poll the job",
    507: "not enough free disk space (free_mb, needed_mb)",
}
# Every route can answer these: another Host (421), a wrong method (405), a fault (500).
COMMON = (405, 421, 500)


def _error(status: int) -> dict:
    response = {"description": ERRORS[status], "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    if status == 405:
        response["headers"] = {"Allow": {"description": "the allowed methods", "schema": {"type": "string"}}}
    if status == 503:
        response["headers"] = dict(RETRY_AFTER)
    return response


def _json(schema: dict | None = None, description: str = "OK", headers: dict | None = None) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}
    if headers:
        response["headers"] = headers
    return response


def _binary(media_type: str, description: str = "the file") -> dict:
    return {"description": description, "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}


NO_CONTENT = {"description": "done (no body)"}


def _op(summary: str, ok: dict, errors=(), body: dict | None = None, params: list | None = None,
        open_: bool = False, write: bool = False) -> dict:
    """An operation answering `ok` ({status: response}) or the JSON errors listed, plus 401
    (unless open to all), 403 (writes: cross-site), 413 (a body) and the COMMON ones."""
    statuses = set(errors) | set(COMMON) | ({401} if not open_ else set()) | ({403, 413} if write else set())
    responses = {str(k): v for k, v in ok.items()} | {str(s): _error(s) for s in sorted(statuses)}
    operation = {"summary": summary, "responses": dict(sorted(responses.items()))}
    if open_:
        operation["security"] = []
    if body:
        operation["requestBody"] = body
    if params:
        operation["parameters"] = params
    return operation


def _path_param(name: str, kind: str = "string") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def _multipart(properties: dict, required: list[str]) -> dict:
    return {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": properties, "required": required}}}}


def _json_body(properties: dict, required: list[str]) -> dict:
    return {"required": bool(required), "content": {"application/json": {"schema": {
        "type": "object", "properties": properties, "required": required}}}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


JOB = [_path_param("job_id")]
TEMPLATE = [_path_param("template_id")]
EVENT = JOB + [_path_param("n", "integer")]
WORKER = [{"name": "X-Foley-Worker", "in": "header", "required": True,
           "description": "the calling worker, host/boot:pid", "schema": {"type": "string", "pattern": WORKER.pattern}}]
TIME = {"type": "number", "minimum": 0, "description": "seconds from the start, at most 50 ms before the clip's end"}
BASED_ON = {"type": "integer", "minimum": 0,
            "description": "the result's version this edit was worked out from (409 when it has changed since)"}
BASED_ON_BODY = {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "properties": {"based_on": BASED_ON}, "additionalProperties": False}}}}
GAIN = {"type": "number", "description": "the recording's gain in dB: within -40…+12 dB of its own level (400 beyond)"}
LOCATION = {"Location": {"description": "the job's URL", "schema": {"type": "string"}}}

SCHEMAS = {
    "Error": {"type": "object", "properties": {"error": {"type": "string"}, "free_mb": {"type": "number"},
                                               "needed_mb": {"type": "number"}}, "required": ["error"]},
    "Job": {"type": "object", "required": ["id", "state", "created", "filename", "progress", "attempts"], "properties": {
        "id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "state": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
        "created": {"type": "number"}, "started": {"type": ["number", "null"]}, "finished": {"type": ["number", "null"]},
        "filename": {"type": "string"}, "description": {"type": ["string", "null"]}, "options": {"type": "object"},
        "stage": {"type": ["string", "null"], "description": "what it is doing, in words: finding the actions, "
                                                             "choosing sounds, mixing, writing the video, done"},
        "progress": {"type": "number", "minimum": 0, "maximum": 100},
        "error": {"type": ["string", "null"]}, "attempts": {"type": "integer"}, "worker": {"type": ["string", "null"]},
        "seconds": {"type": ["number", "null"], "description": "time taken to score, once done"},
        "duration": {"type": ["number", "null"], "description": "the clip's length in seconds, when its header says"},
        "edits": {"type": "integer", "description": "edits its outputs carry (0: as scored)"},
        "undo_steps": {"type": "integer", "minimum": 0, "description": "edits Undo can take back now (0: Undo does nothing)"},
        "redo_steps": {"type": "integer", "minimum": 0, "description": "undone edits Redo can make again now"},
        "version": {"type": "integer", "minimum": 0, "description": "moves on with every edit, undo and redo: "
                                                                   "an edit's based_on"}}},
    "LibraryEntry": {"type": "object", "required": ["id", "category", "kind", "description", "tags", "duration"],
                     "properties": {"id": {"type": "string"}, "category": {"type": "string"},
                                    "kind": {"type": "string", "enum": ["impact", "periodic", "sustained", "ambience"]},
                                    "description": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                                    "duration": {"type": "number"}, "licence": {"type": "string"},
                                    "author": {"type": "string"}, "origin": {"type": "string"},
                                    "source": {"type": "string", "description": "the package and file it comes from"},
                                    "score": {"type": "number"}}},
    "Edits": {"type": "object", "required": ["timeline", "edits", "undo_steps", "redo_steps", "version"], "properties": {
        "timeline": {"$ref": "#/components/schemas/Timeline"},
        "edits": {"type": "integer", "description": "edits the job's outputs now carry"},
        "undo_steps": {"type": "integer", "minimum": 0, "description": "edits Undo can take back now (0: Undo does nothing)"},
        "redo_steps": {"type": "integer", "minimum": 0, "description": "undone edits Redo can make again now"},
        "version": {"type": "integer", "minimum": 0, "description": "the result's version now: the next edit's based_on"}}},
    "Edited": {"allOf": [{"$ref": "#/components/schemas/Edits"}, {"type": "object", "required": ["event"],
                                                                   "properties": {"event": {"type": "object"}}}]},
    "Playing": {"type": "object", "required": ["playing", "job"], "properties": {
        "playing": {"type": "boolean"}, "job": {"type": ["string", "null"]},
        "seconds": {"type": ["number", "null"], "description": "the result's length"},
        "position": {"type": ["number", "null"], "description": "seconds handed to the audio output so far"},
        "output": {"type": ["string", "null"], "description": "the audio output's name"},
        "late_blocks": {"type": "integer", "description": "blocks played as silence: the file was read too late"},
        "error": {"type": ["string", "null"], "description": "why the last playback stopped early"},
        "blocked": {"type": ["string", "null"], "description": "why a play would be refused now (live mode or "
                    "another program has the speaker); null: it would not"}}},
    "PickerGroup": {"type": "object", "required": ["category", "label", "fit", "sounds"], "properties": {
        "category": {"type": "string"}, "label": {"type": "string"},
        "fit": {"type": "string", "enum": ["best", "good", "other"]},
        "sounds": {"type": "array", "items": {"type": "object", "required": [
            "id", "description", "source", "licence", "duration", "user", "current", "audio_url"], "properties": {
            "id": {"type": "string"}, "description": {"type": "string"}, "category": {"type": "string"},
            "source": {"type": "string"}, "licence": {"type": "string"}, "author": {"type": "string"},
            "duration": {"type": "number"}, "user": {"type": "boolean"}, "current": {"type": "boolean"},
            "audio_url": {"type": "string"}}}}}},
    "Timeline": {"type": "object", "required": ["events"], "properties": {
        "clip": {"type": "object"}, "request": {"type": "object"}, "stats": {"type": "object"},
        "events": {"type": "array", "items": {"type": "object", "required": ["time", "kind", "template_id"], "properties": {
            "n": {"type": "integer", "description": "the event's number: stable through edits, never reused"},
            "time": {"type": "number"}, "kind": {"type": "string"}, "template_id": {"type": "string"},
            "gain_db": {"type": "number"},
            "gain_range_db": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
                              "description": "the gains (dB) an edit may give this sound: [low, high]"},
            "why": {"type": "object"}}}}}},
}


def document() -> dict:
    job = _json(_ref("Job"))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Foley appliance API", "version": __version__,
                 "description": "Requests from other machines need `Authorization: Bearer TOKEN` (scheme in any "
                                "case) or the page's login cookie; requests whose Host is not one of the "
                                "appliance's names get 421. Every error is JSON {\"error\": \"...\"}."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "cookie": {"type": "apiKey", "in": "cookie", "name": "foley_token"}},
            "schemas": SCHEMAS,
        },
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": {
            "/healthz": {"get": _op("Liveness check (no token needed)", {200: _json()}, open_=True)},
            "/metrics": {"get": _op("Prometheus metrics: jobs, durations, queue depth, cache hits/misses",
                                    {200: {"description": "Prometheus text format 0.0.4",
                                           "content": {"text/plain": {"schema": {"type": "string"}}}}})},
            "/api/v1/version": {"get": _op("Versions of the appliance, its models and its library; notices of "
                                           "state repaired at start", {200: _json()})},
            "/api/v1/openapi.json": {"get": _op("This document", {200: _json()})},
            "/api/v1/score": {"post": _op(
                "Score a clip: 202 with the job and its Location; with ?wait=1 the WAV itself",
                {200: _binary("audio/wav", "with ?wait=1: the finished WAV"),
                 202: _json(_ref("Job"), "queued", LOCATION)},
                (400, 410, 415, 422, 503, 504, 507),
                _multipart({"video": {"type": "string", "format": "binary"}, "description": {"type": "string"},
                            "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
                            "keep_audio": {"type": "string", "enum": ["1", "0", "true", "false", "yes", "no", "on", "off"],
                                           "description": "mix the Foley with the clip's own sound in the video "
                                                          "(default: replace it)"},
                            "original_level_db": {"type": "number", "minimum": -30, "maximum": 6,
                                                  "description": "with keep_audio: the own sound's loudness "
                                                                 "relative to the Foley's, in dB (default 0)"},
                            "analysis": {"type": "string", "format": "binary",
                                         "description": "a recording's live analysis (foley capture)"}}, ["video"]),
                [{"name": "wait", "in": "query", "schema": {"type": "string", "enum": ["1", "true", "yes"]}}], write=True)},
            "/api/v1/jobs": {"get": _op("Job history, newest first, a page at a time", {200: _json(
                {"type": "object", "properties": {"jobs": {"type": "array", "items": _ref("Job")},
                                                  "more": {"type": "boolean",
                                                           "description": "older jobs follow: ask with before=the last id"}}})},
                (400, 404), params=[{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                                 "maximum": 200, "default": 50}},
                                    {"name": "before", "in": "query", "schema": {"type": "string"},
                                     "description": "a job id: list the jobs after it"}])},
            "/api/v1/jobs/{job_id}": {
                "get": _op("A job's state, progress %, stage and error", {200: job}, (404,), params=JOB),
                "delete": _op("Delete a finished or waiting job (concurrent deletes: one 204, the others 404)",
                              {204: NO_CONTENT}, (404, 409), params=JOB, write=True)},
            "/api/v1/jobs/{job_id}/{name}": {"get": _op(
                "A result file: audio.wav (the Foley alone), video.mp4 (with the Foley, or with keep_audio the mix), "
                "timeline.json, credits.txt (the recordings used and their licences), mix.wav (keep_audio only: "
                "the Foley with the clip's own sound); 409 until the job is done",
                {200: {"description": "the file", "content": {
                    "audio/wav": {"schema": {"type": "string", "format": "binary"}},
                    "video/mp4": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": _ref("Timeline")},
                    "text/plain": {"schema": {"type": "string"}}}}}, (404, 409),
                params=JOB + [{"name": "name", "in": "path", "required": True,
                               "schema": {"type": "string", "enum": ["audio.wav", "video.mp4", "timeline.json",
                                                                     "credits.txt", "mix.wav"]}}])},
            "/api/v1/jobs/{job_id}/thumbnail.jpg": {"get": _op(
                "A small picture of the clip (its first frame, 160 px wide), for any job that has its upload",
                {200: _binary("image/jpeg")}, (404,), params=JOB)},
            "/api/v1/status": {"get": _op(
                "The board's health for the page: CPU temperature (null where the kernel has no thermal zone), "
                "free disk of the state folder, jobs waiting and running, old jobs removed to make room since "
                "the service started (service.old_jobs_make_room), and all of it in one sentence",
                {200: _json({"type": "object", "required": ["cpu_temperature_c", "disk_free_bytes", "jobs_waiting",
                                                            "jobs_running", "old_jobs_removed", "summary"], "properties": {
                    "cpu_temperature_c": {"type": ["number", "null"]}, "disk_free_bytes": {"type": "integer"},
                    "jobs_waiting": {"type": "integer"}, "jobs_running": {"type": "integer"},
                    "old_jobs_removed": {"type": "integer"},
                    "summary": {"type": "string"}}})})},
            "/api/v1/jobs/{job_id}/events": {"post": _op(
                "Add a sound at a moment (kind from its category, as strong as the clip's median action) and re-mix",
                {201: _json(_ref("Edited"), "added")}, (400, 404, 409), _json_body(
                    {"template_id": {"type": "string"}, "time": TIME, "gain_db": GAIN,
                     "pan": {"type": "number", "minimum": -1, "maximum": 1}, "based_on": BASED_ON}, ["template_id", "time"]),
                JOB, write=True)},
            "/api/v1/jobs/{job_id}/events/{n}": {
                "patch": _op("Move, re-gain and/or swap placed sound n (its `n`) and re-mix (no re-analysis)",
                             {200: _json(_ref("Edited"))}, (400, 404, 409), _json_body(
                                 {"time": TIME, "gain_db": GAIN, "template_id": {"type": "string"}, "based_on": BASED_ON}, []),
                             EVENT, write=True),
                "post": _op("Replace placed sound n with another recording (PATCH with only template_id)",
                            {200: _json(_ref("Edited"))}, (400, 404, 409),
                            _json_body({"template_id": {"type": "string"}, "based_on": BASED_ON}, ["template_id"]),
                            EVENT, write=True),
                "delete": _op("Delete placed sound n and re-mix", {200: _json(_ref("Edits"))}, (400, 404, 409),
                              BASED_ON_BODY, params=EVENT, write=True)},
            "/api/v1/jobs/{job_id}/undo": {"post": _op("Undo the last edit (409: nothing to undo)",
                                                       {200: _json(_ref("Edits"))}, (400, 404, 409), BASED_ON_BODY,
                                                       params=JOB, write=True)},
            "/api/v1/jobs/{job_id}/redo": {"post": _op("Redo the edit undone last (409: nothing to redo)",
                                                       {200: _json(_ref("Edits"))}, (400, 404, 409), BASED_ON_BODY,
                                                       params=JOB, write=True)},
            "/api/v1/jobs/{job_id}/events/{n}/candidates": {"get": _op(
                "The sound picker for placed sound n: recordings grouped by category, the current one first",
                {200: _json({"type": "object", "required": ["event", "groups"], "properties": {
                    "event": {"type": "object"}, "groups": {"type": "array", "items": _ref("PickerGroup")},
                    "candidates": {"type": "array", "items": _ref("LibraryEntry"),
                                   "description": "the other recordings of the groups, flat (first 40)"}}})},
                (400, 404, 409), params=EVENT + [{"name": "q", "in": "query", "schema": {"type": "string"},
                                                  "description": "only the library search's matches"}])},
            "/api/v1/library": {
                "get": _op("List the library, or search it with ?q=TEXT", {200: _json({"type": "object", "properties": {
                    "library_version": {"type": "string"}, "templates": {"type": "array", "items": _ref("LibraryEntry")}}})},
                           (400,), params=[{"name": "q", "in": "query", "schema": {"type": "string"}},
                                           {"name": "limit", "in": "query", "schema": {"type": "integer"}}]),
                "post": _op("Add your own sound (wav, flac, ogg, mp3; at most 30 s and 32 MB)",
                            {201: _json(_ref("LibraryEntry"), "added")}, (400, 503, 507), _multipart(
                                {"file": {"type": "string", "format": "binary"}, "category": {"type": "string"},
                                 "tags": {"type": "string"}, "licence": {"type": "string"},
                                 "author": {"type": "string"}, "description": {"type": "string"}},
                                ["file", "category"]), write=True)},
            "/api/v1/library/{template_id}": {"delete": _op("Remove one of your own sounds", {204: NO_CONTENT},
                                                            (404, 409), params=TEMPLATE, write=True)},
            "/api/v1/library/{template_id}/audio": {"get": _op("The recording (Ogg)", {200: _binary("audio/ogg")},
                                                               (404,), params=TEMPLATE)},
            "/api/v1/categories": {"get": _op("Sound categories and their kinds", {200: _json()})},
            "/api/v1/record": {
                "get": _op("The camera: available or why not, state, the recording, recent recordings and their jobs",
                           {200: _json()}),
                "post": _op("Start recording, with the pre-roll before the call", {202: _json()},
                            (400, 409, 503, 507), _json_body(
                                {"description": {"type": "string"}, "seconds": {"type": "number"}}, []), write=True)},
            "/api/v1/record/stop": {"post": _op("Stop recording: the clip is kept and scored", {202: _json()},
                                                (409, 503), write=True)},
            "/api/v1/record/cancel": {"post": _op("Stop recording and throw the clip away", {200: _json()},
                                                  (409, 503), write=True)},
            "/api/v1/jobs/{job_id}/play": {"post": _op(
                "Play a finished result's sound (its MP4's track) on the board's audio output (config live:), "
                "replacing what plays; 409 while live mode, `foley live` or another program has the speaker; "
                "503 when the appliance has no audio output",
                {202: _json(_ref("Playing"), "playing")}, (404, 409, 503), params=JOB, write=True)},
            "/api/v1/play": {"get": _op("What the board is playing, and where it is", {200: _json(_ref("Playing"))})},
            "/api/v1/play/stop": {"post": _op(
                "Stop what the board is playing (stopped: its job, or null when nothing played)",
                {200: _json({"type": "object", "properties": {"playing": {"type": "boolean"},
                                                              "stopped": {"type": ["string", "null"]}}})},
                write=True)},
            "/api/v1/preview.mjpg": {"get": _op(
                "The camera's live picture (MJPEG, bounded frame rate, ends after 120 s)",
                {200: {"description": "JPEG frames", "content": {"multipart/x-mixed-replace": {
                    "schema": {"type": "string", "format": "binary"}}}}}, (503,))},
            "/api/v1/live": {
                "get": _op("Live mode (the page's Live switch): on or off, its state, notices, the last session's "
                           "report, the recording in progress and the last one (Record while live)", {200: _json()}),
                "post": _op("Turn live mode on or off (already so: nothing changes; two clients at once: one "
                            "state); switching on stops a result playing on the board (stopped_playback) and "
                            "runs page-only when another process has the speaker (speaker: false); 503 when the "
                            "camera daemon has no picture", {200: _json()}, (400, 503),
                            _json_body({"on": {"type": "boolean"}, "description": {"type": "string"}}, ["on"]),
                            write=True)},
            "/api/v1/live/record": {"post": _op(
                "Record while live: start or stop keeping the live performance (the camera picture and the sound "
                "played, with its timeline); when it stops (here, at live.max_record_seconds, on a nearly full disk "
                "or with live mode) it is filed in the history like a scored clip: `last_recording.job_id` in "
                "GET /api/v1/live. Already so: nothing changes; 409 while live mode is not on",
                {200: _json()}, (400, 409, 507), _json_body({"on": {"type": "boolean"}}, ["on"]), write=True)},
            "/api/v1/live/events": {"get": _op(
                "Server-Sent Events while live mode is on: `sounds` (the recordings in use, to preload), `event` "
                "(each action as its sound starts: n, time, category, template_id, audio_url, gain_db, pan, "
                "offset, captured_at, sent_at, sent_unix, server_ms, late: already older than live.latency_budget_ms, "
                "the page skips it), `end` when live stops; 204 when it is off; at most 8 listeners "
                "(503 beyond); a stream ends after 300 s (EventSource reconnects)",
                {200: {"description": "the event stream", "content": {"text/event-stream": {
                    "schema": {"type": "string"}}}}, 204: NO_CONTENT}, (503,))},
            # Fleet mode: workers on boards that do not share the front end's disk.
            "/api/v1/jobs/{job_id}/claim": {"post": _op(
                "Worker: claim a waiting job (409 if taken or gone)",
                {200: _json({"allOf": [_ref("Job"), {"type": "object", "properties": {
                    "has_analysis": {"type": "boolean"}}}]})}, (400, 409), params=JOB + WORKER, write=True)},
            "/api/v1/jobs/{job_id}/input": {"get": _op("Worker: the claimed job's upload",
                                                       {200: _binary("application/octet-stream")}, (400, 404, 409),
                                                       params=JOB + WORKER)},
            "/api/v1/jobs/{job_id}/analysis.npz": {"get": _op(
                "Worker: a recording's live analysis (404 if none)", {200: _binary("application/octet-stream")},
                (400, 404, 409), params=JOB + WORKER)},
            "/api/v1/jobs/{job_id}/progress": {"post": _op(
                "Worker: stage and fraction (also the heartbeat)", {204: NO_CONTENT}, (400, 404, 409),
                _json_body({"stage": {"type": "string"}, "fraction": {"type": "number"}}, ["stage", "fraction"]),
                JOB + WORKER, write=True)},
            "/api/v1/jobs/{job_id}/result": {"post": _op(
                "Worker: the finished files (credits.txt and, with keep_audio, mix.wav as well); the job is then done",
                {204: NO_CONTENT}, (400, 404, 409),
                _multipart({name: {"type": "string", "format": "binary"} for name in
                            ("audio.wav", "video.mp4", "timeline.json", "credits.txt", "mix.wav")}
                           | {"seconds": {"type": "number"}},
                           ["audio.wav", "video.mp4", "timeline.json", "seconds"]), JOB + WORKER, write=True)},
            "/api/v1/jobs/{job_id}/fail": {"post": _op(
                "Worker: the job failed, with the reason", {204: NO_CONTENT}, (400, 404, 409),
                _json_body({"reason": {"type": "string"}}, ["reason"]), JOB + WORKER, write=True)},
            "/api/v1/login": {"post": _op("Exchange the token for the page's HttpOnly cookie",
                                          {204: {"description": "cookie set"}}, (400, 401),
                                          _json_body({"token": {"type": "string"}}, ["token"]), open_=True, write=True)},
            "/api/v1/token": {"get": _op("The API token, shown only to the appliance itself (loopback)",
                                         {200: _json({"type": "object", "properties": {"token": {"type": "string"}}})},
                                         (403,))},
        },
    }
