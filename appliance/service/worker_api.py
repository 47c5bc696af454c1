"""API v1 for scoring workers on other boards (fleet mode without a shared disk).

A worker that cannot see the front end's state directory takes a job id from the shared broker
and then does over HTTP what a local worker does on disk: claim the job, fetch its upload (and a
recording's analysis), report progress (which is also its heartbeat), and hand back the
finished files or the reason it failed. Every call names the worker (`X-Foley-Worker`), and only
the worker that claimed a job may report on it, so a worker that was presumed dead and comes
back cannot overwrite the result of the one that took its job over.
"""
from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path

import soundfile

from flask import Blueprint, jsonify, request, send_file

from appliance.atomic import durable_replace
from appliance.engine.mux import AUDIO_BITRATE, REENCODE_BITRATE
from appliance.engine.pipeline import CREDITS_NAME, MIX_NAME, MP4_NAME, TIMELINE_NAME, WAV_NAME
from appliance.engine.timeline import Timeline
from appliance.engine.edits import EVENTS_PER_SECOND, MIN_EVENTS
from appliance.errors import UsageError, is_number, is_text
from appliance.mixing import SAMPLE_RATE
from appliance.service.shared import disk_full, error, job_lock, jobs
from appliance.video.probe import probe
from appliance.service.jobs import ANALYSIS_NAME, INPUT_NAME, JOB_ID, RUNNING, JobStore

worker_api = Blueprint("worker_api", __name__)
WORKER = re.compile(r"^[A-Za-z0-9._-]{1,64}(/[0-9a-f-]{1,8})?:\d{1,10}$")
"""A worker's id (jobs.worker_id): HOST/BOOT:PID, or HOST:PID from a worker of an older version."""
RESULT_PARTS = (WAV_NAME, MP4_NAME, TIMELINE_NAME)
OPTIONAL_PARTS = (CREDITS_NAME, MIX_NAME)
"""Sent when the worker made them: credits (a worker of an older version makes none: the
result route writes them from the timeline) and the mix (keep_audio only)."""
RESULT_MARGIN = 16 * 1024 * 1024
"""Room in a result besides its audio and video: the timeline, the credits, the form's boundaries."""
TIMELINE_HEADER_BYTES, TIMELINE_EVENT_BYTES = 64 * 1024, 2 * 1024
"""A result's timeline is read whole to check it (timeline_bound)."""


def most_result_bytes(clip_bytes: int, seconds: float) -> int:
    """The most bytes a worker's result for a clip of `clip_bytes` and `seconds` may have, from
    what its job can produce: the MP4 twice over (its video is the clip's own, copied, or
    re-encoded at REENCODE_BITRATE, whichever is more; its AAC track at AUDIO_BITRATE; rate
    control can overshoot), the two WAVs exactly (the Foley and the mix, 16-bit stereo at
    48 kHz), plus RESULT_MARGIN. Not the clip upload limit: the result of a 150 MB clip of 10
    minutes, with its two WAVs of 115 MB, is over the 200 MB that let the clip in; and the AAC
    track alone (24 KB a second) outgrows a small clip of an hour."""
    video = max(clip_bytes, seconds * REENCODE_BITRATE / 8)
    return int(2 * (video + seconds * AUDIO_BITRATE / 8) + 2 * seconds * SAMPLE_RATE * 2 * 2) + RESULT_MARGIN


def result_limit(store: JobStore, job_id: str, max_seconds: float) -> int | None:
    """`most_result_bytes` for the job `job_id` (None: no such job): its clip's size and
    duration, or `max_seconds` when the clip's header did not say. The gate asks before the
    body is read (gate.py)."""
    job, clip = store.get(job_id), store.job_dir(job_id) / INPUT_NAME
    if job is None or not clip.is_file():
        return None
    return most_result_bytes(clip.stat().st_size, job.duration or max_seconds)


def _claimed_job(job_id: str):
    """(job, None) when the calling worker holds `job_id`, else (None, the JSON error)."""
    worker = request.headers.get("X-Foley-Worker", "")
    if not WORKER.match(worker):
        return None, error("header X-Foley-Worker (host/boot:pid) is required", 400)
    job = jobs().get(job_id) if JOB_ID.fullmatch(job_id) else None
    if job is None:
        return None, error(f"no job {job_id[:40]!r}", 404)
    if job.state != RUNNING or job.worker != worker:
        return None, error(f"job {job_id} is not held by {worker} (it is {job.state})", 409)
    return job, None


@worker_api.post("/api/v1/jobs/<job_id>/claim")
def claim(job_id: str):
    worker = request.headers.get("X-Foley-Worker", "")
    if not WORKER.match(worker):
        return error("header X-Foley-Worker (host/boot:pid) is required", 400)
    job = jobs().start(job_id, worker) if JOB_ID.fullmatch(job_id) else None
    if job is None:
        return error(f"job {job_id[:40]} is not waiting (deleted, or taken by another worker)", 409)
    return jsonify({**job.public(), "has_analysis": (jobs().job_dir(job_id) / ANALYSIS_NAME).is_file()})


@worker_api.get("/api/v1/jobs/<job_id>/input")
def job_input(job_id: str):
    job, problem = _claimed_job(job_id)
    return problem or send_file(jobs().job_dir(job_id) / INPUT_NAME, mimetype="application/octet-stream")


@worker_api.get("/api/v1/jobs/<job_id>/analysis.npz")
def job_analysis(job_id: str):
    job, problem = _claimed_job(job_id)
    if problem:
        return problem
    path = jobs().job_dir(job_id) / ANALYSIS_NAME
    return send_file(path, mimetype="application/octet-stream") if path.is_file() else error("no analysis", 404)


def _claimed_job_and_body(job_id: str, valid, usage: str):
    """(job, JSON body, None) for the holder of `job_id` sending a body `valid` accepts, else
    (None, None, the JSON error)."""
    job, problem = _claimed_job(job_id)
    if problem:
        return None, None, problem
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not valid(body):
        return None, None, error(f"the body must be {usage}", 400)
    return job, body, None


@worker_api.post("/api/v1/jobs/<job_id>/progress")
def progress(job_id: str):
    job, body, problem = _claimed_job_and_body(
        job_id, lambda b: is_text(b.get("stage")) and is_number(b.get("fraction")),
        '{"stage": text, "fraction": number}')
    if problem:
        return problem
    jobs().progress(job_id, body["stage"][:40], float(body["fraction"]))
    return "", 204


@worker_api.post("/api/v1/jobs/<job_id>/result")
def result(job_id: str):
    """The holder's finished files, each saved whole, then the job done. A result the state
    folder's disk has no room for (its files once, plus service.min_free_mb, as an upload is
    checked) gets 507 before its form is parsed: the job stays as it was, running and without
    files, for the worker to report the failure, rather than filling the disk and failing half-way."""
    job, problem = _claimed_job(job_id)
    if problem:
        return problem
    full = disk_full(request.content_length or 0, 1.0)
    if full:
        return full
    missing = [name for name in RESULT_PARTS if name not in request.files]
    try:
        seconds = float(request.form.get("seconds", ""))
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds < math.inf:
        return error("field 'seconds' (scoring time) must be a number of seconds", 400)
    if missing:
        return error(f"missing result files: {', '.join(missing)}", 400)
    if not _is_timeline(request.files[TIMELINE_NAME], timeline_bound(job)):
        return error(f"{TIMELINE_NAME} is not a timeline this service can read", 400)
    folder = jobs().job_dir(job_id)
    names = RESULT_PARTS + tuple(n for n in OPTIONAL_PARTS if n in request.files)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".result-") as staging:
        for name in names:
            request.files[name].save(Path(staging) / name)
        problem = _unplayable(Path(staging), job)
        if problem:
            return error(problem, 400)
        with job_lock(job_id):  # against a /fail of the same worker, or a re-queue, meanwhile
            now = jobs().get(job_id)
            if now.state != RUNNING or now.worker != job.worker:
                return error(f"job {job_id} is no longer held by {job.worker}", 409)
            for name in names:  # each complete; the job is done only once all are in
                durable_replace(Path(staging) / name, folder / name)
            if not jobs().finish(job_id, seconds, worker=job.worker):
                return error(f"job {job_id} is no longer held by {job.worker}", 409)
    return "", 204


def timeline_bound(job) -> int:
    """The most bytes a result's timeline may have: ~1 KB an event is measured, and an edited
    clip holds at most edits.max_events; twice that per event, plus room for the clip's header.
    A flat 64 MB let a worker's junk timeline of 22 MB take the front end from 151 to 708 MB."""
    seconds = job.duration or job.options.get("max_seconds") or 600.0
    return TIMELINE_HEADER_BYTES + TIMELINE_EVENT_BYTES * max(MIN_EVENTS, math.ceil(EVENTS_PER_SECOND * seconds))


def _unplayable(folder: Path, job) -> str | None:
    """Why the result's sound or video is not one (None when both are): a WAV of 48 kHz stereo
    no longer than the clip (and a second), an MP4 this service reads as a video. Random bytes
    under those names were accepted, and the job shown done with them."""
    seconds = (job.duration or job.options.get("max_seconds") or 600.0) + 1.0
    for name in (WAV_NAME, MIX_NAME):
        if (folder / name).is_file():
            try:
                info = soundfile.info(str(folder / name))
            except (RuntimeError, soundfile.LibsndfileError):
                return f"{name} is not a WAV"
            if info.samplerate != SAMPLE_RATE or info.channels != 2 or info.frames > seconds * SAMPLE_RATE:
                return f"{name} must be 48 kHz stereo and no longer than the clip"
    try:
        probe(folder / MP4_NAME, max_seconds=seconds)
    except UsageError:
        return f"{MP4_NAME} is not a video this service can read"
    return None


def _is_timeline(part, bound: int) -> bool:
    """Whether the result's timeline reads as one (Timeline.from_json), as every edit and page
    will read it: a job was marked done with a timeline of junk, and its edits, credits and
    page were then 500s. Read whole in memory, so held to `bound` (timeline_bound)."""
    data = part.stream.read(bound + 1)
    part.stream.seek(0)
    if len(data) > bound:
        return False
    try:
        Timeline.from_json(json.loads(data))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):  # RecursionError: "[" * 200000
        return False
    return True


@worker_api.post("/api/v1/jobs/<job_id>/fail")
def fail(job_id: str):
    job, body, problem = _claimed_job_and_body(
        job_id, lambda b: is_text(b.get("reason")) and b["reason"].strip(), '{"reason": text}')
    if problem:
        return problem
    with job_lock(job_id):
        if not jobs().fail(job_id, body["reason"].strip()[:500], worker=job.worker):
            return error(f"job {job_id} is no longer held by {job.worker}", 409)
    return "", 204
