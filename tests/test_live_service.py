"""The page's Live switch through the API: the real `foley serve` with live mode on the audio
seam, the real `foley capture` with the file camera (its demo clip of knocks); the actions
arrive as Server-Sent Events, two clients switching at once leave one state, listeners are
bounded, the streams end when live stops, and without the daemon the switch says why. Record
while live: the performance's MP4 (picture and the sound played) and timeline land in the
history, stopped by the client, at its longest, or with live mode; editable there."""
from __future__ import annotations

import http.client
import io
import json
import threading
import time
import urllib.request
from urllib.parse import urlsplit

import av
import numpy as np
import pytest
import soundfile

from appliance.config import Config, ServiceConfig
from appliance.live.recorder import LiveRecorder
from appliance.service.app import create_app
from appliance.service.live_control import MAX_LISTENERS
from tests.conftest import get_json, start_server
from tests.test_capture_daemon import wait_for
from tests.test_capture_service import post, runtime, start_capture, stop  # noqa: F401 (runtime: a fixture)


def open_stream(base: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=90)
    connection.request("GET", "/api/v1/live/events")
    return connection, connection.getresponse()


def messages(response: http.client.HTTPResponse):
    """(event name, data) of each Server-Sent Event until the stream ends."""
    name, data = "message", []
    for raw in response:
        line = raw.decode().rstrip("\n")
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


def live_board(tmp_path, live_settings: str = ""):
    """A real `foley serve` with live mode on the audio seam (plus `live_settings`, YAML lines)
    and a real `foley capture` on the file camera submitting to it."""
    config = tmp_path / "serve.yaml"
    config.write_text("live:\n  output: seam\n" + live_settings)
    served = start_server(tmp_path, args=("--config", str(config)))
    return served, start_capture(tmp_path, int(served.base.rsplit(":", 1)[1]))


def test_live_mode_from_the_api_streams_each_action_and_ends_with_it(runtime, tmp_path):  # noqa: F811
    served, capture = live_board(tmp_path)
    base = served.base
    try:
        assert get_json(f"{base}/api/v1/live")["on"] is False
        assert open_stream(base)[1].status == 204, "nothing to listen to while live is off"
        assert post(f"{base}/api/v1/live", {"on": "yes"})[0] == 400

        answers = []
        switches = [threading.Thread(target=lambda: answers.append(post(f"{base}/api/v1/live",
                                                                        {"on": True, "description": "knocking on wood"})))
                    for _ in range(2)]
        for switch in switches:
            switch.start()
        for switch in switches:
            switch.join()
        assert [code for code, _ in answers] == [200, 200] and all(state["on"] for _, state in answers)

        connection, response = open_stream(base)
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        sounds, events = None, []
        for name, data in messages(response):
            if name == "sounds":
                sounds = {s["id"] for s in data["sounds"]}
            elif name == "event":
                assert sounds and data["template_id"] in sounds, "the sound set came before its sounds"
                events.append(data)
                if len(events) == 3:
                    break
        event = events[0]
        assert set(event) >= {"n", "time", "category", "template_id", "audio_url", "gain_db", "pan", "offset",
                              "captured_at", "server_ms", "late"}
        assert all(e["late"] is (e["server_ms"] > 150) for e in events), "later than live.latency_budget_ms"
        assert [e["n"] for e in events] == sorted(e["n"] for e in events)
        print("frame → event sent (ms):", [e["server_ms"] for e in events])
        state = get_json(f"{base}/api/v1/live")
        assert state["state"] == "on" and state["description"] == "knocking on wood"

        others = [open_stream(base) for _ in range(MAX_LISTENERS - 1)]
        assert all(r.status == 200 for _, r in others)
        extra = open_stream(base)[1]
        assert extra.status == 503 and "already listening" in json.loads(extra.read())["error"]

        code, state = post(f"{base}/api/v1/live", {"on": False})
        assert code == 200 and state["on"] is False
        rest = [name for name, _ in messages(response)]
        assert rest[-1] == "end", "the stream ends when live stops"
        for other, other_response in others:
            assert [name for name, _ in messages(other_response)][-1] == "end"
            other.close()
        connection.close()
        state = wait_for(lambda: (s := get_json(f"{base}/api/v1/live"))["last_session"] and s, 10)
        assert state["state"] == "off" and state["last_session"]["impacts"] >= 3, state  # (a sound late on the board is dropped there)
        assert post(f"{base}/api/v1/live", {"on": False}) == (200, get_json(f"{base}/api/v1/live"))
        assert post(f"{base}/api/v1/live", {"on": True})[0] == 200
        wait_for(lambda: get_json(f"{base}/api/v1/live")["state"] == "on", 60)
        stop(capture)  # the camera goes away under a running session: it ends and says why
        state = wait_for(lambda: (s := get_json(f"{base}/api/v1/live"))["state"] == "off" and s, 20)
        assert "camera lost" in state["error"], state
        code, refused = post(f"{base}/api/v1/live", {"on": True})
        assert code == 503 and "capture daemon" in refused["error"]
    finally:
        stop(capture)
        assert served.stop() == 0


def test_the_relay_drops_a_page_that_stops_reading_and_bounds_the_listeners():
    from appliance.service.live_control import LISTENER_QUEUE, Busy, Relay

    relay = Relay()
    relay.publish({"type": "sounds", "sounds": [{"id": "knock-1", "audio_url": "/api/v1/library/knock-1/audio"}]})
    stalled = relay.join()
    assert stalled.messages.get_nowait()["type"] == "sounds", "a page that joins gets the sound set first"
    listeners = [relay.join() for _ in range(MAX_LISTENERS - 1)]
    with pytest.raises(Busy):
        relay.join()
    for n in range(LISTENER_QUEUE + 1):
        relay.publish({"type": "event", "n": n})
        for listener in listeners:
            listener.messages.get_nowait()
    assert stalled.dropped and not any(listener.dropped for listener in listeners)
    relay.join()  # its slot is free again
    relay.close()
    for listener in listeners:
        assert list(listener.messages.queue)[-1] is None, "every stream ends when live stops"


def _patch(url: str, body: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="PATCH",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def _filed(base: str, recording_id: str) -> dict:
    return wait_for(lambda: (last := get_json(f"{base}/api/v1/live")["last_recording"]) and last["id"] == recording_id
                    and last["state"] in ("done", "failed") and last, 60)


def test_record_while_live_files_the_performance_in_the_history(runtime, tmp_path):  # noqa: F811
    served, capture = live_board(tmp_path, "  max_record_seconds: 20\n")
    base = served.base
    try:
        assert post(f"{base}/api/v1/live/record", {"on": "yes"})[0] == 400
        code, refused = post(f"{base}/api/v1/live/record", {"on": True})
        assert code == 409 and "live mode is not on" in refused["error"]
        assert post(f"{base}/api/v1/live", {"on": True, "description": "knocking on wood"})[0] == 200
        wait_for(lambda: get_json(f"{base}/api/v1/live")["state"] == "on", 60)

        # Started, started again (nothing changes), stopped by the client: filed in the history.
        code, state = post(f"{base}/api/v1/live/record", {"on": True})
        assert code == 200 and state["recording"]["max_seconds"] == 20
        first = state["recording"]["id"]
        assert post(f"{base}/api/v1/live/record", {"on": True})[1]["recording"]["id"] == first
        connection, response = open_stream(base)
        sounded = 0
        for name, data in messages(response):  # actions sounded in time while recording, and their sounds heard
            sounded += name == "event" and not data["late"]  # (a late cue is dropped, rightly, on a loaded CI)
            if sounded == 2:
                break
        connection.close()
        time.sleep(1.0)
        code, state = post(f"{base}/api/v1/live/record", {"on": False})
        assert code == 200 and state["recording"] is None and state["last_recording"]["id"] == first
        filed = _filed(base, first)
        assert filed["state"] == "done" and filed["why"] == "stopped" and filed["error"] is None, filed
        job = get_json(f"{base}/api/v1/jobs/{filed['job_id']}")
        assert job["state"] == "done" and job["description"] == "knocking on wood"
        assert job["duration"] == pytest.approx(filed["seconds"], abs=0.5), "the history shows its length"
        assert filed["job_id"] in [j["id"] for j in get_json(f"{base}/api/v1/jobs")["jobs"]]
        assert get_json(f"{base}/api/v1/live")["state"] == "on", "live mode goes on"

        # The MP4: the camera's picture and the sound played, each sound where the timeline says it was heard.
        timeline = get_json(f"{base}/api/v1/jobs/{filed['job_id']}/timeline.json")
        assert timeline["request"]["mode"] == "live" and timeline["events"], timeline
        assert timeline["clip"]["duration"] == pytest.approx(filed["seconds"], abs=0.5)
        with av.open(io.BytesIO(_download(f"{base}/api/v1/jobs/{filed['job_id']}/video.mp4"))) as container:
            assert container.streams.video and container.streams.audio
            assert sum(1 for _ in container.decode(video=0)) >= 0.8 * 30 * filed["seconds"]
        played, rate = soundfile.read(io.BytesIO(_download(f"{base}/api/v1/jobs/{filed['job_id']}/audio.wav")))
        envelope = np.abs(played).max(axis=1)
        assert len(envelope) / rate == pytest.approx(timeline["clip"]["duration"], abs=0.001), "as long as the picture"
        for event in timeline["events"]:
            assert 0 <= event["time"] < timeline["clip"]["duration"]
            at = round(event["time"] * rate)
            assert envelope[at:at + 960].max() >= 0.01, event["time"]
        # Editable there like a scored clip.
        event = timeline["events"][0]
        assert _patch(f"{base}/api/v1/jobs/{filed['job_id']}/events/{event['n']}", {"gain_db": event["gain_db"] - 6}) == 200
        edited = get_json(f"{base}/api/v1/jobs/{filed['job_id']}/timeline.json")["events"][0]
        assert edited["gain_db"] == pytest.approx(event["gain_db"] - 6, abs=0.1)

        # Not stopped: it stops by itself at live.max_record_seconds.
        second = post(f"{base}/api/v1/live/record", {"on": True})[1]["recording"]["id"]
        filed = _filed(base, second)
        assert filed["state"] == "done" and "max_record_seconds" in filed["why"] and filed["seconds"] >= 20, filed

        # Live mode switched off while recording: the recording is finished and filed with it.
        third = post(f"{base}/api/v1/live/record", {"on": True})[1]["recording"]["id"]
        time.sleep(2.0)
        assert post(f"{base}/api/v1/live", {"on": False})[0] == 200
        filed = _filed(base, third)
        assert filed["state"] == "done" and filed["why"] == "live mode stopped" and filed["job_id"], filed
        assert not list((tmp_path / "state" / "live-recordings").iterdir()), "the history holds them now"
    finally:
        stop(capture)
        assert served.stop() == 0


def test_record_while_live_needs_room_on_the_disk(tmp_path):
    config = Config(service=ServiceConfig(min_free_mb=1_000_000))
    client = create_app(config, queue=None, service_folder=tmp_path / "service", token="t").test_client()
    answer = client.post("/api/v1/live/record", json={"on": True})
    assert answer.status_code == 507 and answer.get_json()["needed_mb"] > answer.get_json()["free_mb"]
    assert client.post("/api/v1/live/record", json={"on": True}, headers={"Origin": "http://elsewhere.example"},
                       ).status_code == 403


def test_what_a_killed_live_recording_left_is_removed_when_the_service_starts(tmp_path):
    """kill -9 (or a power cut) during Record while live: the picture and sound being written."""
    folder = tmp_path / "live-recordings"
    folder.mkdir()
    recorder = LiveRecorder(folder / "live-20261203-112015-f7d11e.mp4", 30.0)
    for index in range(30):
        recorder.frame(np.zeros((64, 64, 3), np.uint8), 1.0 + index / 30)
    left = [recorder.video_path, recorder.audio_path]
    wait_for(lambda: all(path.exists() for path in left))  # the process dies here: nothing closes them
    kept = folder / "live-20261203-090000-a1b2c3.mp4"  # muxed, not filed in the history: kept
    kept.write_bytes(b"mp4")
    create_app(Config(), queue=None, service_folder=tmp_path / "service", token="t")
    assert sorted(folder.iterdir()) == [kept]
