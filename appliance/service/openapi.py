"""The OpenAPI 3.1 description of API v1, served at /api/v1/openapi.json.

Written by hand next to the routes; a test compares its paths with the app's registered routes,
so the document cannot silently fall behind the code.
"""
from __future__ import annotations

from appliance import __version__

ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
JSON = {"description": "OK", "content": {"application/json": {}}}


def _op(summary: str, responses: dict | None = None, body: dict | None = None, params: list | None = None) -> dict:
    operation = {"summary": summary, "responses": {"200": JSON, "4XX": ERROR, **(responses or {})}}
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


JOB = [_path_param("job_id")]
TEMPLATE = [_path_param("template_id")]
EVENT = JOB + [_path_param("n", "integer")]


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Foley appliance API", "version": __version__,
                 "description": "Requests from other machines need `Authorization: Bearer TOKEN` "
                                "(or the page's login cookie). Every error is JSON {\"error\": \"...\"}."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "cookie": {"type": "apiKey", "in": "cookie", "name": "foley_token"}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}},
        },
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": {
            "/healthz": {"get": _op("Liveness check (no token needed)")},
            "/metrics": {"get": _op("Prometheus metrics: jobs, durations, queue depth, cache hits/misses")},
            "/api/v1/version": {"get": _op("Versions of the appliance, its models and its library")},
            "/api/v1/openapi.json": {"get": _op("This document")},
            "/api/v1/score": {"post": _op(
                "Score a clip: 202 with the job and its Location; with ?wait=1 the WAV itself",
                {"202": JSON, "413": ERROR, "415": ERROR, "503": ERROR},
                _multipart({"video": {"type": "string", "format": "binary"}, "description": {"type": "string"},
                            "seed": {"type": "integer"},
                            "analysis": {"type": "string", "format": "binary",
                                         "description": "a recording's live analysis (foley capture)"}}, ["video"]),
                [{"name": "wait", "in": "query", "schema": {"type": "string", "enum": ["1"]}}])},
            "/api/v1/jobs": {"get": _op("Job history, newest first")},
            "/api/v1/jobs/{job_id}": {"get": _op("A job's state, progress %, stage and error", params=JOB),
                                      "delete": _op("Delete a finished or waiting job", {"204": {"description": "deleted"}},
                                                    params=JOB)},
            "/api/v1/jobs/{job_id}/{name}": {"get": _op(
                "A result file: audio.wav, video.mp4 or timeline.json (409 until the job is done)",
                params=JOB + [{"name": "name", "in": "path", "required": True,
                               "schema": {"type": "string", "enum": ["audio.wav", "video.mp4", "timeline.json"]}}])},
            "/api/v1/jobs/{job_id}/events/{n}": {"post": _op(
                "Replace placed sound n with another recording and re-mix (no re-analysis)", params=EVENT,
                body=_json_body({"template_id": {"type": "string"}}, ["template_id"]))},
            "/api/v1/jobs/{job_id}/events/{n}/candidates": {"get": _op("Ranked alternatives for placed sound n",
                                                                       params=EVENT)},
            "/api/v1/library": {
                "get": _op("List the library, or search it with ?q=TEXT",
                           params=[{"name": "q", "in": "query", "schema": {"type": "string"}},
                                   {"name": "limit", "in": "query", "schema": {"type": "integer"}}]),
                "post": _op("Add your own sound (wav, flac, ogg, mp3)", {"201": JSON}, _multipart(
                    {"file": {"type": "string", "format": "binary"}, "category": {"type": "string"},
                     "tags": {"type": "string"}, "licence": {"type": "string"}, "description": {"type": "string"}},
                    ["file", "category"]))},
            "/api/v1/library/{template_id}": {"delete": _op("Remove one of your own sounds",
                                                            {"204": {"description": "removed"}}, params=TEMPLATE)},
            "/api/v1/library/{template_id}/audio": {"get": _op("The recording (Ogg)", params=TEMPLATE)},
            "/api/v1/categories": {"get": _op("Sound categories and their kinds")},
            "/api/v1/record": {
                "get": _op("The camera: available or why not, state, the recording, recent recordings and their jobs"),
                "post": _op("Start recording, with the pre-roll before the call (503 no camera daemon or camera, "
                            "507 disk nearly full)", {"202": JSON, "503": ERROR, "507": ERROR}, _json_body(
                                {"description": {"type": "string"}, "seconds": {"type": "number"}}, []))},
            "/api/v1/record/stop": {"post": _op("Stop recording: the clip is kept and scored", {"202": JSON})},
            "/api/v1/record/cancel": {"post": _op("Stop recording and throw the clip away")},
            "/api/v1/preview.mjpg": {"get": _op("The camera's live picture (MJPEG, bounded frame rate, ends after 120 s)",
                                                {"200": {"description": "multipart/x-mixed-replace JPEG stream"}})},
            # Fleet mode: workers on boards that do not share the front end's disk (header X-Foley-Worker).
            "/api/v1/jobs/{job_id}/claim": {"post": _op("Worker: claim a waiting job (409 if taken or gone)",
                                                        params=JOB)},
            "/api/v1/jobs/{job_id}/input": {"get": _op("Worker: the claimed job's upload", params=JOB)},
            "/api/v1/jobs/{job_id}/analysis.npz": {"get": _op("Worker: a recording's live analysis (404 if none)",
                                                              params=JOB)},
            "/api/v1/jobs/{job_id}/progress": {"post": _op("Worker: stage and fraction (also the heartbeat)",
                                                           {"204": {"description": "noted"}}, _json_body(
                                                               {"stage": {"type": "string"},
                                                                "fraction": {"type": "number"}}, ["stage", "fraction"]),
                                                           JOB)},
            "/api/v1/jobs/{job_id}/result": {"post": _op("Worker: the finished files; the job is then done",
                                                         {"204": {"description": "stored"}}, _multipart(
                                                             {name: {"type": "string", "format": "binary"} for name in
                                                              ("audio.wav", "video.mp4", "timeline.json")}
                                                             | {"seconds": {"type": "number"}},
                                                             ["audio.wav", "video.mp4", "timeline.json", "seconds"]),
                                                         JOB)},
            "/api/v1/jobs/{job_id}/fail": {"post": _op("Worker: the job failed, with the reason",
                                                       {"204": {"description": "noted"}},
                                                       _json_body({"reason": {"type": "string"}}, ["reason"]), JOB)},
            "/api/v1/login": {"post": _op("Exchange the token for the page's HttpOnly cookie",
                                          {"204": {"description": "cookie set"}})},
            "/api/v1/token": {"get": _op("The API token, shown only to the appliance itself (loopback)")},
        },
    }
