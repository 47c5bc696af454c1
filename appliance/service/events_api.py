"""API v1: edit the placed sounds of a finished job — add, move, re-gain, swap, delete, undo, redo
— and the sound picker's alternatives for one of them.

Events are named by their `n`. Every edit runs under the job's lock (one edit or delete of a job
at a time), re-mixes the edited timeline without analysing the clip again, writes every output
of the job (engine/outputs.py) and records the version in the job's edit history
(edit_history.py) for undo and redo.

Every edit may name the version of the result it was worked out from (`based_on`: the `version`
of the job's JSON or of the last edit's answer). When the result has changed since (another tab,
another machine), the edit is refused with a 409 rather than made on a timeline its sender never
saw: a nudge or a slider step is worked out from where the sender saw the sound, and an undo takes
back whatever edit is last. Without `based_on` an edit applies to the result as it is.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from flask import Blueprint, jsonify, request

from appliance.engine.edits import Change, NoSuchEvent, TooManyEvents, add_event, change_event, delete_event
from appliance.engine.outputs import OutputFiles, TIMELINE_NAME, write_outputs
from appliance.engine.remix import SoundGone, mix_timeline
from appliance.engine.timeline import Timeline, TimelineEvent
from appliance.errors import UsageError, is_number
from appliance.library import Catalog, load_catalog
from appliance.service.api import finished_job
from appliance.service.edit_history import EditHistory
from appliance.service.jobs import INPUT_NAME
from appliance.service.library_api import template_json
from appliance.service.picker import picker_groups
from appliance.service.shared import disk_full, error, job_lock, jobs

events_api = Blueprint("events_api", __name__)
MAX_CANDIDATES = 40
FIELDS = {"template_id": str, "time": float, "gain_db": float, "pan": float, "based_on": int}
BASED_ON = ("based_on",)


class JobGone(Exception):
    """The job was deleted while the request was being served."""


class DiskFull(Exception):
    """No room to write the job's outputs again; `response` is the 507 that says so."""

    def __init__(self, response):
        super().__init__("disk full")
        self.response = response


def _rewrite(folder: Path, timeline: Timeline, catalog: Catalog) -> None:
    """Every output of the job re-mixed from `timeline`, once the disk has room for another copy
    of them: each is staged beside the old one and renamed over it (engine/outputs.py), and on a
    full disk the old ones stay, whole, with a 507 instead of a write that fails half-way."""
    files = OutputFiles.in_folder(folder)
    full = disk_full(sum(path.stat().st_size for path in files.paths() if path.is_file()), 1.0)
    if full is not None:
        raise DiskFull(full)
    write_outputs(folder / INPUT_NAME, mix_timeline(timeline, catalog), timeline, files, catalog)


def _read_timeline(folder: Path) -> Timeline:
    try:
        return Timeline.from_json(json.loads((folder / TIMELINE_NAME).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise JobGone from None


def _body(allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
    """The request's JSON object, its fields checked for name and type (UsageError: a 400)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise UsageError(f"send a JSON object with {', '.join(allowed)}")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise UsageError(f"unknown field {unknown[0][:40]!r}: send only {', '.join(allowed)}")
    for name in required:
        if name not in body:
            raise UsageError(f"field {name!r} is required")
    _check_types(body)
    if not set(body) - set(BASED_ON):
        raise UsageError(f"send at least one of {', '.join(n for n in allowed if n not in BASED_ON)}")
    return body


def _check_types(body: dict) -> None:
    for name, value in body.items():
        if FIELDS[name] is str and not (isinstance(value, str) and value):
            raise UsageError(f"field {name!r} must be a non-empty string")
        if FIELDS[name] is float and not is_number(value):
            raise UsageError(f"field {name!r} must be a number")
        if FIELDS[name] is int and not (is_number(value) and isinstance(value, int) and value >= 0):
            raise UsageError(f"field {name!r} must be a whole number of 0 or more")


def _based_on_only() -> dict:
    """The optional body of a delete, an undo or a redo: none, or {"based_on": N} (an API client
    of before based_on sends none, and its edit applies to the result as it is)."""
    if not request.get_data(cache=True):
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - set(BASED_ON):
        raise UsageError("send no body, or a JSON object with only based_on")
    _check_types(body)
    return body


def _locked(job_id: str, work: Callable[[Path], object], based_on: int | None = None):
    """`work(job folder)` on a finished job, under its lock, with the errors answered as JSON:
    404 no job (or deleted meanwhile) or no such event, 409 not finished, changed since the
    version `based_on`, a sound not in the library or no room for another event, 400 a bad value."""
    _, problem = finished_job(job_id)  # also refuses ids that are not job ids before any file is touched
    if problem:
        return problem
    with job_lock(job_id):
        _, problem = finished_job(job_id)  # again: a delete may have won the lock since
        if problem:
            return problem
        try:
            return _stale(job_id, based_on) or work(jobs().job_dir(job_id))
        except (JobGone, FileNotFoundError):
            return error(f"no job {job_id!r} (it was deleted)", 404)
        except NoSuchEvent as exc:
            return error(str(exc), 404)
        except (SoundGone, TooManyEvents) as exc:
            return error(str(exc), 409)
        except UsageError as exc:
            return error(str(exc), 400)
        except DiskFull as exc:
            return exc.response


def _stale(job_id: str, based_on: int | None):
    """The 409 for an edit worked out from a version of the result older than the one it has."""
    if based_on is None:
        return None
    version = EditHistory(jobs().job_dir(job_id)).state().version
    if based_on == version:
        return None
    return error(f"this result was changed elsewhere (in another tab?) since version {based_on}, which this edit "
                 f"was worked out from (it is at version {version} now); the edit was not made: load the result "
                 "again and try again", 409)


def _apply(folder: Path, edit: Callable[[Timeline, Catalog, EditHistory], tuple[Timeline, TimelineEvent | None]],
           status: int = 200):
    """Edit the job's timeline, re-mix it, write every output and record the edit."""
    timeline = _read_timeline(folder)
    history = EditHistory(folder)
    catalog = load_catalog()
    edited, event = edit(timeline, catalog, history)
    if edited.to_json() != timeline.to_json():  # an edit that changes nothing is not one
        _rewrite(folder, edited, catalog)
        history.push(timeline, edited)
    answer = {"timeline": edited.to_json(), **history.steps()}
    if event is not None:
        answer["event"] = next(e for e in edited.events if e.n == event.n).to_json()
    return jsonify(answer), status


def _change(job_id: str, n: int, body: dict):
    change = Change(time=body.get("time"), gain_db=body.get("gain_db"), template_id=body.get("template_id"))
    return _locked(job_id, lambda folder: _apply(
        folder, lambda timeline, catalog, _: change_event(timeline, catalog, n, change)), body.get("based_on"))


def _parsed(parse: Callable[[], dict]):
    """(body, None) or (None, the 400)."""
    try:
        return parse(), None
    except UsageError as exc:
        return None, error(str(exc), 400)


@events_api.post("/api/v1/jobs/<job_id>/events")
def add(job_id: str):
    """Place a recording at a moment, as the engine places an action as strong as the clip's median one."""
    body, problem = _parsed(lambda: _body(("template_id", "time", "gain_db", "pan", *BASED_ON), ("template_id", "time")))
    if problem:
        return problem
    return _locked(job_id, lambda folder: _apply(folder, lambda timeline, catalog, history: add_event(
        timeline, catalog, body["template_id"], float(body["time"]), history.next_number(timeline),
        gain_db=body.get("gain_db"), pan=float(body.get("pan", 0.0))), status=201), body.get("based_on"))


@events_api.patch("/api/v1/jobs/<job_id>/events/<int:n>")
def change(job_id: str, n: int):
    """Move, re-gain and/or swap placed sound n."""
    body, problem = _parsed(lambda: _body(("time", "gain_db", "template_id", *BASED_ON)))
    return problem or _change(job_id, n, body)


@events_api.post("/api/v1/jobs/<job_id>/events/<int:n>")
def swap(job_id: str, n: int):
    """The first edit route, kept: PATCH with only a template_id."""
    body, problem = _parsed(lambda: _body(("template_id", *BASED_ON), ("template_id",)))
    return problem or _change(job_id, n, body)


@events_api.delete("/api/v1/jobs/<job_id>/events/<int:n>")
def delete(job_id: str, n: int):
    body, problem = _parsed(_based_on_only)
    return problem or _locked(job_id, lambda folder: _apply(
        folder, lambda timeline, _c, _h: (delete_event(timeline, n), None)), body.get("based_on"))


def _step(job_id: str, delta: int, word: str):
    body, problem = _parsed(_based_on_only)
    if problem:
        return problem

    def work(folder: Path):
        history = EditHistory(folder)
        found = history.step(delta)
        if found is None:
            return error(f"nothing to {word}", 409)
        version, timeline = found
        catalog = load_catalog()
        _rewrite(folder, timeline, catalog)
        history.settle(version)
        return jsonify(timeline=timeline.to_json(), **history.steps())
    return _locked(job_id, work, body.get("based_on"))


@events_api.post("/api/v1/jobs/<job_id>/undo")
def undo(job_id: str):
    return _step(job_id, -1, "undo")


@events_api.post("/api/v1/jobs/<job_id>/redo")
def redo(job_id: str):
    return _step(job_id, +1, "redo")


@events_api.get("/api/v1/jobs/<job_id>/events/<int:n>/candidates")
def candidates(job_id: str, n: int):
    """The sound picker's groups for placed sound n (?q=TEXT: only the library search's matches);
    `candidates` is the flat list of the other recordings, as the first page read it."""
    _, problem = finished_job(job_id)
    if problem:
        return problem
    try:
        timeline = _read_timeline(jobs().job_dir(job_id))
    except JobGone:
        return error(f"no job {job_id!r} (it was deleted)", 404)
    event = next((e for e in timeline.events if e.n == n), None)
    if event is None:
        return error(f"no sound number {n} in this result (it may have been deleted)", 404)
    catalog = load_catalog()
    try:
        groups = picker_groups(catalog, event, (request.args.get("q") or "").strip()[:200])
    except UsageError as exc:
        return error(str(exc), 400)
    others = [catalog.by_id[s["id"]] for g in groups for s in g["sounds"] if not s["current"]]
    return jsonify(event=event.to_json(), groups=groups,
                   candidates=[template_json(t) for t in others[:MAX_CANDIDATES]])
