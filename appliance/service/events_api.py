"""API v1: swap one placed sound of a finished job for another recording and re-mix it."""
from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, jsonify, request

from appliance.atomic import write_json_atomic
from appliance.engine.choose import candidate_categories
from appliance.engine.pipeline import CREDITS_NAME, MIX_NAME, MP4_NAME, TIMELINE_NAME, WAV_NAME
from appliance.engine.remix import remix_files
from appliance.engine.timeline import Timeline
from appliance.errors import UsageError
from appliance.library import load_catalog
from appliance.service.jobs import INPUT_NAME
from appliance.service.api import finished_job
from appliance.service.shared import error, job_lock, jobs
from appliance.service.library_api import template_json

events_api = Blueprint("events_api", __name__)
MAX_CANDIDATES = 40


def _read_timeline(path: Path) -> Timeline:
    return Timeline.from_json(json.loads(path.read_text(encoding="utf-8")))


def _timeline_and_event(job_id: str, n: int):
    job, problem = finished_job(job_id)
    if problem:
        return None, None, problem
    try:
        timeline = _read_timeline(jobs().job_dir(job_id) / TIMELINE_NAME)
    except FileNotFoundError:  # deleted since the check above
        return None, None, error(f"no job {job_id!r}", 404)
    if not 0 <= n < len(timeline.events):
        return None, None, error(f"no event {n}: job {job_id} has {len(timeline.events)} events", 404)
    return timeline, timeline.events[n], None


@events_api.get("/api/v1/jobs/<job_id>/events/<int:n>/candidates")
def candidates(job_id: str, n: int):
    """Other recordings that fit this action: the categories that were considered first."""
    timeline, event, problem = _timeline_and_event(job_id, n)
    if problem:
        return problem
    catalog = load_catalog()
    votes = {c["category"]: c["score"] for c in event.why.candidates}
    ordered = sorted(candidate_categories(catalog, event.kind), key=lambda c: (-votes.get(c, -1e9), c))
    found = [template_json(t, votes.get(name)) for name in ordered for t in catalog.in_category(name)
             if t.id != event.template_id]
    return jsonify(event=event.to_json(), candidates=found[:MAX_CANDIDATES])


@events_api.post("/api/v1/jobs/<job_id>/events/<int:n>")
def swap(job_id: str, n: int):
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("template_id"), str):
        return error('send JSON {"template_id": "..."} naming the recording to use', 400)
    folder = jobs().job_dir(job_id)
    _, _, problem = _timeline_and_event(job_id, n)
    if problem:
        return problem
    with job_lock(job_id):  # one re-mix (or delete, api.delete_job) of a job at a time
        # Checked again under the lock: a delete may have won the race since.
        timeline, _, problem = _timeline_and_event(job_id, n)
        if problem:
            return problem
        try:
            updated = remix_files(timeline, load_catalog(), {n: body["template_id"]}, video=folder / INPUT_NAME,
                                  wav=folder / WAV_NAME, mp4=folder / MP4_NAME, mix=folder / MIX_NAME,
                                  credits=folder / CREDITS_NAME)
        except UsageError as exc:
            return error(str(exc), 409 if "no longer" in str(exc) else 400)
        write_json_atomic(folder / TIMELINE_NAME, updated.to_json())
    return jsonify(event=updated.events[n].to_json(), timeline=updated.to_json())
