"""A scoring worker on another board: the job store's calls made over HTTP to the front end.

`ScoringWorker.run` (appliance/service/queue.py) needs a job store that can claim a job, give its folder, take progress and take the
outcome. On the front end's own board that is `JobStore` (SQLite and folders on disk); on a
board that does not share its disk it is `RemoteJobs`, which claims through the front end's
worker API (appliance/service/worker_api.py), downloads the upload into a local scratch folder,
reports progress (the job's heartbeat) and uploads the finished files. Configured by
`queue.frontend_url` (+ `queue.frontend_token`) in the worker board's config.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from appliance.engine.pipeline import CREDITS_NAME, MIX_NAME, MP4_NAME, TIMELINE_NAME, WAV_NAME
from appliance.errors import UsageError
from appliance.multipart import MultipartBody, post_form
from appliance.service.jobs import ANALYSIS_NAME, INPUT_NAME, Job, worker_id

log = logging.getLogger("foley.worker")
PROGRESS_INTERVAL_S = 1.0
TIMEOUT_S = 120
RESULT_RETRY_S = 600
"""A finished result the front end cannot take now (503 or 429: bodies being received fill its
temporary folder; the network or the front end gone mid-upload) is sent again for this long:
scoring it cost minutes. After that the job is left to the front end's stale-job reaper."""
RETRY_DEFAULT_S, RETRY_MAX_S = 10.0, 60.0
DOWNLOAD_TRIES, DOWNLOAD_RETRY_S = 3, 2.0
"""A claimed job's upload that does not arrive whole is fetched again (a network blip): the claim
is this worker's, and a message queued again would find the job taken and be dropped, leaving it
to the stale-job reaper (minutes, and one of its attempts spent)."""


LEFTOVER_AGE_S = 24 * 3600
"""A job folder in the scratch folder this old, found when a worker starts, was left by a worker
killed while scoring (its job went back to the front end's queue): removed. Younger ones may be
another worker process's, at work."""


class FrontEndError(Exception):
    """The front end refused a call or could not be reached."""


class RemoteJobs:
    def __init__(self, frontend_url: str, token: str | None, scratch: Path):
        self.url = frontend_url.rstrip("/")
        self.token = token
        self.scratch = scratch
        self.worker = worker_id()
        self._last_progress: dict[str, float] = {}
        self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        now = time.time()
        for folder in self.scratch.glob("*") if self.scratch.is_dir() else ():
            try:
                if folder.is_dir() and now - folder.stat().st_mtime > LEFTOVER_AGE_S:
                    shutil.rmtree(folder, ignore_errors=True)
                    log.info("removed %s, left by a worker stopped while scoring it", folder)
            except OSError:
                continue

    def job_dir(self, job_id: str) -> Path:
        return self.scratch / job_id

    def start(self, job_id: str) -> Job | None:
        """Claim the job and fetch its upload (and a recording's analysis); None if not waiting."""
        try:
            claimed = json.loads(self._call("POST", f"/api/v1/jobs/{job_id}/claim"))
        except FrontEndError as exc:
            if "HTTP 409" in str(exc):
                return None
            raise
        folder = self.job_dir(job_id)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        files = [("input", INPUT_NAME)] + ([("analysis.npz", ANALYSIS_NAME)] if claimed.pop("has_analysis", False) else [])
        try:
            for route, name in files:
                self._download_retried(job_id, route, folder / name)
        except BaseException:  # the job goes back to the front end (its reaper); its files here are no use
            self._done(job_id)
            raise
        claimed["progress"] = claimed["progress"] / 100
        return Job(**{**claimed, "heartbeat": None})

    def _download_retried(self, job_id: str, route: str, target: Path) -> None:
        for attempt in range(DOWNLOAD_TRIES):
            try:
                self._download(f"/api/v1/jobs/{job_id}/{route}", target)
                return
            except FrontEndError as exc:
                if attempt + 1 == DOWNLOAD_TRIES:
                    raise
                log.warning("job %s: %s; fetched again in %.0f s", job_id, exc, DOWNLOAD_RETRY_S)
                time.sleep(DOWNLOAD_RETRY_S)

    def progress(self, job_id: str, stage: str, fraction: float) -> None:
        """Sent at most once a second (it is a heartbeat, not a stream); failures only logged."""
        now = time.monotonic()
        if now - self._last_progress.get(job_id, 0.0) < PROGRESS_INTERVAL_S:
            return
        self._last_progress[job_id] = now
        try:
            self._call("POST", f"/api/v1/jobs/{job_id}/progress", {"stage": stage, "fraction": fraction})
        except FrontEndError as exc:
            log.warning("job %s: progress not delivered: %s", job_id, exc)

    def finish(self, job_id: str, seconds: float) -> None:
        folder = self.job_dir(job_id)
        body = MultipartBody({"seconds": f"{seconds:.3f}"},
                             {name: (name, folder / name) for name in
                              (WAV_NAME, MP4_NAME, TIMELINE_NAME, CREDITS_NAME, MIX_NAME) if (folder / name).is_file()})
        try:
            self._deliver(job_id, body)
        finally:  # delivered, or given up (the front end's reaper scores it again): the files are no use here
            self._done(job_id)

    def _deliver(self, job_id: str, body: MultipartBody) -> None:
        path = f"/api/v1/jobs/{job_id}/result"
        deadline = time.monotonic() + RESULT_RETRY_S
        while True:
            try:  # the answer is read even when the front end refused the result from its headers
                answer = post_form(self.url + path, body, self._headers(), TIMEOUT_S)
            except OSError as exc:  # the network or the front end gone mid-upload: the files are here, send again
                if time.monotonic() + RETRY_DEFAULT_S > deadline:
                    raise FrontEndError(f"POST {path}: {exc}") from None
                log.warning("job %s: the result did not reach the front end (%s); sent again in %.0f s",
                            job_id, exc, RETRY_DEFAULT_S)
                time.sleep(RETRY_DEFAULT_S)
                continue
            if 200 <= answer.status < 300:
                break
            wait = min(max(answer.retry_after or RETRY_DEFAULT_S, 1.0), RETRY_MAX_S)
            if answer.status not in (429, 503) or time.monotonic() + wait > deadline:
                raise FrontEndError(f"POST {path}: HTTP {answer.status} {answer.body[:300].decode(errors='replace')}")
            log.info("job %s: the front end cannot take the result now (HTTP %d); sent again in %.0f s",
                     job_id, answer.status, wait)
            time.sleep(wait)

    def check_token(self) -> None:
        """UsageError when the front end refuses this board's token: a worker with a wrong one
        took each job from the broker and lost it on the refused claim."""
        try:
            self._call("GET", "/api/v1/status")
        except FrontEndError as exc:
            if "HTTP 401" in str(exc):
                raise UsageError(f"the front end at {self.url} refuses this board's queue.frontend_token") from None
            log.warning("the front end at %s does not answer yet: %s", self.url, exc)

    def fail(self, job_id: str, reason: str) -> None:
        try:
            self._call("POST", f"/api/v1/jobs/{job_id}/fail", {"reason": reason})
        finally:
            self._done(job_id)

    def _done(self, job_id: str) -> None:
        self._last_progress.pop(job_id, None)
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def _headers(self) -> dict[str, str]:
        headers = {"X-Foley-Worker": self.worker}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _request(self, method: str, path: str, body: dict | None = None):
        headers, data = self._headers(), None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        return urllib.request.Request(self.url + path, data=data, headers=headers, method=method)

    def _call(self, method: str, path: str, body: dict | None = None) -> bytes:
        try:
            with urllib.request.urlopen(self._request(method, path, body), timeout=TIMEOUT_S) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise FrontEndError(f"{method} {path}: HTTP {exc.code} {exc.read()[:300].decode(errors='replace')}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise FrontEndError(f"{method} {path}: {getattr(exc, 'reason', exc)}") from None

    def _download(self, path: str, target: Path) -> None:
        """Fetch `path` into `target`, whole: a connection that drops before the announced length
        is an error (urllib's reads return short without one, and the worker scored part of a
        clip, or failed it as unreadable)."""
        try:
            with urllib.request.urlopen(self._request("GET", path), timeout=TIMEOUT_S) as response, \
                    open(target, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
                announced, received = response.headers.get("Content-Length"), out.tell()
            if announced is not None and received != int(announced):
                raise FrontEndError(f"GET {path}: {received} of {announced} bytes arrived")
        except urllib.error.HTTPError as exc:
            raise FrontEndError(f"GET {path}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise FrontEndError(f"GET {path}: {getattr(exc, 'reason', exc)}") from None
