"""The outbox's thread against a real HTTP service on a loopback port: an entry it cannot submit
(an unexpected error, not the service being down) is logged with its traceback and does not end
the thread, so the clips after it, and those filed later, still reach the service."""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from appliance.capture.outbox import CLIP, REQUEST, Outbox
from appliance.capture.recording import FinishedClip
from appliance.waiting import poll


class ScoreService(BaseHTTPRequestHandler):
    """Takes every POST /api/v1/score as a queued job (202) and keeps the uploaded file names."""

    received: list[str]

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(body.split(b'filename="', 1)[1].split(b'"', 1)[0].decode())
        answer = json.dumps({"id": f"job-{len(self.received)}"}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def service():
    handler = type("Handler", (ScoreService,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.received
    server.shutdown()
    server.server_close()


def clip(folder: Path, clip_id: str) -> FinishedClip:
    path = folder / f"{clip_id}.mp4"
    path.write_bytes(b"a clip")  # the service here does not decode it
    return FinishedClip(clip_id, path, None, "a knock", 0.0)


def test_an_entry_that_fails_unexpectedly_is_logged_and_the_clips_after_it_are_still_submitted(
        tmp_path, service, caplog):
    url, received = service
    outbox = Outbox(tmp_path / "outbox", url, tmp_path / "no-token")
    broken = outbox.put(clip(tmp_path, "20260101-000000-aaaaaa"))  # first in line
    (broken / REQUEST).write_text("{cut short", encoding="utf-8")  # its request can no longer be read
    outbox.put(clip(tmp_path, "20260101-000001-bbbbbb"))
    stopping = threading.Event()
    thread = threading.Thread(target=outbox.run, args=(stopping,), daemon=True)
    with caplog.at_level(logging.ERROR, logger="foley.capture"):
        thread.start()
        try:
            poll(lambda: "20260101-000001-bbbbbb.mp4" in received, 10)
            outbox.put(clip(tmp_path, "20260101-000002-cccccc"))  # filed later: the thread still serves
            poll(lambda: "20260101-000002-cccccc.mp4" in received, 10)
            assert thread.is_alive()
        finally:
            stopping.set()
            outbox.wake.set()
            thread.join(10)
    assert [entry.name for entry in outbox.pending()] == [broken.name], "only the broken one waits"
    assert (broken / CLIP).is_file(), "and it is kept, not deleted"
    failure = next(r for r in caplog.records if broken.name in r.getMessage())
    assert failure.exc_info is not None and "JSONDecodeError" in caplog.text, "logged with its traceback"
