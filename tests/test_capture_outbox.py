"""The outbox's thread against a real HTTP service on a loopback port: an entry it cannot submit
(an unexpected error, not the service being down) is logged with its traceback and does not end
the thread, so the clips after it, and those filed later, still reach the service."""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from appliance.capture.outbox import ANALYSIS, CLIP, REQUEST, Outbox
from appliance.capture.recording import FinishedClip
from appliance.waiting import poll
from tests.conftest import http_server, quiet_handler


def answer_json(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class ScoreService(quiet_handler()):
    """Takes every POST /api/v1/score as a queued job (202) and keeps the uploaded file names."""

    received: list[str]

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(body.split(b'filename="', 1)[1].split(b'"', 1)[0].decode())
        answer_json(self, 202, {"id": f"job-{len(self.received)}"})


@pytest.fixture
def service():
    handler = type("Handler", (ScoreService,), {"received": []})
    with http_server(handler) as url:
        yield url, handler.received


def clip(folder: Path, clip_id: str) -> FinishedClip:
    path = folder / f"{clip_id}.mp4"
    path.write_bytes(b"a clip")  # the service here does not decode it
    return FinishedClip(clip_id, path, None, "a knock")


def run_outbox(outbox: Outbox, until) -> threading.Thread:
    """Run the outbox's thread until `until()` holds (within 10 s); returns the ended thread's
    object, for whether it was still alive when told to stop (`alive`)."""
    stopping = threading.Event()
    thread = threading.Thread(target=outbox.run, args=(stopping,), daemon=True)
    thread.start()
    try:
        poll(until, 10)
        thread.alive = thread.is_alive()
    finally:
        stopping.set()
        outbox.wake.set()
        thread.join(10)
    return thread


def test_an_unexpected_error_is_logged_and_the_clips_after_it_are_still_submitted(tmp_path, service, caplog):
    """A bug after a submission (here the daemon's own callback failing once) is logged with its
    traceback and does not end the thread: the next clip and one filed later still go."""
    url, received = service
    failures = []

    def on_result(recording_id, result):
        if not failures:
            failures.append(recording_id)
            raise RuntimeError("a bug in the consumer")

    outbox = Outbox(tmp_path / "outbox", url, tmp_path / "no-token", on_result)
    outbox.put(clip(tmp_path, "20260101-000000-aaaaaa"))
    outbox.put(clip(tmp_path, "20260101-000001-bbbbbb"))

    def later_clip_sent():
        if "20260101-000001-bbbbbb.mp4" in received and not (outbox.folder / "20260101-000002-cccccc").exists() \
                and "20260101-000002-cccccc.mp4" not in received:
            outbox.put(clip(tmp_path, "20260101-000002-cccccc"))  # filed later: the thread still serves
        return "20260101-000002-cccccc.mp4" in received

    with caplog.at_level(logging.ERROR, logger="foley.capture"):
        thread = run_outbox(outbox, later_clip_sent)
    assert thread.alive and outbox.pending() == []
    failure = next(r for r in caplog.records if "20260101-000000-aaaaaa" in r.getMessage())
    assert failure.exc_info is not None and "a bug in the consumer" in caplog.text, "logged with its traceback"


@pytest.mark.parametrize("damage", ["request cut short", "clip gone"])
def test_a_damaged_entry_is_moved_to_rejected_once_and_the_clips_after_it_still_go(tmp_path, service, caplog, damage):
    """An entry that can never be sent (its request cut short, its clip gone: a disk that lost
    part of the folder) is moved to rejected/ with the reason, as a clip the service refuses
    is, instead of failing every round for good."""
    url, received = service
    results = []
    outbox = Outbox(tmp_path / "outbox", url, tmp_path / "no-token", lambda rid, result: results.append(result))
    broken = outbox.put(clip(tmp_path, "20260101-000000-aaaaaa"))  # first in line
    if damage == "request cut short":
        (broken / REQUEST).write_text("{cut short", encoding="utf-8")
    else:
        (broken / CLIP).unlink()
    outbox.put(clip(tmp_path, "20260101-000001-bbbbbb"))
    with caplog.at_level(logging.ERROR, logger="foley.capture"):
        thread = run_outbox(outbox, lambda: "20260101-000001-bbbbbb.mp4" in received and not outbox.pending())
    assert thread.alive and outbox.pending() == [] and received == ["20260101-000001-bbbbbb.mp4"]
    kept = outbox.rejected / broken.name
    reason = (kept / "reason.txt").read_text(encoding="utf-8")
    assert "damaged" in reason and str(tmp_path) not in reason, reason
    assert results[0] == {"state": "rejected", "reason": reason.strip()}
    assert sum(broken.name in r.getMessage() for r in caplog.records) == 1, "reported once, not every round"


class RefusingService(quiet_handler()):
    """Refuses every clip as no video (415), or every request for its token (401)."""

    status = 415

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        answer_json(self, self.status, {"error": "no video" if self.status == 415 else "a token is needed"})


def test_only_the_newest_refused_recordings_are_kept(tmp_path, monkeypatch):
    """rejected/ kept every refused recording for good: a camera whose clips the service all
    refused filled its card. The newest REJECTED_KEPT stay, for a human to look at."""
    monkeypatch.setattr("appliance.capture.outbox.REJECTED_KEPT", 3)
    with http_server(RefusingService) as url:
        outbox = Outbox(tmp_path / "outbox", url, tmp_path / "no-token")
        for n in range(5):
            outbox.put(clip(tmp_path, f"20260101-00000{n}-aaaaaa"))
        thread = run_outbox(outbox, lambda: not outbox.pending())
    assert thread.alive
    assert sorted(p.name for p in outbox.rejected.iterdir()) == [f"20260101-00000{n}-aaaaaa" for n in (2, 3, 4)]


def test_a_refused_token_keeps_the_recordings_waiting_not_rejected(tmp_path):
    """A wrong token is a setting to mend: the clips wait for it, as for a service that is down."""
    results = []
    with http_server(type("Handler", (RefusingService,), {"status": 401})) as url:
        outbox = Outbox(tmp_path / "outbox", url, tmp_path / "no-token", lambda rid, result: results.append(result))
        outbox.put(clip(tmp_path, "20260101-000000-aaaaaa"))
        thread = run_outbox(outbox, lambda: bool(results))
    assert thread.alive and [p.name for p in outbox.pending()] == ["20260101-000000-aaaaaa"]
    assert not outbox.rejected.exists() and results[0]["state"] == "waiting" and "HTTP 401" in results[0]["reason"]


def test_a_clip_over_the_services_upload_limit_is_rejected_not_retried_forever(tmp_path):
    """The service (the real one) refuses an upload over service.max_upload_mb from its headers
    and closes the connection while the clip is still being sent. urllib raised the send's
    error ("connection reset") and the outbox took it for a service that is down: the clip was
    sent again every 30 s, forever. The service's answer is now read: the clip goes to
    rejected/ with it, and the next clip still reaches the service."""
    from tests.conftest import start_server

    (tmp_path / "config.yaml").write_text("service:\n  max_upload_mb: 1\n")
    served = start_server(tmp_path, args=("--no-worker", "--config", str(tmp_path / "config.yaml")))
    results = []
    try:
        outbox = Outbox(tmp_path / "outbox", served.base, tmp_path / "no-token", lambda rid, result: results.append(result))
        large = clip(tmp_path, "20260101-000000-aaaaaa")
        large.path.write_bytes(bytes(8 * 1024 * 1024))
        outbox.put(large)
        outbox.put(clip(tmp_path, "20260101-000001-bbbbbb"))
        thread = run_outbox(outbox, lambda: not outbox.pending())
    finally:
        assert served.stop() == 0
    assert thread.alive and outbox.pending() == []
    reason = (outbox.rejected / "20260101-000000-aaaaaa" / "reason.txt").read_text(encoding="utf-8")
    assert "HTTP 413" in reason and "the limit is 1 MB" in reason, reason
    assert (outbox.rejected / "20260101-000000-aaaaaa" / CLIP).stat().st_size == 8 * 1024 * 1024, "kept"
    # the small one reached the service: a 6-byte "clip" is no video, so it is refused as such
    small = (outbox.rejected / "20260101-000001-bbbbbb" / "reason.txt").read_text(encoding="utf-8")
    assert "HTTP 415" in small, small


class FullService(quiet_handler()):
    """Answers every upload as a service whose disk is full would (507)."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        answer_json(self, 507, {"error": "not enough free disk: 18 MB free, 30 MB needed"})


def test_a_service_that_cannot_take_a_clip_now_says_why_it_waits(tmp_path):
    """A 507 from the service was logged as "service not reachable" and the recording showed
    "waiting" with no reason, for ever (`foley record --wait` timed out saying nothing more).
    The clip still waits (the disk may be freed), with the service's words as its reason."""
    results = []
    with http_server(FullService) as url:
        outbox = Outbox(tmp_path / "outbox", url, tmp_path / "no-token", lambda rid, result: results.append(result))
        outbox.put(clip(tmp_path, "20260101-000000-aaaaaa"))
        run_outbox(outbox, lambda: results)
    assert results[0]["state"] == "waiting", results
    assert "HTTP 507: not enough free disk: 18 MB free, 30 MB needed" in results[0]["reason"], results
    assert [p.name for p in outbox.pending()] == ["20260101-000000-aaaaaa"], "still waiting to be sent"


@pytest.mark.parametrize("written", [(CLIP,), (CLIP, ANALYSIS), (CLIP, ANALYSIS, REQUEST)])
def test_a_recording_being_filed_when_the_power_went_is_filed_at_the_next_start(tmp_path, service, written):
    """A power cut (or kill -9) inside `put`, after the clip was moved into its temporary folder:
    the next start deleted that folder, and with it the only copy of the recording. The folder,
    as `put` leaves it at each step after the move, is now completed and filed, its description
    kept when its request was written, and the clip reaches the service; a folder the crash left
    before the clip was moved into it (the clip still with the recordings) is only removed."""
    url, received = service
    recording_id = "20261203-101500-a1b2c3"
    temp = tmp_path / "outbox" / f".{recording_id}.tmp"
    temp.mkdir(parents=True)
    (temp / CLIP).write_bytes(b"a clip")
    if ANALYSIS in written:
        (temp / ANALYSIS).write_bytes(b"an analysis")  # the service here does not read it
    if REQUEST in written:
        (temp / REQUEST).write_text(json.dumps({"id": recording_id, "description": "a knock"}), encoding="utf-8")
    (tmp_path / "outbox" / ".20261203-101400-d4e5f6.tmp").mkdir()
    outbox = Outbox(tmp_path / "outbox", url, tmp_path / "no-token")
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [recording_id]
    entry = tmp_path / "outbox" / recording_id
    assert sorted(p.name for p in entry.iterdir()) == sorted({*written, REQUEST})
    request = json.loads((entry / REQUEST).read_text(encoding="utf-8"))
    assert request == {"id": recording_id, "description": "a knock" if REQUEST in written else None}
    thread = run_outbox(outbox, lambda: not outbox.pending())
    assert thread.alive and received == [f"{recording_id}.mp4"]
