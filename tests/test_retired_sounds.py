"""Removed sounds: kept while a kept job names them and for the configured wait, deleted after
(library/store.py `purge`, service/retired_sounds.py), with real sound files, a real user
library and job folders laid out as the service writes them."""
from __future__ import annotations

import gzip
import json
import time

import numpy as np
import soundfile as sf

from appliance.atomic import write_json_atomic
from appliance.library.catalog import Catalog, Template, read_user_index, user_dir
from appliance.library.store import RETIRED_AT, UserLibrary
from appliance.service.retired_sounds import purge_removed_sounds, sounds_in_use

RATE = 48_000


def a_sound(folder, name: str, freq: float) -> Template:
    t = np.arange(RATE // 4) / RATE
    path = folder / f"{name}.wav"
    sf.write(path, (0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-t / 0.04)).astype(np.float32), RATE)
    return UserLibrary().add(path, "impact_wood")


def a_job(service, job_id: str, events=(), bed=None, versions=()) -> None:
    """A job folder: its timeline.json and, for each of `versions`, an edit version naming those ids."""
    folder = service / "jobs" / job_id
    folder.mkdir(parents=True)
    timeline = {"events": [{"n": n, "template_id": t} for n, t in enumerate(events)],
                "ambience": {"category": None, "template_id": bed}}
    (folder / "timeline.json").write_text(json.dumps(timeline), encoding="utf-8")
    for k, ids in enumerate(versions):
        (folder / "edits").mkdir(exist_ok=True)
        data = {"events": [{"n": n, "template_id": t} for n, t in enumerate(ids)], "ambience": None}
        (folder / "edits" / f"v{k}.json.gz").write_bytes(gzip.compress(json.dumps(data).encode()))


def test_kept_while_a_job_names_it_deleted_after(tmp_path):
    service = tmp_path / "service"
    used, bed, edited, unused = (a_sound(tmp_path, n, f) for n, f in
                                 (("used", 400), ("bed", 500), ("edited", 600), ("unused", 700)))
    a_job(service, "j1", events=[used.id, "impact_wood-bundled"], bed=bed.id)
    a_job(service, "j2", versions=[["x"], [edited.id]])
    a_job(service, "queued")
    (service / "jobs" / "queued" / "timeline.json").unlink()  # not scored yet: names nothing
    assert sounds_in_use(service / "jobs") == {used.id, bed.id, edited.id, "impact_wood-bundled", "x"}
    for sound in (used, bed, edited, unused):
        UserLibrary().remove(sound.id)

    assert purge_removed_sounds(service, keep_hours=0) == [unused.id]
    assert not unused.path.exists() and all(s.path.is_file() for s in (used, bed, edited))
    catalog = Catalog.load()
    assert catalog.recording(unused.id) is None and catalog.recording(used.id).path == used.path

    for job in ("j1", "j2"):
        for path in sorted((service / "jobs" / job).rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
    assert sorted(purge_removed_sounds(service, keep_hours=0)) == sorted([used.id, bed.id, edited.id])
    assert not any(s.path.exists() for s in (used, bed, edited))
    assert "retired" not in read_user_index(user_dir())
    assert list((user_dir() / "sounds").glob("*.ogg")) == []


def test_a_sound_removed_recently_waits(tmp_path):
    """Scoring that read the library before the removal may still place the sound: it waits."""
    sound = a_sound(tmp_path, "late", 450)
    UserLibrary().remove(sound.id)
    assert purge_removed_sounds(tmp_path / "service", keep_hours=1) == []
    assert sound.path.is_file()
    later = time.time() + 3601
    assert [t.id for t in UserLibrary().purge(set(), keep_s=3600, now=later)] == [sound.id]
    assert not sound.path.exists()


def test_a_sound_removed_before_removals_were_dated_waits_from_now(tmp_path):
    sound = a_sound(tmp_path, "old", 650)
    UserLibrary().remove(sound.id)
    index = read_user_index(user_dir())
    for record in index["retired"]:
        del record[RETIRED_AT]
    write_json_atomic(user_dir() / "index.json", index)

    assert UserLibrary().purge(set(), keep_s=60) == []
    assert sound.path.is_file()
    dated = read_user_index(user_dir())["retired"][0][RETIRED_AT]
    assert abs(dated - time.time()) < 30
    assert [t.id for t in UserLibrary().purge(set(), keep_s=60, now=dated + 61)] == [sound.id]


def test_a_timeline_that_cannot_be_read_keeps_every_removed_sound(tmp_path, caplog):
    service = tmp_path / "service"
    sound = a_sound(tmp_path, "kept", 550)
    a_job(service, "broken", versions=[[sound.id]])
    (service / "jobs" / "broken" / "edits" / "v0.json.gz").write_bytes(b"\x1f\x8b not gzip")
    UserLibrary().remove(sound.id)
    assert purge_removed_sounds(service, keep_hours=0) == []
    assert sound.path.is_file()
    assert "could not be read" in caplog.text
