"""Removed sounds: kept while a kept job names them, while anything may still place them (a
running job, a live session) and for the configured wait, deleted after (library/store.py
`purge`, service/retired_sounds.py) — with real sound files, a real user library, a real job
store and job folders laid out as the service writes them."""
from __future__ import annotations

import gzip
import json
import shutil
import threading
import time

import numpy as np
import soundfile as sf

from appliance.atomic import write_json_atomic
from appliance.config import Config, ServiceConfig
from appliance.engine.timeline import AmbienceEntry, Position, TimelineEvent, Why
from appliance.library.catalog import Catalog, Template, read_user_index, user_dir
from appliance.library.store import RETIRED_AT, UserLibrary, hold_library
from appliance.service.app import create_app
from appliance.service.jobs import JobStore, folder_lock
from appliance.motion import IMPACT
from appliance.service.retired_sounds import RemovedSoundsPurger, purge_removed_sounds, sounds_in_use
from tests.conftest import timeline_text

RATE = 48_000


def service_folder():
    """The service folder beside the library in the state folder, as `foley serve` lays them out."""
    folder = user_dir().parent / "service"
    (folder / "jobs").mkdir(parents=True, exist_ok=True)
    return folder


def purge(keep_hours: float = 0) -> list[str]:
    return purge_removed_sounds(service_folder(), keep_hours, user_dir())


def a_sound(folder, name: str, freq: float) -> Template:
    t = np.arange(RATE // 4) / RATE
    path = folder / f"{name}.wav"
    sf.write(path, (0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-t / 0.04)).astype(np.float32), RATE)
    return UserLibrary().add(path, "impact_wood")


def removed_sound(folder, name: str, freq: float) -> Template:
    sound = a_sound(folder, name, freq)
    UserLibrary().remove(sound.id)
    return sound


def timeline(ids=(), bed=None) -> dict:
    """A timeline's JSON whose events place the recordings `ids`, on the bed `bed`."""
    data = json.loads(timeline_text())
    data["events"] = [TimelineEvent(n, 0.5 * n, IMPACT, 1.0, Position(0.5, 0.5), "impact_wood", t, t, "user", 0.0,
                                    0.0, 1.0, Why("test", [])).to_json() for n, t in enumerate(ids)]
    data["ambience"] = AmbienceEntry(category="ambience_rain" if bed else None, why="test", template_id=bed).to_json()
    return data


def a_job(job_id: str, events=(), bed=None, versions=()) -> None:
    """A job folder: its timeline.json and, for each of `versions`, an edit version naming those ids."""
    folder = service_folder() / "jobs" / job_id
    folder.mkdir(parents=True)
    (folder / "timeline.json").write_text(json.dumps(timeline(events, bed)), encoding="utf-8")
    for k, ids in enumerate(versions):
        edit_version(job_id, k, ids)


def edit_version(job_id: str, k: int, ids) -> None:
    folder = service_folder() / "jobs" / job_id / "edits"
    folder.mkdir(exist_ok=True)
    (folder / f"v{k}.json.gz").write_bytes(gzip.compress(json.dumps(timeline(ids)).encode()))


def test_kept_while_a_job_names_it_deleted_after(tmp_path):
    used, bed, edited, unused = (removed_sound(tmp_path, n, f) for n, f in
                                 (("used", 400), ("bed", 500), ("edited", 600), ("unused", 700)))
    a_job("j1", events=[used.id, "impact_wood-bundled"], bed=bed.id)
    a_job("j2", versions=[["x"], [edited.id]])
    (service_folder() / "jobs" / "queued").mkdir()  # not scored yet: names nothing
    (service_folder() / "jobs" / "stray.txt").write_text("not a job")
    assert sounds_in_use(service_folder() / "jobs") == {used.id, bed.id, edited.id, "impact_wood-bundled", "x"}

    assert purge() == [unused.id]
    assert not unused.path.exists() and all(s.path.is_file() for s in (used, bed, edited))
    catalog = Catalog.load()
    assert catalog.recording(unused.id) is None and catalog.recording(used.id).path == used.path

    for job in ("j1", "j2"):
        for path in sorted((service_folder() / "jobs" / job).rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        (service_folder() / "jobs" / job).rmdir()
    assert sorted(purge()) == sorted([used.id, bed.id, edited.id])
    assert not any(s.path.exists() for s in (used, bed, edited))
    assert "retired" not in read_user_index(user_dir())
    assert list((user_dir() / "sounds").glob("*.ogg")) == []


def test_a_sound_removed_recently_waits(tmp_path):
    """Scoring that read the library before the removal may still place the sound: it waits."""
    sound = removed_sound(tmp_path, "late", 450)
    assert purge(keep_hours=1) == []
    assert sound.path.is_file()
    later = time.time() + 3601
    assert [t.id for t in UserLibrary().purge(set(), keep_s=3600, now=later)] == [sound.id]
    assert not sound.path.exists()


def test_a_sound_removed_before_removals_were_dated_waits_from_now(tmp_path):
    sound = removed_sound(tmp_path, "old", 650)
    index = read_user_index(user_dir())
    for record in index["retired"]:
        del record[RETIRED_AT]
    write_json_atomic(user_dir() / "index.json", index)

    assert purge(keep_hours=1) == []
    assert sound.path.is_file()
    dated = read_user_index(user_dir())["retired"][0][RETIRED_AT]
    assert abs(dated - time.time()) < 30
    assert [t.id for t in UserLibrary().purge(set(), keep_s=3600, now=dated + 3601)] == [sound.id]


def test_what_may_still_place_a_removed_sound_keeps_them_all(tmp_path):
    """A running job may have read the library before the removal; a live session keeps the
    library it loaded at its start (hold_library) however long it runs."""
    sound = removed_sound(tmp_path, "busy", 520)
    store = JobStore(service_folder())
    upload = tmp_path / "clip.mp4"
    upload.write_bytes(b"a clip")
    job = store.create("clip.mp4", None, {}, upload)
    store.start(job.id)
    assert purge() == [] and sound.path.is_file()
    store.finish(job.id, 1.0)

    hold = hold_library()
    assert purge() == [] and sound.path.is_file()
    hold.close()
    assert purge() == [sound.id]


def test_a_job_is_read_under_its_lock(tmp_path):
    """A first edit replaces timeline.json, then writes the version as scored (under the job's
    lock): read in between, the job named neither, and its undo lost its sound."""
    sound = removed_sound(tmp_path, "undo", 580)
    a_job("edited", events=["impact_wood-bundled"])  # the edit's new timeline, without the sound
    results = []
    with folder_lock(service_folder() / "jobs" / "edited"):  # the edit in progress
        reader = threading.Thread(target=lambda: results.append(purge()))
        reader.start()
        time.sleep(0.3)
        assert reader.is_alive(), "the purge waits for the edit"
        edit_version("edited", 0, [sound.id])  # history.push: the version as scored
    reader.join(10)
    assert results == [[]] and sound.path.is_file()


def test_a_timeline_that_cannot_be_read_keeps_every_removed_sound(tmp_path, caplog):
    sound = removed_sound(tmp_path, "kept", 550)
    a_job("broken", versions=[[sound.id]])
    (service_folder() / "jobs" / "broken" / "edits" / "v0.json.gz").write_bytes(b"\x1f\x8b not gzip")
    assert purge() == []
    assert sound.path.is_file()
    assert "could not be read" in caplog.text


def test_a_job_deleted_during_a_purge_is_purged_after_it(tmp_path):
    """The running purge read the job before its deletion, so it keeps the sound; the delete's
    request makes it run once more, and that run deletes it."""
    sound = removed_sound(tmp_path, "again", 530)
    a_job("a-deleted", events=[sound.id])
    a_job("z-edited")
    purger = RemovedSoundsPurger(service_folder(), keep_hours=0)
    assert purger.library_folder == user_dir()
    with folder_lock(service_folder() / "jobs" / "z-edited"):  # the purge reads a-deleted, then waits here
        purger.request()
        time.sleep(0.3)
        shutil.rmtree(service_folder() / "jobs" / "a-deleted")
        purger.request()
        assert sound.path.is_file()
    deadline = time.monotonic() + 30
    while sound.path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sound.path.exists()


class NoQueue:
    def submit(self, job_id: str) -> None:
        raise AssertionError("nothing is scored here")


def test_the_service_purges_when_it_starts(tmp_path):
    sound = removed_sound(tmp_path, "restart", 480)
    create_app(Config(service=ServiceConfig(keep_removed_sounds_hours=0)), NoQueue(), service_folder(), "t" * 32)
    deadline = time.monotonic() + 30
    while sound.path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sound.path.exists()
