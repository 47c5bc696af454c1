"""HTTP API v1 (JSON everywhere, errors included)."""
from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

from flask import Blueprint, jsonify, request, send_file

from appliance import __version__
from appliance.engine.analysis_file import load_analysis
from appliance.engine.credits import credits_text, write_credits
from appliance.engine.options import MAX_SEED
from appliance.engine.own_sound import check_level
from appliance.engine.pipeline import CREDITS_NAME, MIX_NAME, MP4_NAME, TIMELINE_NAME, WAV_NAME
from appliance.engine.timeline import Timeline
from appliance.errors import UsageError
from appliance.library import load_catalog
from appliance.os_text import one_line
from appliance.service.edit_history import EditHistory
from appliance.service.jobs import DONE, FAILED, JOB_ID, QUEUED, Job
from appliance.service.shared import (Services, client_file_label, disk_full, error, job_lock, jobs, missing_fields,
                                      not_utf8, public_message, services)
from appliance.video import probe

api = Blueprint("api", __name__)
log = logging.getLogger("foley.serve")
RESULT_FILES = {WAV_NAME: "audio/wav", MP4_NAME: "video/mp4", TIMELINE_NAME: "application/json",
                CREDITS_NAME: "text/plain", MIX_NAME: "audio/wav"}
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
MAX_DESCRIPTION = 500
DEFAULT_PAGE, MAX_PAGE = 50, 200
"""Jobs per page of the history (GET /api/v1/jobs)."""
WAIT_LIMIT_S = 600
WAIT_POLL_S = 0.25
RESULT_SPACE_FACTOR = 4  # the upload kept, plus its WAV and MP4 results (a 48 kHz WAV can outweigh the clip)


@api.get("/healthz")
def healthz():
    return jsonify(status="ok")


@api.get("/api/v1/openapi.json")
def openapi():
    from appliance.service.openapi import document

    return jsonify(document())


@api.get("/api/v1/version")
def version():
    from appliance.inference.manifest import load_manifest
    from appliance.library import load_catalog

    models = {name: entry.sha256 for name, entry in load_manifest().items()}
    return jsonify(version=__version__, models=models, library_version=load_catalog().version,
                   notices=services().notices)


@api.post("/api/v1/score")
def score():
    """A clip to score: 202 with the job, or with ?wait=1 the WAV when it is done. Waiting
    requests each hold a request thread; at most service.max_waiters do (the server has that
    many threads on top of the page's), the others get 503 before their upload is parsed or stored."""
    foley = services()
    waiting = request.args.get("wait") in ("1", "true", "yes")
    if not waiting:
        return _score(foley, False)
    if not foley.waiters.acquire(blocking=False):
        return error(f"{foley.config.service.max_waiters} requests are already waiting for their results; "
                     "try again shortly, or submit without ?wait=1 and poll the job", 503, **{"Retry-After": "10"})
    try:
        return _score(foley, True)
    finally:
        foley.waiters.release()


def _score(foley: Services, waiting: bool):
    """Admission is exact under a burst: the jobs queued plus the uploads being admitted right
    now (probed, stored) stay within queue.max_waiting (checked and counted under one lock)."""
    with foley.admission:
        if jobs().count(QUEUED) + foley.admitting >= foley.config.queue.max_waiting:
            return error("the queue is full; try again shortly", 503, **{"Retry-After": "30"})
        foley.admitting += 1
    counted = [True]

    def create(*args) -> Job:
        """The job created and its admission slot given back at once, under the lock (so it is
        never counted twice, nor not at all)."""
        with foley.admission:
            job = jobs().create(*args)
            foley.admitting -= 1
            counted[0] = False
        return job

    try:
        job = _admit(foley, create)
    finally:
        if counted[0]:
            with foley.admission:
                foley.admitting -= 1
    if not isinstance(job, Job):
        return job  # the error response
    try:
        foley.queue.submit(job.id)
    except Exception as exc:  # the broker (fleet mode: Redis) is down: no job no worker will ever see
        log.warning("job %s could not be queued: %s", job.id, exc)
        jobs().forget(job.id)
        return error("the appliance's queue cannot take jobs right now; try again shortly", 503,
                     **{"Retry-After": "30"})
    if waiting:
        return _wait_for(job.id)
    response = jsonify(job_json(job))
    response.status_code = 202
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return response


def _admit(foley: Services, create):
    """The request's clip checked and stored as a queued job (returned), or the error response."""
    upload = request.files.get("video")
    if upload is None:
        return missing_fields("field 'video' is required: send the clip as a multipart upload (-F video=@clip.mp4)")
    mangled = not_utf8("description")
    if mangled:
        return mangled
    description = one_line(request.form.get("description") or "") or None  # shown as typed, on one line
    if description and len(description) > MAX_DESCRIPTION:
        return error(f"description too long (at most {MAX_DESCRIPTION} characters)", 400)
    try:
        seed = int(request.form.get("seed", 0))
    except ValueError:
        return error("field 'seed' must be a whole number", 400)
    if not 0 <= seed <= MAX_SEED:
        return error(f"field 'seed' must be between 0 and {MAX_SEED}", 400)
    keep = _keep_audio(request.form)
    if not isinstance(keep, dict):
        return keep
    full = disk_full(request.content_length or 0, RESULT_SPACE_FACTOR)
    if full:
        return full
    uploads = foley.folder / "uploads"
    uploads.mkdir(exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=uploads, prefix="upload-")
    temp = Path(temp)
    try:
        with open(handle, "wb") as out:
            upload.save(out)
        if temp.stat().st_size == 0:
            return error("the upload is empty", 400)
        info = probe(temp, max_seconds=foley.config.engine.max_seconds)
        options = {"description": description, "seed": seed,
                   "target_lufs": foley.config.engine.target_lufs,
                   "max_seconds": foley.config.engine.max_seconds, **keep}
        analysis = _saved_analysis(request.files.get("analysis"), uploads, info)
        return create(client_file_label(upload.filename), description, options, temp, analysis,
                      round(info.duration, 3) if info.duration else None)
    except UsageError as exc:
        return error(str(exc).replace(str(temp), "the upload"), 415)
    finally:
        temp.unlink(missing_ok=True)


def _keep_audio(form) -> dict:
    """{keep_audio, original_level_db} from the form's fields, or the 400 response."""
    keep = (form.get("keep_audio") or "").strip().lower()
    if keep not in TRUE_WORDS + FALSE_WORDS:
        return error("field 'keep_audio' must be true or false (1/0, yes/no)", 400)
    if not form.get("original_level_db", "").strip():
        level = 0.0
    else:
        try:
            level = check_level(float(form["original_level_db"]))
        except (ValueError, UsageError) as exc:
            return error(f"field 'original_level_db': {exc}" if isinstance(exc, UsageError)
                         else "field 'original_level_db' must be a number of dB", 400)
    return {"keep_audio": keep in TRUE_WORDS, "original_level_db": level}


def _saved_analysis(part, uploads: Path, info) -> Path | None:
    """The optional `analysis` part (a recording's live analysis from `foley capture`), checked
    against the clip before it is accepted; None without one."""
    if part is None:
        return None
    handle, saved = tempfile.mkstemp(dir=uploads, prefix="analysis-", suffix=".npz")
    saved = Path(saved)
    try:
        with open(handle, "wb") as out:
            part.save(out)
        load_analysis(saved, info)
    except BaseException:
        saved.unlink(missing_ok=True)
        raise
    return saved


def _wait_for(job_id: str):
    deadline = time.monotonic() + WAIT_LIMIT_S
    while time.monotonic() < deadline:
        job = jobs().get(job_id)
        if job is None:
            return error(f"job {job_id} was deleted while waiting for it", 410)
        if job.state == DONE:
            return send_file(jobs().job_dir(job_id) / WAV_NAME, mimetype="audio/wav",
                             download_name=f"{Path(job.filename).stem}-foley.wav")
        if job.state == FAILED:
            return error(job.error or "scoring failed", 422)
        time.sleep(WAIT_POLL_S)
    return error(f"still scoring after {WAIT_LIMIT_S} s; poll /api/v1/jobs/{job_id}", 504)


def _job_or_404(job_id: str):
    job = jobs().get(job_id) if JOB_ID.fullmatch(job_id) else None
    if job is None:
        return None, error(f"no job {job_id[:40]!r}", 404)
    return job, None


def job_json(job: Job) -> dict:
    """A job as the API shows it: its row, how many edits its outputs carry and how far undo and
    redo go. A failed job's reason is the engine's, which names the clip by its path on the
    board: shown without it, as every other error is (`public_message`)."""
    data = {**job.public(), **EditHistory(jobs().job_dir(job.id)).steps()}
    if data.get("error"):
        data["error"] = public_message(data["error"])
    return data


@api.get("/api/v1/jobs")
def list_jobs():
    """Newest first, a page at a time: `limit` (1-200, default 50) jobs after the job `before`
    (its id; none: from the newest). `more` says whether older jobs remain."""
    try:
        limit = int(request.args.get("limit", DEFAULT_PAGE))
    except ValueError:
        return error("'limit' must be a whole number", 400)
    if not 1 <= limit <= MAX_PAGE:
        return error(f"'limit' must be between 1 and {MAX_PAGE}", 400)
    before = None
    if "before" in request.args:
        before, missing = _job_or_404(request.args["before"])
        if missing:
            return missing
    page = jobs().list(limit + 1, before)
    return jsonify(jobs=[job_json(job) for job in page[:limit]], more=len(page) > limit)


@api.get("/api/v1/jobs/<job_id>")
def get_job(job_id: str):
    job, missing = _job_or_404(job_id)
    return missing or jsonify(job_json(job))


def finished_job(job_id: str):
    """(job, None) for a finished job, else (None, the JSON error: 404 unknown, 409 not done)."""
    job, missing = _job_or_404(job_id)
    if missing:
        return None, missing
    if job.state != DONE:
        return None, error(f"job {job_id} is {job.state}" + (f": {job.error}" if job.error else ""), 409)
    return job, None


# Only the result files' names: a catch-all <name> would also answer GET on the worker routes
# (/claim, /progress ...), so their Allow would list a GET the API does not have.
@api.get("/api/v1/jobs/<job_id>/<any(" + ", ".join(f'"{name}"' for name in RESULT_FILES) + "):name>")
def job_file(job_id: str, name: str):
    job, problem = finished_job(job_id)
    if problem:
        return problem
    path = jobs().job_dir(job_id) / name
    if name == MIX_NAME and not path.is_file():
        return error(f"job {job_id} has no mix: it was scored without keeping the clip's own sound "
                     "(keep_audio), and its video carries the Foley alone", 404)
    if name == CREDITS_NAME and not path.is_file():  # a job scored before results had credits
        write_credits(path, credits_text(_timeline(job_id), load_catalog()))
    if not path.is_file():  # removed from the card behind the service's back
        return error(f"job {job_id} has no {name} on the appliance any more: score the clip again", 404)
    return _send_result(path, RESULT_FILES[name])


def _send_result(path: Path, mimetype: str):
    """The file with its ETag and no Last-Modified: edits rewrite a result's files several times
    a second, and a date to the second answered If-Modified-Since with 304 for a file rewritten
    since within that second. Conditional requests go by the ETag (If-None-Match) alone."""
    response = send_file(path, mimetype=mimetype, conditional=False)
    del response.headers["Last-Modified"]
    try:
        return response.make_conditional(request.environ, accept_ranges=True, complete_length=response.content_length)
    except Exception:
        response.close()  # the file send_file opened (a Range past its end: a 416)
        raise


def _timeline(job_id: str) -> Timeline:
    return Timeline.from_json(json.loads((jobs().job_dir(job_id) / TIMELINE_NAME).read_text(encoding="utf-8")))


@api.delete("/api/v1/jobs/<job_id>")
def delete_job(job_id: str):
    job, missing = _job_or_404(job_id)
    if missing:
        return missing
    with job_lock(job_id):  # waits for a re-mix of this job in progress (events_api.swap)
        if not jobs().delete(job_id):
            if jobs().get(job_id) is None:  # another request deleted it first
                return error(f"no job {job_id!r}", 404)
            return error(f"job {job_id} is running; delete it when it has finished", 409)
    services().player.stop(job_id)  # its sound, if it is playing on the board
    services().purger.request()  # a removed sound only this job used can go now
    return "", 204

