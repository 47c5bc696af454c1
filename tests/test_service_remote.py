"""A worker board's hand-over of a finished result to the front end (`RemoteJobs.finish`), against
a real HTTP server on a loopback port that answers as the front end may: 503 with Retry-After
while bodies being received fill its temporary folder, a redirect from a proxy or a wrong URL."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from appliance.service.remote import FrontEndError, RemoteJobs
from tests.conftest import timeline_text

JOB = "0123456789abcdef"


def front_end(answers: list[tuple[int, dict]]):
    """A server answering each POST with the next (status, headers) of `answers`; it reads the
    whole body first and records its length."""
    bodies: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(len(self.rfile.read(int(self.headers["Content-Length"]))))
            status, headers = answers[min(len(bodies), len(answers)) - 1]
            answer = b'{"error": "busy"}' if status >= 300 else b'{"state": "done"}'
            self.send_response(status)
            for name, value in {**headers, "Content-Type": "application/json", "Content-Length": str(len(answer))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, bodies


def finished_job(tmp_path, url: str) -> RemoteJobs:
    jobs = RemoteJobs(url, "token", tmp_path / "scratch")
    folder = jobs.job_dir(JOB)
    folder.mkdir(parents=True)
    (folder / "audio.wav").write_bytes(b"RIFF" + bytes(100_000))
    (folder / "timeline.json").write_text(timeline_text())
    return jobs


def test_a_result_the_front_end_cannot_take_now_is_sent_again_after_retry_after(tmp_path):
    """503 + Retry-After (the front end's temporary folder is busy with other bodies) used to
    fail the job and delete minutes of scoring: the result is sent again after the wait."""
    server, bodies = front_end([(503, {"Retry-After": "1"}), (200, {})])
    try:
        jobs = finished_job(tmp_path, f"http://127.0.0.1:{server.server_address[1]}")
        jobs.finish(JOB, 1.5)
    finally:
        server.shutdown()
        server.server_close()
    assert len(bodies) == 2 and bodies[0] == bodies[1] > 100_000, bodies
    assert not jobs.job_dir(JOB).exists(), "sent: the scratch folder goes"


@pytest.mark.parametrize("status", [307, 404])
def test_a_result_not_taken_is_an_error_not_a_success(tmp_path, status):
    """Only a 2xx is a delivered result. A redirect (a proxy's http → https, a wrong URL) was
    taken for success and the files deleted; urllib had raised on it."""
    server, bodies = front_end([(status, {"Location": "https://elsewhere.example/"})])
    try:
        jobs = finished_job(tmp_path, f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(FrontEndError, match=f"HTTP {status}"):
            jobs.finish(JOB, 1.5)
    finally:
        server.shutdown()
        server.server_close()
    # Not delivered: the front end's reaper queues the job again once queue.stale_seconds pass and
    # another worker scores it; nothing here would send these files again, so they go.
    assert len(bodies) == 1 and not jobs.job_dir(JOB).exists()


def test_an_upload_cut_short_is_fetched_again_and_never_scored_in_part(tmp_path, monkeypatch):
    """urllib's reads end quietly when the connection drops before the announced length: the
    worker scored part of a clip (or failed it as unreadable). A short download is now an error,
    and the claimed job's upload is fetched again; one that never arrives whole is not scored."""
    import appliance.service.remote as remote

    monkeypatch.setattr(remote, "DOWNLOAD_RETRY_S", 0.01)
    clip = bytes(range(256)) * 400
    gets: list[str] = []
    cut_short = [True]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # the claim
            answer = json.dumps({"id": JOB, "state": "running", "created": 1.0, "started": 1.0, "finished": None,
                                 "filename": "clip.mp4", "description": None, "options": {}, "stage": "starting",
                                 "progress": 0, "error": None, "attempts": 1, "worker": "w", "seconds": None,
                                 "has_analysis": False}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def do_GET(self):  # the upload: the first one (or every one) stops after 1000 bytes
            gets.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(clip)))
            self.end_headers()
            self.wfile.write(clip[:1000] if cut_short[0] or len(gets) == 1 else clip)
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        jobs = RemoteJobs(f"http://127.0.0.1:{server.server_address[1]}", "token", tmp_path / "scratch")
        with pytest.raises(FrontEndError, match=f"1000 of {len(clip)} bytes"):
            jobs.start(JOB)
        assert len(gets) == remote.DOWNLOAD_TRIES
        cut_short[0] = False
        gets.clear()
        job = jobs.start(JOB)
    finally:
        server.shutdown()
        server.server_close()
    assert job is not None and len(gets) == 2, gets
    assert (jobs.job_dir(JOB) / "input").read_bytes() == clip
