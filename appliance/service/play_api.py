"""API v1 for playing a finished result on the board's audio output (appliance/service/player.py):
start (replacing what plays; refused while live mode or another program has the speaker, the
policy of board_audio.py), stop, and what is playing."""
from __future__ import annotations

from flask import Blueprint, jsonify

from appliance.engine.outputs import MIX_NAME, WAV_NAME
from appliance.service.api import finished_job
from appliance.service.board_audio import LiveHasSpeaker, board_audio
from appliance.service.player import DeviceBusy, NoAudioDevice, SpeakerBusy
from appliance.service.shared import error, jobs, services

play_api = Blueprint("play_api", __name__)


@play_api.post("/api/v1/jobs/<job_id>/play")
def play(job_id: str):
    job, problem = finished_job(job_id)
    if problem:
        return problem
    name = MIX_NAME if job.options.get("keep_audio") else WAV_NAME  # the MP4's own track
    path = jobs().job_dir(job_id) / name
    if not path.is_file():
        return error(f"job {job_id} has no {name} to play", 404)
    try:
        status = board_audio().play(job_id, path)
    except (LiveHasSpeaker, SpeakerBusy) as exc:
        return error(str(exc), 409)
    except DeviceBusy as exc:
        return error(f"{exc}; stop that program, or choose another device with live.device (docs/board.md)", 409)
    except NoAudioDevice as exc:
        return error(f"no audio output on this appliance ({exc}); connect a speaker or choose one "
                     "with live.device in the config (docs/board.md)", 503)
    except ValueError as exc:
        return error(f"job {job_id} cannot be played: {exc}", 409)
    response = jsonify(status.public())
    response.status_code = 202
    return response


@play_api.post("/api/v1/play/stop")
def stop():
    stopped = services().player.stop()
    return jsonify(playing=False, stopped=stopped.job if stopped else None)


@play_api.get("/api/v1/play")
def playing():
    return jsonify(board_audio().status().public())
