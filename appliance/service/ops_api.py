"""API v1 for operating the appliance: Prometheus metrics, the record button's availability,
and the token hand-over for the web page (login cookie; showing the token to a local user)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from appliance.engine.cache import Cache
from appliance.service.api import error, service_folder
from appliance.service.app import jobs
from appliance.service.auth import COOKIE, is_loopback, token_matches
from appliance.service.jobs import DONE, FAILED, QUEUED, RUNNING

ops_api = Blueprint("ops_api", __name__)
NO_CAMERA = "no capture daemon is running on this appliance (start foley capture with a camera attached)"


def _token() -> str:
    from flask import current_app

    return current_app.extensions["foley"]["token"]


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
    cache = Cache(service_folder().parent / "cache")
    counters = cache.stats()["counters"]
    cache.close()
    lines += ["# HELP foley_cache_total Cache lookups by level and outcome.", "# TYPE foley_cache_total counter"]
    for name, value in sorted(counters.items()):
        level, _, outcome = name.rpartition("_")
        lines.append(f'foley_cache_total{{level="{level}",outcome="{outcome}"}} {value}')
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")


@ops_api.get("/api/v1/record")
def record_status():
    return jsonify(available=False, reason=NO_CAMERA)


@ops_api.post("/api/v1/record")
def record():
    return error(NO_CAMERA, 503)


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
