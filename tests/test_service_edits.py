"""Editing a finished job through the API: add, move, re-gain, swap, delete, undo and redo, the
sound picker, and their errors — with the real engine, a real JobStore and the real outputs,
measured in the audio they write.

The clip is scored once per module: the jobs of the other tests are answered by the result
cache (shared by the module), so each test starts from the same finished job in a second."""
from __future__ import annotations

import io
import json
import math
import threading
import time

import av
import numpy as np
import pytest
import soundfile as sf

from appliance.config import Config
from appliance.engine.scene import level_gain
from appliance.library import load_catalog
from appliance.service.app import create_app
from appliance.service.queue import ScoringWorker
from tests.test_service_api import TOKEN, InlineQueue, upload
from tests.test_service_api import clip_bytes  # noqa: F401  (module fixture)

RATE = 48000
MISSING = "0123456789abcdef"


@pytest.fixture(scope="module")
def cache_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def worker(cache_folder):
    """One scoring worker (its engine loaded once) for the module."""
    return ScoringWorker(cache_folder)


def app_on(folder, worker, run=True):
    """A client of a fresh app on the service folder `folder` (a restart, when it already exists)."""
    folder.mkdir(exist_ok=True)
    queue = InlineQueue(folder, worker.cache_folder, run)
    queue.worker = worker
    return create_app(Config(), queue, folder, TOKEN).test_client()


@pytest.fixture
def job(tmp_path, clip_bytes, worker):  # noqa: F811
    client = app_on(tmp_path / "service", worker)
    job_id = upload(client, clip_bytes, description="footsteps on a wooden floor").get_json()["id"]
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["state"] == "done"
    return client, tmp_path / "service", job_id


def timeline_of(client, job_id) -> dict:
    return json.loads(client.get(f"/api/v1/jobs/{job_id}/timeline.json").data)


def track(client, job_id) -> np.ndarray:
    audio, rate = sf.read(io.BytesIO(client.get(f"/api/v1/jobs/{job_id}/audio.wav").data), always_2d=True)
    assert rate == RATE
    return audio.mean(axis=1)


def mp4_track(client, job_id) -> np.ndarray:
    with av.open(io.BytesIO(client.get(f"/api/v1/jobs/{job_id}/video.mp4").data)) as container:
        frames = [f.to_ndarray() for f in container.decode(audio=0)]
    audio = np.concatenate(frames, axis=1)  # planar float: (channels, samples)
    return audio.mean(axis=0)


def rms(audio: np.ndarray, start: float, end: float) -> float:
    part = audio[max(0, int(start * RATE)):int(end * RATE)]
    return float(np.sqrt(np.mean(part ** 2))) if len(part) else 0.0


def quiet_moment(timeline: dict) -> float:
    """The moment of the clip farthest from every placed sound (where an added or moved one is heard alone)."""
    times = np.array([e["time"] for e in timeline["events"]])
    grid = np.arange(0.2, timeline["clip"]["duration"] - 0.4, 0.01)
    return float(grid[np.argmax([np.abs(times - t).min() for t in grid])])


def loudest(timeline: dict, audio: np.ndarray) -> dict:
    return max(timeline["events"], key=lambda e: rms(audio, e["time"] - 0.02, e["time"] + 0.12))


def test_move_regain_delete_and_add_change_the_audio_where_expected(job):
    client, _, job_id = job
    before = timeline_of(client, job_id)
    audio = track(client, job_id)
    event = loudest(before, audio)
    old, new = event["time"], quiet_moment(before)

    moved = client.patch(f"/api/v1/jobs/{job_id}/events/{event['n']}", json={"time": new})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["event"]["time"] == round(new, 4) and moved.get_json()["edits"] == 1
    times = [e["time"] for e in moved.get_json()["timeline"]["events"]]
    assert times == sorted(times)
    after = track(client, job_id)
    assert len(after) == len(audio)  # same duration
    assert rms(after, new - 0.02, new + 0.12) > 5 * rms(audio, new - 0.02, new + 0.12)
    assert rms(after, old - 0.02, old + 0.12) < 0.5 * rms(audio, old - 0.02, old + 0.12)
    # The outputs agree: the stored timeline is the answer, the MP4 carries the same mix.
    assert timeline_of(client, job_id)["events"] == moved.get_json()["timeline"]["events"]
    video_audio = mp4_track(client, job_id)
    assert rms(video_audio, new - 0.02, new + 0.12) > 5 * rms(video_audio, old - 0.02, old + 0.12)
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["edits"] == 1

    softer = client.patch(f"/api/v1/jobs/{job_id}/events/{event['n']}", json={"gain_db": event["gain_db"] - 12})
    assert softer.status_code == 200 and softer.get_json()["event"]["gain_db"] == round(event["gain_db"] - 12, 2)
    quieter = track(client, job_id)
    assert rms(quieter, new - 0.02, new + 0.12) < 0.5 * rms(after, new - 0.02, new + 0.12)

    deleted = client.delete(f"/api/v1/jobs/{job_id}/events/{event['n']}")
    assert deleted.status_code == 200 and set(deleted.get_json()) == {"timeline", "edits", "undo_steps", "redo_steps", "version"}
    assert event["n"] not in [e["n"] for e in deleted.get_json()["timeline"]["events"]]
    assert deleted.get_json()["timeline"]["stats"]["events"] == len(before["events"]) - 1
    gone = track(client, job_id)
    assert rms(gone, new - 0.02, new + 0.12) < 0.1 * rms(quieter, new - 0.02, new + 0.12)

    added = client.post(f"/api/v1/jobs/{job_id}/events", json={"template_id": event["template_id"], "time": new})
    assert added.status_code == 201, added.get_json()
    placed = added.get_json()["event"]
    assert placed["n"] == max(e["n"] for e in before["events"]) + 1  # the deleted number is not reused
    # As strong as the clip's usual action (at full strength it came in 7-10 dB above the others).
    strengths = sorted(e["strength"] for e in deleted.get_json()["timeline"]["events"])
    assert placed["why"]["decision"] == "added by the user" and placed["pan"] == 0
    assert placed["strength"] == strengths[len(strengths) // 2] < 1.0
    assert placed["kind"] in ("impact", "periodic")
    assert rms(track(client, job_id), new - 0.02, new + 0.12) > 5 * rms(gone, new - 0.02, new + 0.12)
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["edits"] == 4


def test_each_event_says_the_gains_an_edit_may_give_it_and_both_ends_are_taken(job):
    """The page's gain slider offers only gains within an event's gain_range_db (it offered up
    to 12 dB louder whatever the sound, and a quiet recording near its top was refused)."""
    client, _, job_id = job
    events = timeline_of(client, job_id)["events"]
    assert all(len(e["gain_range_db"]) == 2 and e["gain_range_db"][0] <= e["gain_db"] <= e["gain_range_db"][1]
               for e in events)
    event = events[0]
    low, high = event["gain_range_db"]
    assert high - low == pytest.approx(52.0)
    url = f"/api/v1/jobs/{job_id}/events/{event['n']}"
    assert client.patch(url, json={"gain_db": high + 0.1}).status_code == 400
    for end in (high, low):
        assert client.patch(url, json={"gain_db": end}).get_json()["event"]["gain_db"] == end
    added = client.post(f"/api/v1/jobs/{job_id}/events", json={"template_id": event["template_id"], "time": 0.5})
    assert added.get_json()["event"]["gain_range_db"] == [low, high]


def test_an_event_of_an_older_timeline_gets_its_gain_range_with_its_first_edit():
    """Timelines written before gain_range_db lack it: a move or a re-gain of one of their sounds
    gives it (the page's slider then keeps to it)."""
    from appliance.engine.edits import Change, change_event
    from appliance.engine.timeline import Timeline
    from appliance.library import load_catalog
    from tests.test_engine_timeline import TIMELINE

    catalog = load_catalog()
    template = catalog.in_category("impact_wood")[0]
    old = {"n": 0, "time": 1.0, "kind": "impact", "strength": 1.0, "position": {"x": 0.5, "y": 0.5},
           "category": "impact_wood", "template_id": template.id, "template": template.description,
           "licence": template.licence, "gain_db": 0.0, "pan": 0.0, "pitch": 1.0,
           "why": {"decision": "computed", "candidates": []}}
    timeline = Timeline.from_json(TIMELINE | {"events": [old]})
    assert timeline.events[0].gain_range_db is None
    _, moved = change_event(timeline, catalog, 0, Change(time=1.5))
    assert moved.gain_range_db is not None and moved.gain_range_db[1] - moved.gain_range_db[0] == pytest.approx(52)


def test_swap_keeps_the_action_gain_and_the_old_post_route_still_swaps(job):
    client, _, job_id = job
    event = timeline_of(client, job_id)["events"][0]
    picker = client.get(f"/api/v1/jobs/{job_id}/events/{event['n']}/candidates").get_json()
    other = next(s for g in picker["groups"] for s in g["sounds"] if not s["current"])
    swapped = client.patch(f"/api/v1/jobs/{job_id}/events/{event['n']}", json={"template_id": other["id"]})
    assert swapped.status_code == 200, swapped.get_json()
    new = swapped.get_json()["event"]
    assert new["template_id"] == other["id"] and new["why"]["decision"] == "chosen by the user"
    assert new["time"] == event["time"] and new["n"] == event["n"]
    back = client.post(f"/api/v1/jobs/{job_id}/events/{event['n']}", json={"template_id": event["template_id"]})
    assert back.status_code == 200
    assert abs(back.get_json()["event"]["gain_db"] - event["gain_db"]) < 0.02  # the action's part kept both ways


def test_undo_redo_survive_a_restart_and_a_new_edit_drops_redo(job, worker):
    client, folder, job_id = job
    assert client.post(f"/api/v1/jobs/{job_id}/undo").status_code == 409
    assert client.post(f"/api/v1/jobs/{job_id}/redo").get_json()["error"] == "nothing to redo"
    steps = lambda answer: (answer["undo_steps"], answer["redo_steps"])  # noqa: E731
    assert steps(client.get(f"/api/v1/jobs/{job_id}").get_json()) == (0, 0)
    first, second = timeline_of(client, job_id)["events"][:2]
    assert client.delete(f"/api/v1/jobs/{job_id}/events/{first['n']}").status_code == 200
    one_edit, one_edit_wav = timeline_of(client, job_id), client.get(f"/api/v1/jobs/{job_id}/audio.wav").data
    assert client.delete(f"/api/v1/jobs/{job_id}/events/{second['n']}").status_code == 200
    undone = client.post(f"/api/v1/jobs/{job_id}/undo")
    assert undone.status_code == 200 and undone.get_json()["edits"] == 1 and steps(undone.get_json()) == (1, 1)
    assert undone.get_json()["timeline"]["events"] == one_edit["events"]
    assert client.get(f"/api/v1/jobs/{job_id}/audio.wav").data == one_edit_wav  # the same mix again
    assert timeline_of(client, job_id)["events"] == one_edit["events"]

    restarted = app_on(folder, worker)
    assert restarted.get(f"/api/v1/jobs/{job_id}").get_json()["edits"] == 1
    assert [(j["edits"], *steps(j)) for j in restarted.get("/api/v1/jobs").get_json()["jobs"]] == [(1, 1, 1)]
    redone = restarted.post(f"/api/v1/jobs/{job_id}/redo")
    assert redone.status_code == 200 and redone.get_json()["edits"] == 2
    assert second["n"] not in [e["n"] for e in redone.get_json()["timeline"]["events"]]
    assert restarted.post(f"/api/v1/jobs/{job_id}/undo").status_code == 200
    assert restarted.post(f"/api/v1/jobs/{job_id}/undo").status_code == 200
    assert restarted.get(f"/api/v1/jobs/{job_id}").get_json()["edits"] == 0
    assert [e["n"] for e in timeline_of(restarted, job_id)["events"]][:2] == [first["n"], second["n"]]
    assert steps(restarted.get(f"/api/v1/jobs/{job_id}").get_json()) == (0, 2)
    regained = restarted.patch(f"/api/v1/jobs/{job_id}/events/{first['n']}", json={"gain_db": -20})
    assert regained.status_code == 200 and steps(regained.get_json()) == (1, 0)
    assert restarted.post(f"/api/v1/jobs/{job_id}/redo").status_code == 409  # the redo branch is gone
    assert restarted.get(f"/api/v1/jobs/{job_id}").get_json()["edits"] == 1


def test_bad_edits_are_clear_errors(job, tmp_path):
    client, _, job_id = job
    event = timeline_of(client, job_id)["events"][0]
    duration = timeline_of(client, job_id)["clip"]["duration"]
    url = f"/api/v1/jobs/{job_id}/events/{event['n']}"
    level = 20 * math.log10(level_gain(load_catalog().get(event["template_id"])))
    for body in ({"time": "1"}, {"time": True}, {"time": -0.1}, {"time": duration + 0.1}, {"gain_db": level + 12.5},
                 {"gain_db": level - 40.5}, {"gain_db": None}, {"template_id": 3}, {"template_id": ""}, {}, {"volume": 1}, []):
        answer = client.patch(url, json=body)
        assert answer.status_code == 400 and answer.is_json, (body, answer.get_json())
    assert client.patch(url, data="{not json", content_type="application/json").status_code == 400
    louder = client.patch(url, json={"gain_db": level + 12})  # the range follows the recording's level
    assert louder.status_code == 200 and louder.get_json()["event"]["gain_db"] == round(level + 12, 2)
    assert client.post(f"/api/v1/jobs/{job_id}/events", json={"time": 1.0}).status_code == 400
    assert client.post(f"/api/v1/jobs/{job_id}/events", json={"template_id": event["template_id"]}).status_code == 400
    assert client.post(f"/api/v1/jobs/{job_id}/events",
                       json={"template_id": event["template_id"], "time": 1, "pan": 2}).status_code == 400
    bed = client.get("/api/v1/library?q=rain falling&limit=1").get_json()["templates"][0]
    assert bed["kind"] == "ambience"
    ambience = client.post(f"/api/v1/jobs/{job_id}/events", json={"template_id": bed["id"], "time": 1})
    assert ambience.status_code == 400 and "ambience" in ambience.get_json()["error"]
    for call in (lambda: client.patch(f"/api/v1/jobs/{job_id}/events/999", json={"gain_db": 0}),
                 lambda: client.delete(f"/api/v1/jobs/{job_id}/events/999"),
                 lambda: client.get(f"/api/v1/jobs/{job_id}/events/999/candidates"),
                 lambda: client.patch(f"/api/v1/jobs/{MISSING}/events/0", json={"gain_db": 0}),
                 lambda: client.post(f"/api/v1/jobs/{MISSING}/events", json={"template_id": "x", "time": 1}),
                 lambda: client.delete(f"/api/v1/jobs/{MISSING}/events/0"),
                 lambda: client.post(f"/api/v1/jobs/{MISSING}/undo"),
                 lambda: client.post("/api/v1/jobs/../undo")):
        answer = call()
        assert answer.status_code == 404 and answer.is_json
    for call in (lambda: client.patch(url, json={"template_id": "no-such-sound"}),
                 lambda: client.post(f"/api/v1/jobs/{job_id}/events", json={"template_id": "no-such-sound", "time": 1})):
        answer = call()
        assert answer.status_code == 409 and "not in the sound library" in answer.get_json()["error"]
        assert str(tmp_path) not in answer.get_json()["error"]
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["edits"] == 1  # only the louder one was applied


def test_a_sound_removed_from_the_library_stays_in_the_results_that_use_it(job, tmp_path):
    """Your sound removed from the library is no longer offered, but the results that placed it
    keep it. Before, every edit of such a result was 409 until the sound was swapped out; placed
    twice (or as the bed), no edit could ever succeed: a swap or delete of one use named the
    other, and undo too."""
    from appliance.library import add_sound

    client, folder, job_id = job
    t = np.arange(RATE // 2) / RATE
    ding = tmp_path / "ding.flac"
    sf.write(ding, (0.5 * np.sin(2 * np.pi * 700 * t) * np.exp(-t / 0.05)).astype(np.float32), RATE)
    mine = add_sound(ding, "impact_wood", tags=("ding",), author="Ada Example")
    first, second, third = timeline_of(client, job_id)["events"][:3]
    picker = client.get(f"/api/v1/jobs/{job_id}/events/{first['n']}/candidates").get_json()
    offered = [s for g in picker["groups"] for s in g["sounds"] if s["user"]]
    assert [s["id"] for s in offered] == [mine.id] and offered[0]["source"] == "your sound · ding.flac"
    for event in (first, second):
        assert client.patch(f"/api/v1/jobs/{job_id}/events/{event['n']}", json={"template_id": mine.id}).status_code == 200
    assert client.delete(f"/api/v1/library/{mine.id}").status_code == 204

    picker = client.get(f"/api/v1/jobs/{job_id}/events/{third['n']}/candidates").get_json()
    assert mine.id not in [s["id"] for g in picker["groups"] for s in g["sounds"]], "no longer offered"
    swap = client.patch(f"/api/v1/jobs/{job_id}/events/{third['n']}", json={"template_id": mine.id})
    assert swap.status_code == 409 and "not in the sound library" in swap.get_json()["error"]
    assert client.patch(f"/api/v1/jobs/{job_id}/events/{third['n']}", json={"gain_db": -10}).status_code == 200
    assert client.delete(f"/api/v1/jobs/{job_id}/events/{first['n']}").status_code == 200
    assert client.post(f"/api/v1/jobs/{job_id}/undo").status_code == 200
    assert [e["template_id"] for e in timeline_of(client, job_id)["events"][:2]] == [mine.id, mine.id]
    credits = client.get(f"/api/v1/jobs/{job_id}/credits.txt").data.decode()
    assert "Ada Example" in credits.split(f"({mine.id})")[1].split("\n\n")[0]


def test_adds_stop_at_the_most_sounds_a_clip_may_hold(job):
    """Every edit re-mixes every event, so each add made the next one slower, without end: 10,000
    events on a 4 s clip were 2 s of mixing and a 4 MB timeline.json per edit."""
    client, _, job_id = job
    timeline = timeline_of(client, job_id)
    most = 50  # 10 a second of clip, at least 50: the floor for this 4 s clip
    assert timeline["clip"]["duration"] * 10 < most
    body = {"template_id": timeline["events"][0]["template_id"], "time": 1.0}
    for _ in range(most - len(timeline["events"])):
        assert client.post(f"/api/v1/jobs/{job_id}/events", json=body).status_code == 201
    full = timeline_of(client, job_id)
    refused = client.post(f"/api/v1/jobs/{job_id}/events", json=body)
    assert refused.status_code == 409 and f"already has {most} sounds" in refused.get_json()["error"]
    assert timeline_of(client, job_id) == full
    assert client.patch(f"/api/v1/jobs/{job_id}/events/{full['events'][0]['n']}", json={"time": 2.0}).status_code == 200
    assert client.delete(f"/api/v1/jobs/{job_id}/events/{full['events'][1]['n']}").status_code == 200
    assert client.post(f"/api/v1/jobs/{job_id}/events", json=body).status_code == 201


def test_the_picker_groups_by_fit_with_the_current_recording_first(job):
    client, _, job_id = job
    event = timeline_of(client, job_id)["events"][0]
    picker = client.get(f"/api/v1/jobs/{job_id}/events/{event['n']}/candidates").get_json()
    groups = picker["groups"]
    assert groups[0]["sounds"][0] == {**groups[0]["sounds"][0], "id": event["template_id"], "current": True}
    assert sum(s["current"] for g in groups for s in g["sounds"]) == 1
    fits = [g["fit"] for g in groups]
    assert fits[0] == "best" and fits == sorted(fits, key=["best", "good", "other"].index)
    assert [g["category"] for g in groups if g["fit"] != "other"] == [c["category"] for c in event["why"]["candidates"]]
    assert all(0 < len(g["sounds"]) <= 8 and g["label"] and " " in g["label"] for g in groups)
    sound = groups[0]["sounds"][0]
    assert sound["audio_url"] == f"/api/v1/library/{sound['id']}/audio" and sound["source"] and sound["licence"]
    assert client.get(sound["audio_url"]).status_code == 200
    for group in groups:  # recordings of one description are told apart by their source
        for description in {s["description"] for s in group["sounds"]}:
            sources = [s["source"] for s in group["sounds"] if s["description"] == description]
            assert len(sources) == len(set(sources))
    assert picker["candidates"] and all(c["id"] != event["template_id"] for c in picker["candidates"])
    searched = client.get(f"/api/v1/jobs/{job_id}/events/{event['n']}/candidates?q=glass shattering").get_json()
    assert searched["groups"][0]["sounds"][0]["current"]
    assert "glass_break" in [g["category"] for g in searched["groups"]]
    assert sum(len(g["sounds"]) for g in searched["groups"]) <= 61
    library = client.get("/api/v1/library?q=glass shattering&limit=5").get_json()["templates"]
    assert library and all(" · " in t["source"] for t in library)  # the page tells recordings apart there too


def test_edits_of_a_running_job_are_409(tmp_path, clip_bytes, worker):  # noqa: F811
    client = app_on(tmp_path / "service", worker, run=False)
    job_id = upload(client, clip_bytes).get_json()["id"]
    for call in (lambda: client.patch(f"/api/v1/jobs/{job_id}/events/0", json={"gain_db": 0}),
                 lambda: client.post(f"/api/v1/jobs/{job_id}/events", json={"template_id": "x", "time": 1}),
                 lambda: client.delete(f"/api/v1/jobs/{job_id}/events/0"),
                 lambda: client.post(f"/api/v1/jobs/{job_id}/undo")):
        answer = call()
        assert answer.status_code == 409 and "queued" in answer.get_json()["error"]


def test_an_edit_after_a_delete_won_the_lock_is_404(job, monkeypatch, tmp_path):
    from appliance.service import events_api
    from appliance.service.jobs import JobStore

    client, folder, job_id = job
    event = timeline_of(client, job_id)["events"][0]
    real_lock = events_api.job_lock

    def delete_first(job):  # the delete lands between the edit's first check and its lock
        JobStore(folder).delete(job)
        return real_lock(job)

    monkeypatch.setattr(events_api, "job_lock", delete_first)
    for call in (lambda: client.patch(f"/api/v1/jobs/{job_id}/events/{event['n']}", json={"gain_db": -3}),
                 lambda: client.delete(f"/api/v1/jobs/{job_id}/events/{event['n']}"),
                 lambda: client.post(f"/api/v1/jobs/{job_id}/events", json={"template_id": event["template_id"],
                                                                            "time": 1}),
                 lambda: client.post(f"/api/v1/jobs/{job_id}/undo")):
        answer = call()
        assert answer.status_code == 404 and answer.is_json and str(tmp_path) not in answer.get_json()["error"]


def test_a_delete_waits_for_an_edit_in_progress(job, monkeypatch):
    import time

    from appliance.service import events_api

    client, folder, job_id = job
    event = timeline_of(client, job_id)["events"][0]
    real_write = events_api.write_outputs

    def slow_write(*args, **kwargs):
        time.sleep(0.5)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(events_api, "write_outputs", slow_write)
    answers = []
    editor = threading.Thread(target=lambda: answers.append(
        client.patch(f"/api/v1/jobs/{job_id}/events/{event['n']}", json={"gain_db": -3})))
    editor.start()
    time.sleep(0.2)
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    editor.join(30)
    assert answers[0].status_code == 200, answers[0].get_json()
    assert not (folder / "jobs" / job_id).exists()
    assert client.post(f"/api/v1/jobs/{job_id}/undo").status_code == 404


def test_concurrent_edits_are_serialised(job):
    client, _, job_id = job
    before = timeline_of(client, job_id)
    template = before["events"][0]["template_id"]
    times = [0.1 + 0.3 * k for k in range(4)]
    answers = []
    threads = [threading.Thread(target=lambda t=t: answers.append(client.post(
        f"/api/v1/jobs/{job_id}/events", json={"template_id": template, "time": t}))) for t in times]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(a.status_code for a in answers) == [201] * 4
    assert sorted(a.get_json()["edits"] for a in answers) == [1, 2, 3, 4]
    after = timeline_of(client, job_id)
    added = [e for e in after["events"] if e["why"]["decision"] == "added by the user"]
    assert sorted(e["time"] for e in added) == [round(t, 4) for t in times]
    assert len({e["n"] for e in after["events"]}) == len(before["events"]) + 4
    for _ in range(4):
        assert client.post(f"/api/v1/jobs/{job_id}/undo").status_code == 200
    assert timeline_of(client, job_id)["events"] == before["events"]


def test_the_history_goes_back_at_most_max_undo_edits_and_never_reuses_a_number(tmp_path):
    from appliance.engine.edits import delete_event
    from appliance.engine.timeline import Timeline
    from appliance.service.edit_history import MAX_UNDO, EditHistory
    from tests.test_engine_timeline import TIMELINE

    history = EditHistory(tmp_path)
    scored = Timeline.from_json(TIMELINE)
    assert history.edits() == 0 and history.step(-1) is None and history.next_number(scored) == 2
    versions = [scored, delete_event(scored, 1)]
    assert history.push(versions[0], versions[1]) == 1
    assert history.next_number(versions[1]) == 2  # number 1 was deleted, and is not given again
    for k in range(MAX_UNDO + 4):
        edited = Timeline.from_json(TIMELINE)
        edited.events[0].gain_db = -k
        history.push(versions[-1], edited)
        versions.append(edited)
    assert history.edits() == MAX_UNDO + 5 and len(list((tmp_path / "edits").glob("v*.json.gz"))) == MAX_UNDO + 1
    steps = 0
    while (found := history.step(-1)) is not None:
        version, timeline = found
        assert timeline.to_json() == versions[version].to_json()
        history.settle(version)
        steps += 1
    assert steps == MAX_UNDO and history.edits() == 5
    assert EditHistory(tmp_path).step(+1)[1].to_json() == versions[6].to_json()


def test_a_removed_sound_is_deleted_once_no_kept_job_uses_it(tmp_path, clip_bytes, worker):  # noqa: F811
    """A removed sound's recording stays while a job's timeline or edit history names it, and goes
    when the last such job is deleted (service/retired_sounds.py): before, every removed sound
    stayed on the card for good."""
    from appliance.config import ServiceConfig
    from appliance.library import add_sound
    from appliance.library.catalog import read_user_index, user_dir
    from appliance.service.retired_sounds import purge_removed_sounds

    folder = user_dir().parent / "service"  # beside the library, as the service's is
    folder.mkdir()
    queue = InlineQueue(folder, worker.cache_folder, True)
    queue.worker = worker
    client = create_app(Config(service=ServiceConfig(keep_removed_sounds_hours=0)), queue, folder,
                        TOKEN).test_client()
    job_id = upload(client, clip_bytes, description="footsteps on a wooden floor").get_json()["id"]
    t = np.arange(RATE // 2) / RATE
    sf.write(tmp_path / "tock.flac", (0.5 * np.sin(2 * np.pi * 500 * t) * np.exp(-t / 0.05)).astype(np.float32), RATE)
    mine = add_sound(tmp_path / "tock.flac", "impact_wood", author="Ada Example")
    first = timeline_of(client, job_id)["events"][0]
    assert client.patch(f"/api/v1/jobs/{job_id}/events/{first['n']}", json={"template_id": mine.id}).status_code == 200
    assert client.post(f"/api/v1/jobs/{job_id}/undo").status_code == 200  # now only an edit version names it
    assert client.delete(f"/api/v1/library/{mine.id}").status_code == 204

    assert purge_removed_sounds(folder, keep_hours=0, library_folder=user_dir()) == []
    assert mine.path.is_file(), "the job's edit history still names it: redo needs it"
    assert client.post(f"/api/v1/jobs/{job_id}/redo").status_code == 200

    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    deadline = time.monotonic() + 30
    while mine.path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not mine.path.exists(), "the last job that used it is gone, so is its recording"
    assert "retired" not in read_user_index(user_dir())


def test_a_swap_gives_the_event_the_kind_of_its_new_recording():
    """A swapped-in saw is sustained, a hit swapped for a sustained sound is a hit: the kind says
    how the mix places the sound (a sustained one is fitted to the action's duration, looped when
    shorter), and a swap kept the old one, so a hit put in a sustained sound's place was looped
    for the whole action and the page named the saw a hit. The action's duration stays with the
    event, and a sustained sound swapped back in is fitted to it again."""
    from appliance.engine.edits import Change, change_event
    from appliance.engine.remix import mix_timeline
    from appliance.engine.timeline import Timeline
    from tests.test_engine_timeline import TIMELINE

    catalog = load_catalog()
    hit, saw, rustle = (catalog.in_category(c)[0] for c in ("impact_wood", "saw", "rustle_paper"))
    sustained = {"n": 0, "time": 0.5, "kind": "sustained", "duration": 3.0, "strength": 1.0,
                 "position": {"x": 0.5, "y": 0.5}, "category": rustle.category, "template_id": rustle.id,
                 "template": rustle.description, "licence": rustle.licence, "gain_db": 0.0, "pan": 0.0,
                 "pitch": 1.0, "why": {"decision": "computed", "candidates": []}}
    timeline = Timeline.from_json(TIMELINE | {"events": [sustained], "ambience": {"why": "none"}})

    as_hit, event = change_event(timeline, catalog, 0, Change(template_id=hit.id))
    assert (event.kind, event.duration) == ("impact", 3.0)
    audio = mix_timeline(as_hit, catalog).array().mean(axis=1)
    after_the_hit = audio[int((0.5 + hit.duration + 0.1) * RATE):int(3.5 * RATE)]
    assert np.abs(after_the_hit).max() < 1e-3  # played once, not looped over the action's 3 s
    _, back = change_event(as_hit, catalog, 0, Change(template_id=rustle.id))
    assert (back.kind, back.duration) == ("sustained", 3.0)
    _, sawing = change_event(as_hit, catalog, 0, Change(template_id=saw.id))
    assert sawing.kind == "sustained"


def test_a_time_rounded_past_the_latest_start_is_taken_as_it(job):
    """The page rounds the playhead to a millisecond: at the end of a 29.97 fps clip that is past
    the clip's length, which has four decimals (2.069 for 2.0687 s), and "Add a sound here" was
    refused with "time must be between 0 and the clip's length"."""
    client, _, job_id = job
    timeline = timeline_of(client, job_id)
    latest, template = round(timeline["clip"]["duration"] - 0.05, 4), timeline["events"][0]["template_id"]
    added = client.post(f"/api/v1/jobs/{job_id}/events", json={"template_id": template, "time": latest + 0.0004})
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["event"]["time"] == latest
    before = client.patch(f"/api/v1/jobs/{job_id}/events/{added.get_json()['event']['n']}", json={"time": -0.0004})
    assert before.status_code == 200 and before.get_json()["event"]["time"] == 0
    for outside in (latest + 0.001, -0.001):
        refused = client.post(f"/api/v1/jobs/{job_id}/events", json={"template_id": template, "time": outside})
        assert refused.status_code == 400 and "must be between 0 and" in refused.get_json()["error"]


def test_a_sound_cannot_start_where_it_would_not_be_heard(job):
    """A sound moved or added at the clip's very end was taken and never heard: the mix ends
    there. It must start 50 ms before the end at the latest, and the refusal says why."""
    client, _, job_id = job
    timeline = timeline_of(client, job_id)
    end, event = timeline["clip"]["duration"], timeline["events"][0]
    for call in (lambda: client.patch(f"/api/v1/jobs/{job_id}/events/{event['n']}", json={"time": end}),
                 lambda: client.post(f"/api/v1/jobs/{job_id}/events", json={"template_id": event["template_id"], "time": end - 0.02})):
        refused = call()
        assert refused.status_code == 400, refused.get_json()
        assert refused.get_json()["error"] == (f"time must be between 0 and {round(end - 0.05, 4):g} s: a sound starting in "
                                               f"the last 50 ms of the clip ({end:g} s long) would not be heard")
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["edits"] == 0
    last = client.patch(f"/api/v1/jobs/{job_id}/events/{event['n']}", json={"time": end - 0.05})
    assert last.status_code == 200 and last.get_json()["event"]["time"] == round(end - 0.05, 4)


def test_a_download_rewritten_within_the_second_is_not_answered_304(job):
    """Downloads carried a Last-Modified to the second beside their ETag: after a second edit
    within the same second, If-Modified-Since from the first answered 304, and the client kept
    the stale file. A result's files now go by their ETag alone."""
    from email.utils import formatdate

    client, _, job_id = job
    event = timeline_of(client, job_id)["events"][0]
    url, edit = f"/api/v1/jobs/{job_id}/audio.wav", f"/api/v1/jobs/{job_id}/events/{event['n']}"
    assert client.patch(edit, json={"gain_db": event["gain_db"] - 6}).status_code == 200
    first = client.get(url)
    assert first.status_code == 200 and "Last-Modified" not in first.headers and first.headers["ETag"]
    assert client.patch(edit, json={"gain_db": event["gain_db"] - 12}).status_code == 200
    soon = formatdate(time.time() + 1, usegmt=True)  # later than any second the two edits fell in
    again = client.get(url, headers={"If-Modified-Since": soon})
    assert again.status_code == 200 and again.data != first.data
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 200
    assert client.get(url, headers={"If-None-Match": again.headers["ETag"]}).status_code == 304
    part = client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.data == again.data[:100]


def test_an_edit_worked_out_from_an_older_version_is_refused(job):
    """Two tabs on one result: tab B's "1 frame later" was worked out from where B saw the sound,
    and moved it back over tab A's move; B's Undo took back A's edit. An edit that names the
    version it was worked out from (based_on) is refused once the result has changed since,
    even when the count of edits is the same again (A undid and edited); without based_on an
    edit applies to the result as it is, as for the API's clients of before."""
    client, _, job_id = job
    first, second = timeline_of(client, job_id)["events"][:2]
    url, job_url = f"/api/v1/jobs/{job_id}/events/{first['n']}", f"/api/v1/jobs/{job_id}"
    seen_by_b = client.get(job_url).get_json()
    assert (seen_by_b["edits"], seen_by_b["version"]) == (0, 0)
    moved_by_a = client.patch(url, json={"time": 3.0, "based_on": 0})
    assert moved_by_a.status_code == 200 and moved_by_a.get_json()["version"] == 1

    stale = {"based_on": seen_by_b["version"]}
    for call in (lambda: client.patch(url, json={"time": first["time"] + 1 / 30, **stale}),
                 lambda: client.post(url, json={"template_id": second["template_id"], **stale}),
                 lambda: client.post(f"/api/v1/jobs/{job_id}/events", json={"template_id": second["template_id"],
                                                                           "time": 1.0, **stale}),
                 lambda: client.delete(f"/api/v1/jobs/{job_id}/events/{second['n']}", json=stale),
                 lambda: client.post(f"{job_url}/undo", json=stale)):
        refused = call()
        assert refused.status_code == 409, refused.get_json()
        assert refused.get_json()["error"].startswith("this result was changed elsewhere (in another tab?) since version 0")
    assert timeline_of(client, job_id)["events"] == moved_by_a.get_json()["timeline"]["events"]
    assert client.get(job_url).get_json()["version"] == 1

    # A undoes and edits again: one edit, as B last saw, but not the timeline B saw.
    assert client.post(f"{job_url}/undo", json={"based_on": 1}).get_json()["version"] == 2
    again = client.patch(f"/api/v1/jobs/{job_id}/events/{second['n']}", json={"gain_db": second["gain_db"] - 6})
    assert again.status_code == 200 and (again.get_json()["edits"], again.get_json()["version"]) == (1, 3)
    assert client.post(f"{job_url}/undo", json={"based_on": 1}).status_code == 409
    assert client.post(f"{job_url}/undo", json={"based_on": 3}).get_json()["version"] == 4
    assert client.post(f"{job_url}/redo").get_json()["version"] == 5  # no body: as before
    assert client.delete(f"/api/v1/jobs/{job_id}/events/{second['n']}", json={"based_on": 5}).status_code == 200
    assert client.get("/api/v1/jobs").get_json()["jobs"][0]["version"] == 6

    for body in ({"based_on": "6"}, {"based_on": -1}, {"based_on": True}, {"based_on": 6.5}, {"based_on": 6}):
        assert client.patch(url, json=body).status_code == 400, body  # the last: no edit in it
    for body in ({"based_on": None}, {"other": 1}, [6]):
        assert client.post(f"{job_url}/undo", json=body).status_code == 400, body
    assert client.post(f"{job_url}/undo", data="{not json", content_type="application/json").status_code == 400
