"""Playing a finished result on the board (POST /api/v1/jobs/<id>/play, /api/v1/play/stop,
GET /api/v1/play) through the live mode's audio seam (live.output = seam): the seam is handed
the result's sound block by block at the device's pace; stop, replace, delete while playing,
and the refusals (404, 409, 503 without an audio device)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from appliance.config import LiveConfig
from appliance.engine.timeline import AmbienceEntry, ClipInfo, OutputSpec, Stats, Timeline
from appliance.mixing import SAMPLE_RATE
from appliance.service.jobs import JobStore
from tests.test_service_api import TOKEN, make_client, upload
from tests.test_service_api import clip_bytes  # noqa: F401  (module fixture)

SEAM = LiveConfig(output="seam", period=256, periods=3)


class Heard:
    """The blocks the seam was handed (the player's sink), with their hand-over times."""

    def __init__(self):
        self.lock = threading.Lock()
        self.blocks: list[tuple[float, float]] = []  # (handed at, peak)

    def __call__(self, block: np.ndarray, handed_at: float) -> None:
        with self.lock:
            self.blocks.append((handed_at, float(np.abs(block).max())))

    def count(self) -> int:
        with self.lock:
            return len(self.blocks)

    def loud(self) -> int:
        with self.lock:
            return sum(peak > 0.01 for _, peak in self.blocks)


def wait_for(condition, seconds=5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def seam_client(tmp_path):
    """The app on the seam, its player's blocks recorded."""
    client, _, folder = make_client(tmp_path, live=SEAM)
    player = client.application.extensions["foley"].player
    player.sink = heard = Heard()
    yield client, heard, folder
    player.close()


def tone_job(folder, seconds: float, keep_audio: bool = False, level: float = 0.5) -> str:
    """A finished job whose sound is a generated tone of peak `level` and whose timeline is empty
    (no scoring run, so no video.mp4). With keep_audio the tone is its mix.wav (the MP4's track)
    and its audio.wav is silent."""
    store = JobStore(folder)
    upload_file = folder / "tone-upload"
    upload_file.write_bytes(b"x")
    job = store.create("tone.mp4", None, {"keep_audio": keep_audio}, upload_file)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = level * np.sin(2 * np.pi * 440 * t)
    sf.write(store.job_dir(job.id) / "audio.wav", 0 * tone if keep_audio else tone, SAMPLE_RATE)
    if keep_audio:
        sf.write(store.job_dir(job.id) / "mix.wav", tone, SAMPLE_RATE)
    timeline = Timeline(engine={}, clip=ClipInfo("tone.mp4", seconds, 320, 240, 30.0, int(seconds * 30)),
                        request={}, library_version="x", models={}, output=OutputSpec(SAMPLE_RATE, 2, -20.0, -1.0),
                        events=[], ambience=AmbienceEntry(category=None, why="a tone, not scored"),
                        stats=Stats(0, 0, 0, 0, {}, 0.0))
    (store.job_dir(job.id) / "timeline.json").write_text(json.dumps(timeline.to_json()))
    store.start(job.id)
    store.finish(job.id, 0.1)
    store.db.close()
    return job.id


def test_play_hands_the_result_to_the_seam_and_stop_stops(seam_client, clip_bytes):  # noqa: F811
    """A clip scored for real: its Foley track is handed to the seam."""
    client, heard, _ = seam_client
    job_id = upload(client, clip_bytes, description="steps").get_json()["id"]
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["state"] == "done"
    response = client.post(f"/api/v1/jobs/{job_id}/play")
    assert response.status_code == 202
    body = response.get_json()
    assert body["playing"] is True and body["job"] == job_id
    assert body["seconds"] == pytest.approx(4.0, abs=0.1) and body["output"].startswith("audio seam")
    assert wait_for(lambda: heard.loud() > 0), "the seam was handed only silence"
    playing = client.get("/api/v1/play").get_json()
    assert playing["playing"] and playing["job"] == job_id and 0 < playing["position"] <= playing["seconds"]
    # paced like a device (a period apart, later on a busy machine), not as fast as the file can be read
    with heard.lock:
        times = [at for at, _ in heard.blocks]
    assert times[-1] - times[0] >= (len(times) - 1) * 256 / SAMPLE_RATE - 0.02
    stopped = client.post("/api/v1/play/stop")
    assert stopped.status_code == 200 and stopped.get_json() == {"playing": False, "stopped": job_id}
    count = heard.count()
    time.sleep(0.2)
    assert heard.count() == count  # nothing handed after the stop
    assert client.get("/api/v1/play").get_json()["playing"] is False
    assert client.post("/api/v1/play/stop").get_json() == {"playing": False, "stopped": None}


def test_a_result_plays_to_its_end_and_the_player_is_free_again(seam_client):
    client, heard, folder = seam_client
    tone = tone_job(folder, 0.3)
    assert client.post(f"/api/v1/jobs/{tone}/play").status_code == 202
    assert wait_for(lambda: not client.get("/api/v1/play").get_json()["playing"], 3)
    assert heard.count() == -(-int(0.3 * SAMPLE_RATE) // 256)  # every block once, the last padded
    assert client.get("/api/v1/play").get_json() == {
        "playing": False, "job": None, "seconds": None, "position": None, "output": None, "late_blocks": 0,
        "error": None, "blocked": None}


def test_a_result_file_gone_from_the_card_is_a_clear_404_and_credits_are_made_anew(seam_client):
    """A finished job whose video.mp4 is missing (a tone job has none, as if removed from the card):
    a 404 that says so, not a server error; its credits.txt, missing too, is written from the timeline."""
    client, _, folder = seam_client
    tone = tone_job(folder, 0.3)
    gone = client.get(f"/api/v1/jobs/{tone}/video.mp4")
    assert gone.status_code == 404
    assert gone.get_json() == {"error": f"job {tone} has no video.mp4 on the appliance any more: score the clip again"}
    credits = client.get(f"/api/v1/jobs/{tone}/credits.txt")
    assert credits.status_code == 200 and credits.mimetype == "text/plain"


def test_a_second_play_replaces_the_first(seam_client):
    client, heard, folder = seam_client
    silent, tone = tone_job(folder, 5.0, level=0.0), tone_job(folder, 5.0)
    assert client.post(f"/api/v1/jobs/{silent}/play").status_code == 202
    assert wait_for(lambda: heard.count() > 5) and heard.loud() == 0
    assert client.post(f"/api/v1/jobs/{tone}/play").status_code == 202
    assert client.get("/api/v1/play").get_json()["job"] == tone
    count = heard.count()
    assert wait_for(lambda: heard.count() > count + 20)
    with heard.lock:
        tail = [peak for _, peak in heard.blocks[count + 5:]]
    assert min(tail) > 0.4  # the tone now, and only one player feeding the seam (one block per period)
    readers = lambda: sum(t.name == "foley-play-reader" for t in threading.enumerate())  # noqa: E731
    assert wait_for(lambda: readers() == 1)  # the replaced player's reader ended (not the process's count)


def test_deleting_the_job_that_plays_stops_it(seam_client):
    client, heard, folder = seam_client
    job_id = tone_job(folder, 5.0)
    assert client.post(f"/api/v1/jobs/{job_id}/play").status_code == 202
    assert wait_for(lambda: heard.count() > 5)
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    assert client.get("/api/v1/play").get_json()["playing"] is False
    count = heard.count()
    time.sleep(0.2)
    assert heard.count() == count
    assert client.post(f"/api/v1/jobs/{job_id}/play").status_code == 404


def test_unknown_unfinished_and_foreign_requests_are_refused(tmp_path, clip_bytes):  # noqa: F811
    client, _, _ = make_client(tmp_path, run=False, live=SEAM)
    queued = upload(client, clip_bytes).get_json()["id"]
    missing = client.post("/api/v1/jobs/0123456789abcdef/play")
    assert missing.status_code == 404 and "no job" in missing.get_json()["error"]
    unfinished = client.post(f"/api/v1/jobs/{queued}/play")
    assert unfinished.status_code == 409 and "queued" in unfinished.get_json()["error"]
    assert client.post("/api/v1/play/stop", headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/api/v1/play/stop", environ_base={"REMOTE_ADDR": "192.168.1.50"}).status_code == 401
    assert client.post("/api/v1/play/stop", environ_base={"REMOTE_ADDR": "192.168.1.50"},
                       headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_without_an_audio_device_the_answer_says_so(tmp_path):
    client, _, folder = make_client(tmp_path, live=LiveConfig(output="sounddevice", device="no-such-device-xyz"))
    tone = tone_job(folder, 0.5)
    response = client.post(f"/api/v1/jobs/{tone}/play")
    assert response.status_code == 503
    assert response.get_json()["error"].startswith("no audio output on this appliance")
    assert client.get("/api/v1/play").get_json()["playing"] is False


def test_a_job_that_kept_its_own_sound_plays_its_mix(seam_client):
    client, heard, folder = seam_client
    mixed = tone_job(folder, 2.0, keep_audio=True)
    assert client.post(f"/api/v1/jobs/{mixed}/play").status_code == 202
    assert wait_for(lambda: heard.count() > 10)
    assert heard.loud() >= 10  # the mix (the tone), not the silent Foley stem


def test_an_output_lost_while_playing_stops_and_says_why(seam_client):
    client, heard, folder = seam_client
    player = client.application.extensions["foley"].player
    assert client.post(f"/api/v1/jobs/{tone_job(folder, 5.0)}/play").status_code == 202
    assert wait_for(lambda: heard.count() > 5)
    player._current.output.lose()  # the seam behaves as an unplugged device
    assert wait_for(lambda: not client.get("/api/v1/play").get_json()["playing"], 3)
    assert client.get("/api/v1/play").get_json()["error"] == "audio seam unplugged"


def test_an_unreadable_result_is_refused(seam_client):
    client, _, folder = seam_client
    broken = tone_job(folder, 0.5)
    (folder / "jobs" / broken / "audio.wav").write_bytes(b"RIFF not really a wave")
    response = client.post(f"/api/v1/jobs/{broken}/play")
    assert response.status_code == 409 and "could not be read" in response.get_json()["error"]


PORTAUDIO_NULL = """
import sys, time
import numpy as np, soundfile as sf
from appliance.config import LiveConfig
from appliance.engine.timeline import AmbienceEntry, ClipInfo, OutputSpec, Stats, Timeline
from appliance.service.player import Player
sf.write(sys.argv[1], 0.5 * np.sin(np.arange(96000) / 10), 48000)
player = Player(LiveConfig(output="sounddevice", device="nullout", period=256))
handed = []
player.sink = lambda block, at: handed.append(len(block))
started = player.play("job", sys.argv[1])
deadline = time.monotonic() + 20
while player.status().playing and time.monotonic() < deadline:
    time.sleep(0.05)
print(started.output, started.playing, started.seconds, sum(handed), player.status().playing, player.stop())
"""


def test_plays_through_portaudio_on_alsa(tmp_path):
    """The `sounddevice` output for real: PortAudio on ALSA's null device (a private ~/.asoundrc,
    in a child process, as PortAudio reads the ALSA setup once) takes the whole result block by
    block (faster than real time: the null device has no clock), then the player is free."""
    try:
        import sounddevice  # noqa: F401
    except OSError:
        pytest.skip("libportaudio2 is not installed")
    (tmp_path / ".asoundrc").write_text("pcm.nullout { type null }\n")
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", PORTAUDIO_NULL, str(tmp_path / "tone.wav")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["nullout", "True", "2.0", str(-(-96000 // 256) * 256), "False", "None"]
