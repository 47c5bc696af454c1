"""Old jobs make room (service/retention.py), on a real small disk (a tmpfs): the oldest ended
jobs go, one at a time, until the floor plus one more upload is free; queued, running, in-use
and just-ended jobs stay; none goes when all of them would not make the room; with
old_jobs_make_room off nothing goes and uploads get 507; keep_jobs_days removes jobs ended longer
ago whatever the space. Requests never remove jobs: a 507 says to try again shortly, and after
the service's round the upload is taken."""
from __future__ import annotations

import time

import pytest

from appliance.config import CaptureConfig, Config, ServiceConfig
from appliance.service.jobs import DONE, JobStore
from appliance.service.retention import JobRetention
from appliance.service.state import free_bytes
from tests.conftest import fill_leaving, small_disk
from tests.test_service_api import clip_bytes, make_client, upload  # noqa: F401 (fixture)

MB = 1024 * 1024


def _config(**service) -> Config:
    return Config(service=ServiceConfig(**{"min_free_mb": 2, "max_upload_mb": 2, **service}),
                  capture=CaptureConfig(min_free_mb=0))


def _jobs(store: JobStore, folder, states: list[str], size: int) -> list[str]:
    """Jobs made in this order (oldest first), each holding `size` bytes, in `states`."""
    ids = []
    for n, state in enumerate(states):
        clip = folder / "clip"
        clip.write_bytes(b"\0" * size)
        job = store.create(f"{n}.mp4", None, {}, clip)
        store.db.execute("UPDATE jobs SET state = ?, created = ?, finished = ? WHERE id = ?",
                         (state, 1000.0 + n, 1000.5 + n if state in ("done", "failed") else None, job.id))
        ids.append(job.id)
    return ids


def test_the_oldest_ended_jobs_make_room_and_no_more(tmp_path):
    with small_disk(tmp_path / "state", "24m") as state:
        store = JobStore(state / "service")
        ids = _jobs(store, state, ["done", "failed", "running", "done", "queued", "done"], 3 * MB)
        fill_leaving(state, 3 * MB)  # under the 4 MB wanted (2 MB floor + one 2 MB upload)
        removed, rounds = [], []
        retention = JobRetention(_config(), state / "service", state / "cache", removed.append, rounds.append)
        assert retention.make_room() == 1 and removed == [ids[0]] and rounds == [1]
        assert free_bytes(state) >= 4 * MB and not store.job_dir(ids[0]).exists()
        assert retention.make_room() == 0, "room enough: nothing more goes"
        (state / "filler").unlink()
        fill_leaving(state, MB // 2)
        assert retention.make_room() == 2 and removed == [ids[0], ids[1], ids[3]]
        assert [store.get(i).state for i in (ids[2], ids[4], ids[5])] == ["running", "queued", "done"]
        assert store.job_dir(ids[2]).is_dir() and store.job_dir(ids[4]).is_dir()


def test_the_history_is_not_emptied_when_that_would_not_make_the_room(tmp_path, caplog, monkeypatch):
    """Something else filling the disk: removing every job would not free the floor plus an
    upload, so none goes (the first version removed them all and the disk stayed short)."""
    with small_disk(tmp_path / "state", "24m") as state:
        store = JobStore(state / "service")
        ids = _jobs(store, state, ["done", "done"], 3 * MB)
        fill_leaving(state, MB)
        retention = JobRetention(_config(max_upload_mb=10), state / "service", state / "cache")  # wants 12 MB
        assert retention.make_room() == 0
        walked = []
        monkeypatch.setattr("appliance.service.retention.folder_bytes", lambda folder: walked.append(folder) or 0)
        assert retention.make_room() == 0 and walked == [], "the same shortfall, the same jobs: not walked again"
        assert [store.get(i).state for i in ids] == [DONE, DONE]
        assert sum("none removed" in r.getMessage() for r in caplog.records) == 1, "said once, not every round"


def test_a_job_that_just_ended_stays_its_result_may_not_be_fetched_yet(tmp_path):
    with small_disk(tmp_path / "state", "24m") as state:
        store = JobStore(state / "service")
        old, just = _jobs(store, state, ["done", "done"], 3 * MB)
        store.db.execute("UPDATE jobs SET finished = ? WHERE id = ?", (time.time(), just))
        fill_leaving(state, MB)
        removed = []
        assert JobRetention(_config(), state / "service", state / "cache", removed.append).make_room() == 1
        assert removed == [old] and store.get(just).state == DONE


def test_with_old_jobs_make_room_off_nothing_goes_and_an_upload_is_refused(tmp_path, clip_bytes):  # noqa: F811
    with small_disk(tmp_path / "state", "24m") as state:
        client, _, folder = make_client(state, run=False, service=ServiceConfig(min_free_mb=2, max_upload_mb=2,
                                                                               old_jobs_make_room=False),
                                        capture=CaptureConfig(min_free_mb=0))
        store = JobStore(folder)
        ids = _jobs(store, state, ["done", "done"], 3 * MB)
        fill_leaving(state, 2 * MB)
        assert upload(client, clip_bytes).status_code == 507
        assert [store.get(i).state for i in ids] == [DONE, DONE]


def test_an_upload_refused_for_want_of_room_is_taken_once_the_service_made_it(tmp_path, clip_bytes):  # noqa: F811
    """The history filled the disk and every upload got 507 until someone deleted jobs by hand.
    Requests do not remove jobs (a junk upload, judged by its declared length before its body is
    checked, would have cost one): the 507 says to try again shortly, the service's round removes
    the oldest job, and the upload is taken."""
    with small_disk(tmp_path / "state", "24m") as state:
        client, queue, folder = make_client(state, run=False, service=ServiceConfig(min_free_mb=2, max_upload_mb=2),
                                            capture=CaptureConfig(min_free_mb=0))
        store = JobStore(folder)
        old, newer = _jobs(store, state, ["done", "done"], 3 * MB)
        fill_leaving(state, 2 * MB)
        refused = upload(client, clip_bytes)
        assert refused.status_code == 507 and "try again shortly" in refused.get_json()["error"]
        assert store.get(old).state == DONE, "a request removes no job"
        assert client.application.extensions["foley"].retention.make_room() == 1  # the service's round
        answer = upload(client, clip_bytes)
        assert answer.status_code == 202, answer.get_json()
        assert store.get(old) is None and store.get(newer).state == DONE
        jobs = client.get("/api/v1/jobs").get_json()["jobs"]
        assert {j["id"] for j in jobs} == {newer, answer.get_json()["id"]}
        status = client.get("/api/v1/status").get_json()  # the page says why the history is shorter
        assert status["old_jobs_removed"] == 1 and "1 old job removed to make room" in status["summary"]


def test_a_job_being_re_mixed_is_not_waited_for_the_next_oldest_goes(tmp_path):
    """An edit re-mixes its job under the job's lock and asks for disk room there: removing that
    very job waited on its lock for ever (flock locks of one process exclude each other)."""
    from appliance.service.jobs import folder_lock

    with small_disk(tmp_path / "state", "24m") as state:
        store = JobStore(state / "service")
        edited, other = _jobs(store, state, ["done", "done"], 3 * MB)
        fill_leaving(state, 3 * MB)
        removed = []
        retention = JobRetention(_config(), state / "service", state / "cache", removed.append)
        with folder_lock(store.job_dir(edited)):
            assert retention.make_room() == 1
        assert removed == [other] and store.get(edited).state == DONE


def test_keep_jobs_days_removes_jobs_ended_longer_ago(tmp_path):
    store = JobStore(tmp_path / "service")
    recent, old, running = _jobs(store, tmp_path, ["done", "failed", "running"], 10)
    now = time.time()
    store.db.execute("UPDATE jobs SET finished = ? WHERE id = ?", (now - 3600, recent))
    store.db.execute("UPDATE jobs SET finished = ? WHERE id = ?", (now - 3 * 86_400, old))
    store.db.execute("UPDATE jobs SET started = ? WHERE id = ?", (now - 9 * 86_400, running))
    removed = []
    assert JobRetention(_config(), tmp_path / "service", tmp_path / "cache", removed.append).remove_expired() == 0
    camera_floor = Config(capture=CaptureConfig(min_free_mb=300))  # the larger floor: the camera's, to record
    assert JobRetention(camera_floor, tmp_path / "service", tmp_path / "cache").wanted_free() == (300 + 200) * MB
    retention = JobRetention(_config(keep_jobs_days=2), tmp_path / "service", tmp_path / "cache", removed.append)
    assert retention.remove_expired(now) == 1 and removed == [old]
    assert store.get(recent) and store.get(running)


@pytest.mark.parametrize("days", [0, -1])
def test_keep_jobs_days_must_be_a_positive_number_of_days(tmp_path, days):
    from appliance.config import load_config
    from appliance.errors import UsageError

    (tmp_path / "c.yaml").write_text(f"service:\n  keep_jobs_days: {days}\n")
    with pytest.raises(UsageError, match="'service.keep_jobs_days' must be between 0.01 and 36500"):
        load_config(tmp_path / "c.yaml")


def test_cached_results_go_even_when_the_cache_database_cannot_be_opened(tmp_path):
    """A disk too full (or broken) to open cache.sqlite3 raised out of the eviction, before any
    job could make room."""
    from appliance.service.state import evict_cached_results

    (tmp_path / "cache" / "results" / "ab").mkdir(parents=True)
    (tmp_path / "cache" / "results" / "ab" / "audio.wav").write_bytes(b"\0" * 1000)
    (tmp_path / "cache" / "cache.sqlite3").mkdir()  # cannot be opened as a database
    assert evict_cached_results(tmp_path / "cache") and not any((tmp_path / "cache" / "results").iterdir())
