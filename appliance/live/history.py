"""A recording scored where it was made, in the service's history like an uploaded clip: listed,
played, downloaded, and its sounds swappable (the swap re-mixes offline from the timeline, as
for any result). Two makers file this way: a live session's recording (`foley live --record`,
or the page's Record while live) and a camera recording the capture daemon scored while it
was recorded (capture/scoring.py).

The maker writes the job itself, through the same `JobStore` (SQLite in WAL mode, a connection of its own) the
service and its workers use: a job created already claimed by this process (never queued)
and finished at once, its folder holding the camera picture as the job's input, the sound that
was played (WAV), the MP4 and the timeline. Nothing is queued, so no worker scores it again; if
this process died between the claim and the finish, the service's recovery would find the job
running under a dead process and score it from its input like any interrupted job.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from appliance.atomic import atomic_path, durable_move, write_json_atomic
from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import CREDITS_NAME, MP4_NAME, TIMELINE_NAME, WAV_NAME


def add_to_history(mp4: Path, picture: Path, played: Path, timeline: dict, options: ScoreOptions,
                   seconds: float, service_folder: Path, *, credits: Path | None = None, move_mp4: bool = False) -> str:
    """File the recording as a finished job; `picture` (the camera-only MP4), `played` (the WAV
    of the sound played) and `credits` are moved into it, `mp4` copied (moved with `move_mp4`:
    a recording the capture daemon scored, whose MP4 is nobody else's), `timeline` written,
    `options` as the job's request (a swap's re-mix and the result pages read its loudness
    target and length limit, as for an upload).
    Each is on disk to stay, data and name, before the job is marked done: a plain rename of a
    file whose data was never fsynced could leave, after a power cut, a finished job with an
    empty sound. Returns the job id."""
    from appliance.service.jobs import INPUT_NAME, JobStore, give_back, worker_id

    store = JobStore(service_folder)
    job, moves = None, []
    try:
        duration = timeline.get("clip", {}).get("duration")  # the history shows the clip's length
        job = store.create(mp4.name, options.description, options.accepting(duration).key_fields(), upload=picture,
                           duration=duration, worker=worker_id())  # running from its first row: never queued
        folder = store.job_dir(job.id)
        moves = [(picture, folder / INPUT_NAME), (played, folder / WAV_NAME), (credits, folder / CREDITS_NAME),
                 (mp4 if move_mp4 else None, folder / MP4_NAME)]
        durable_move(played, folder / WAV_NAME)  # the recording may be on another disk than the state
        if credits is not None:
            durable_move(credits, folder / CREDITS_NAME)
        if move_mp4:
            durable_move(mp4, folder / MP4_NAME)
        else:
            with atomic_path(folder / MP4_NAME) as temp:
                shutil.copyfile(mp4, temp)
        write_json_atomic(folder / TIMELINE_NAME, timeline)
        store.finish(job.id, seconds)
        return job.id
    except BaseException:
        if job is not None:  # not left as a job of nothing; what it had taken goes back (the
            give_back(moves)  # camera's clip is its caller's to hand over another way)
            store.forget(job.id)
        raise
    finally:
        store.db.close()
