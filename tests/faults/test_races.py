"""Requests racing each other on one job or one sound, through the app with its real job store and
engine: concurrent deletes (one 204, the rest 404), a delete while a `?wait=1` request waits
(the waiter gets 410), a swap racing a delete (404 or waits; never a path or a 500)."""
from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from appliance.service import events_api
from appliance.service.jobs import JobStore
from tests.test_service_api import make_client, upload
from tests.test_service_api import clip_bytes  # noqa: F401  (module fixture)
from tests.test_service_hardening import add_sound, flac_bytes


@pytest.fixture(scope="module")
def done_jobs(tmp_path_factory, clip_bytes):  # noqa: F811
    """One app with two finished jobs (the second one from the result cache), one for each swap
    test: scoring once instead of twice keeps the fault suite within its time."""
    folder = tmp_path_factory.mktemp("races")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FOLEY_STATE_DIR", str(folder / "state"))
        client, _, service = make_client(folder)
        ids = [upload(client, clip_bytes, description="footsteps on a wooden floor").get_json()["id"] for _ in range(2)]
        assert [client.get(f"/api/v1/jobs/{i}").get_json()["state"] for i in ids] == ["done", "done"]
        yield client, service, ids


def test_concurrent_deletes_of_a_user_sound_one_204_rest_404(tmp_path, ledger):
    client, _, _ = make_client(tmp_path)
    added = ledger.counted(add_sound(client, flac_bytes(), "ding.flac"))
    assert added.status_code == 201, added.get_json()
    template_id = added.get_json()["id"]
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: ledger.counted(client.delete(f"/api/v1/library/{template_id}")), range(6)))
    assert sorted(r.status_code for r in responses) == [204, 404, 404, 404, 404, 404]
    assert all(r.is_json for r in responses if r.status_code == 404)


def test_concurrent_deletes_of_a_job_one_204_rest_404(tmp_path, clip_bytes, ledger):  # noqa: F811
    client, _, _ = make_client(tmp_path, run=False)
    job_id = ledger.counted(upload(client, clip_bytes)).get_json()["id"]
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: ledger.counted(client.delete(f"/api/v1/jobs/{job_id}")), range(6)))
    assert sorted(r.status_code for r in responses) == [204, 404, 404, 404, 404, 404]


def test_delete_while_waiting_gives_the_waiter_410(tmp_path, clip_bytes, ledger):  # noqa: F811
    client, queue, _ = make_client(tmp_path, run=False)
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(ledger.counted(client.post(
        "/api/v1/score?wait=1", data={"video": (io.BytesIO(clip_bytes), "c.mp4")}, content_type="multipart/form-data"))))
    waiter.start()
    deadline = time.monotonic() + 30
    while not queue.submitted:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    deleted = time.monotonic()
    assert ledger.counted(client.delete(f"/api/v1/jobs/{queue.submitted[0]}")).status_code == 204
    waiter.join(10)
    ledger.recovered("delete to the waiter's answer", deleted)
    assert answers and answers[0].status_code == 410 and answers[0].is_json
    assert "deleted" in answers[0].get_json()["error"]


def test_swap_racing_delete_is_404_or_waits_never_a_path(done_jobs, monkeypatch, ledger):
    client, folder, (job_id, _) = done_jobs
    choice = ledger.counted(client.get(f"/api/v1/jobs/{job_id}/events/0/candidates")).get_json()["candidates"][0]["id"]
    real_remix = events_api.write_outputs

    def slow_remix(*args, **kwargs):
        time.sleep(0.5)
        return real_remix(*args, **kwargs)

    monkeypatch.setattr(events_api, "write_outputs", slow_remix)
    swapped = []
    swapper = threading.Thread(target=lambda: swapped.append(ledger.counted(
        client.post(f"/api/v1/jobs/{job_id}/events/0", json={"template_id": choice}))))
    swapper.start()
    time.sleep(0.2)
    assert ledger.counted(client.delete(f"/api/v1/jobs/{job_id}")).status_code == 204  # waited for the re-mix
    swapper.join(30)
    assert swapped[0].status_code == 200, swapped[0].get_json()
    gone = ledger.counted(client.post(f"/api/v1/jobs/{job_id}/events/0", json={"template_id": choice}))
    assert gone.status_code == 404 and str(folder.parent) not in gone.get_json()["error"]


def test_swap_after_a_delete_won_the_lock_is_404(done_jobs, monkeypatch, ledger):
    client, folder, (_, job_id) = done_jobs
    choice = ledger.counted(client.get(f"/api/v1/jobs/{job_id}/events/0/candidates")).get_json()["candidates"][0]["id"]
    real_lock = events_api.job_lock

    def delete_first(job):  # the delete lands between the swap's first check and its lock
        JobStore(folder).delete(job)
        return real_lock(job)

    monkeypatch.setattr(events_api, "job_lock", delete_first)
    response = ledger.counted(client.post(f"/api/v1/jobs/{job_id}/events/0", json={"template_id": choice}))
    assert response.status_code == 404 and response.is_json
    assert str(folder.parent) not in response.get_json()["error"] and "/" not in response.get_json()["error"]
