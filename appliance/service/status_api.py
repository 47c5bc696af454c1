"""API v1 for the page's plain-words view of the board and its jobs: the board's health
(CPU temperature, free disk of the state folder, jobs waiting) and each job's thumbnail.

A thumbnail is made from the clip's first frame the first time it is asked for (written
atomically into the job's folder and served from there after), so it exists for every job
that has its upload — waiting, running, done, scored by another board, or scored before
thumbnails existed — without slowing the upload or the scoring down.
"""
from __future__ import annotations

from pathlib import Path

import cv2
from flask import Blueprint, jsonify, send_file

from appliance.atomic import atomic_open
from appliance.config import MB
from appliance.errors import UsageError
from appliance.service.jobs import INPUT_NAME, JOB_ID, QUEUED, RUNNING
from appliance.service.shared import error, jobs, services
from appliance.service.state import free_bytes
from appliance.video import DEFAULT_MAX_SECONDS, iter_frames

status_api = Blueprint("status_api", __name__)
THUMBNAIL_NAME = "thumbnail.jpg"
THUMBNAIL_WIDTH = 160
THUMBNAIL_QUALITY = 80
THERMAL = Path("/sys/class/thermal")
CPU_ZONES = ("cpu-thermal", "cpu_thermal", "x86_pkg_temp", "soc-thermal", "soc_thermal")
"""Thermal zone types that are the CPU's (Raspberry Pi, Intel, other ARM boards), preferred in this order."""


def cpu_temperature(root: Path = THERMAL) -> float | None:
    """The CPU's temperature in °C from the kernel's thermal zones; None where there are none."""
    zones = {}
    for zone in sorted(root.glob("thermal_zone*")):
        try:
            zones[(zone / "type").read_text().strip()] = int((zone / "temp").read_text().strip()) / 1000
        except (OSError, ValueError):
            continue
    for name in CPU_ZONES:
        if name in zones:
            return round(zones[name], 1)
    return round(next(iter(zones.values())), 1) if zones else None


def _size(count: int) -> str:
    """In the settings' unit (config.MB, 1024²), so the free space shown and service.min_free_mb
    agree on when uploads are refused."""
    for unit, scale in (("TB", MB << 20), ("GB", MB << 10), ("MB", MB)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count / 1024:.0f} kB"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@status_api.get("/api/v1/status")
def status():
    """The board in figures and in one sentence."""
    temperature = cpu_temperature()
    free = free_bytes(services().folder)
    waiting, running = jobs().count(QUEUED), jobs().count(RUNNING)
    removed = services().retention.removed_total
    words = [f"CPU at {temperature:.0f} °C" if temperature is not None else "CPU temperature not available",
             f"{_size(free)} free for clips and results",
             f"{_plural(waiting, 'job')} waiting" + (f", {running} being scored" if running else "")]
    if removed:
        words.append(f"{_plural(removed, 'old job')} removed to make room since the service started")
    return jsonify(cpu_temperature_c=temperature, disk_free_bytes=free, jobs_waiting=waiting, jobs_running=running,
                   old_jobs_removed=removed, summary="; ".join(words))


@status_api.get("/api/v1/jobs/<job_id>/thumbnail.jpg")
def thumbnail(job_id: str):
    job = jobs().get(job_id) if JOB_ID.fullmatch(job_id) else None
    if job is None:
        return error(f"no job {job_id[:40]!r}", 404)
    folder = jobs().job_dir(job_id)
    path = folder / THUMBNAIL_NAME
    if not path.is_file():
        try:
            first = next(iter_frames(folder / INPUT_NAME, THUMBNAIL_WIDTH, colour=True,
                                     max_seconds=job.options.get("max_seconds", DEFAULT_MAX_SECONDS)))
        except (UsageError, StopIteration, FileNotFoundError):
            return error(f"job {job_id} has no picture to show (its clip is gone or has no decodable frame)", 404)
        ok, jpeg = cv2.imencode(".jpg", first.bgr, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
        if not ok:
            return error(f"job {job_id}: the picture could not be encoded", 404)
        try:
            with atomic_open(path, binary=True) as out:
                out.write(jpeg.tobytes())
        except UsageError:  # the job's folder went away meanwhile (deleted)
            return error(f"no job {job_id!r}", 404)
    return send_file(path, mimetype="image/jpeg", max_age=3600)
