"""Finished recordings on their way to the service's queue; they wait here while it is down.

Each recording is a folder (clip.mp4, analysis.npz, request.json) that appears complete or not
at all (written under a temporary name, fsynced, renamed), so a power cut between the end of a
recording and its submission loses nothing: the next start of the daemon submits it, and
completes one that was being written here. It is sent to the web service over HTTP like any
client's upload (with its live analysis, so the worker does not decode it again); a clip the
service refuses as bad, or whose folder is damaged, is moved to `rejected/` with the reason,
for a human to look at; the newest REJECTED_KEPT stay there (a camera whose every clip the
service refuses as bad would otherwise fill its card with them). A refused token is not the
clip's fault: such a clip waits, as it does while the service is down.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Callable

from appliance.atomic import fsync_folder, write_json_atomic
from appliance.capture.recording import FinishedClip
from appliance.engine.analysis_file import save_analysis
from appliance.errors import UsageError
from appliance.multipart import MultipartBody, post_form

log = logging.getLogger("foley.capture")
CLIP, ANALYSIS, REQUEST = "clip.mp4", "analysis.npz", "request.json"
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 30.0
REJECTED_KEPT = 20
"""Refused recordings kept in `rejected/`, the newest; as many as the daemon's status lists."""


class ServiceUnavailable(Exception):
    """The service cannot take the clip now (down, restarting, queue full): try again later."""


class Outbox:
    def __init__(self, folder: Path, service_url: str, token_file: Path,
                 on_result: Callable[[str, dict], None] = lambda recording_id, result: None):
        self.folder = folder
        self.rejected = folder.parent / "rejected"
        self.service_url = service_url.rstrip("/")
        self.token_file = token_file
        self.on_result = on_result
        self.wake = threading.Event()
        folder.mkdir(parents=True, exist_ok=True)
        for leftover in folder.glob(".*.tmp"):  # a crash while a recording was being put here
            self._recover(leftover)

    def _recover(self, leftover: Path) -> None:
        """File what `put` was filing when the process died (a power cut, kill -9). Once moved
        here the clip is the recording's only copy, so the folder is completed, never deleted with
        it: each file in it was written whole or not at all (the analysis and request atomically),
        so what is missing is at most the request, written now without the description (that was
        in memory), as the daemon files a clip it finds complete. A folder without a clip (the
        crash came before the move: the clip is still with the recordings, which the daemon hands
        over at its start) holds nothing to keep. One that cannot be completed (a full disk) is
        left for the next start."""
        if not (leftover / CLIP).is_file():
            shutil.rmtree(leftover, ignore_errors=True)
            return
        recording_id = leftover.name[1:-len(".tmp")]
        log.warning("recording %s was being filed here when the daemon stopped; it is filed now", recording_id)
        try:
            if not (leftover / REQUEST).is_file():
                write_json_atomic(leftover / REQUEST, {"id": recording_id, "description": None})
            fsync_folder(leftover)
            self._into_place(leftover, recording_id)
        except (OSError, UsageError) as exc:  # UsageError: no temporary file for the request (atomic_path)
            log.error("recording %s could not be filed: %s; tried again at the next start", recording_id, exc)

    def put(self, clip: FinishedClip) -> Path:
        """File the clip (moved here) with its analysis and description. The analysis only
        spares the service a decode: one that does not fit (disk full; it can be several times
        the clip's size) is left out, and the clip filed without it. A clip that cannot be filed
        at all goes back where it was (the caller's to keep for a later try), its half-written
        folder removed: a whole recording was deleted for want of room for its analysis."""
        temp = self.folder / f".{clip.id}.tmp"
        temp.mkdir()
        try:
            os.replace(clip.path, temp / CLIP)
            if clip.analysis is not None:
                try:
                    save_analysis(clip.analysis, temp / ANALYSIS)
                except OSError as exc:
                    (temp / ANALYSIS).unlink(missing_ok=True)
                    log.warning("recording %s: its analysis could not be stored (%s); the service decodes the clip "
                                "instead", clip.id, exc)
            write_json_atomic(temp / REQUEST, {"id": clip.id, "description": clip.description})
            fsync_folder(temp)
        except BaseException:
            if (temp / CLIP).exists():
                os.replace(temp / CLIP, clip.path)
            shutil.rmtree(temp, ignore_errors=True)
            raise
        return self._into_place(temp, clip.id)

    def _into_place(self, temp: Path, recording_id: str) -> Path:
        """Rename the complete folder `temp` into the queue, durably."""
        entry = self.folder / recording_id
        os.replace(temp, entry)
        fsync_folder(self.folder)
        self.wake.set()
        return entry

    def pending(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    def run(self, stopping: threading.Event) -> None:
        """Submit what is waiting, oldest first; while the service is down, retry with backoff.

        Any other error (an entry that cannot be read, a bug) is logged with its traceback and
        that entry is tried again after the same backoff, while the entries after it go on: this
        thread is the only way clips reach the service, and an exception that ended it left every
        later clip waiting here, silently, until the next restart. Keeping it serving is chosen
        over exiting the process for systemd to restart it: a restart cuts the recording in
        progress and the pre-roll, and the restarted daemon would meet the same entry again."""
        delay = RETRY_FIRST_S
        while not stopping.is_set():
            self.wake.clear()
            try:
                failed = [entry for entry in self.pending() if not self._submit_logged(entry)]
                if not failed:
                    delay = RETRY_FIRST_S
                    self.wake.wait(5.0)
                    continue
            except ServiceUnavailable as exc:
                log.warning("the service cannot take recordings now (%s); %d recording(s) wait, retrying in %.1f s",
                            exc, len(self.pending()), delay)
            except Exception:  # listing the folder failed: the next round tries again
                log.exception("the outbox could not be read; retrying in %.1f s", delay)
            self.wake.wait(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def _submit_logged(self, entry: Path) -> bool:
        """Submit `entry`; False (the error logged) when it failed for another reason than the
        service being unavailable (which ends the round: ServiceUnavailable)."""
        try:
            self._submit(entry)
            return True
        except ServiceUnavailable:
            raise
        except Exception:
            log.exception("recording %s could not be submitted; it is tried again later", entry.name)
            return False

    def _submit(self, entry: Path) -> None:
        try:
            request = _request_of(entry)
        except (FileNotFoundError, ValueError) as exc:  # damaged for good: it would fail every round
            self._reject(entry, f"the recording's files are damaged ({exc})")
            return
        fields = {"description": request.get("description") or ""}
        files = {"video": (f"{entry.name}.mp4", entry / CLIP)}
        if (entry / ANALYSIS).is_file():  # else the worker decodes the clip
            files["analysis"] = (ANALYSIS, entry / ANALYSIS)
        status, body = self._post("/api/v1/score", fields, files)
        if status in (202, 200):
            shutil.rmtree(entry)
            log.info("recording %s submitted as job %s", entry.name, body.get("id"))
            self.on_result(entry.name, {"state": "submitted", "job_id": body.get("id")})
        elif status in (401, 403, 429, 503) or status >= 500:  # 507 too: the service's disk may be freed
            # said where `foley record --status` and the page look: the clip waited with no reason.
            # A refused token (401, 403) is a setting someone can mend, not a bad clip: it waits too.
            self.on_result(entry.name, {"state": "waiting", "reason": f"the service cannot take it now (HTTP {status}: "
                                                                      f"{body.get('error', '')}); it is sent again"})
            raise ServiceUnavailable(f"HTTP {status}: {body.get('error', '')}")
        else:
            self._reject(entry, f"the service refused the clip (HTTP {status}): {body.get('error', '')}")

    def _reject(self, entry: Path, reason: str) -> None:
        """Move `entry` to `rejected/` with `reason.txt`: kept for a human, out of the queue."""
        self.rejected.mkdir(parents=True, exist_ok=True)
        (entry / "reason.txt").write_text(reason + "\n", encoding="utf-8")
        os.replace(entry, self.rejected / entry.name)
        log.error("recording %s: %s; kept in %s", entry.name, reason, self.rejected / entry.name)
        self.on_result(entry.name, {"state": "rejected", "reason": reason})
        self._prune_rejected()

    def _prune_rejected(self) -> None:
        """Remove the refused recordings beyond the newest REJECTED_KEPT (by when they were refused:
        their reason.txt)."""
        def refused_at(folder: Path) -> tuple[float, str]:  # names (start times) order a tie
            try:
                return (folder / "reason.txt").stat().st_mtime, folder.name
            except OSError:
                return 0.0, folder.name
        kept = sorted((p for p in self.rejected.iterdir() if p.is_dir()), key=refused_at, reverse=True)
        for old in kept[REJECTED_KEPT:]:
            shutil.rmtree(old, ignore_errors=True)
            log.info("refused recording %s removed (the newest %d are kept)", old.name, REJECTED_KEPT)

    def _post(self, path: str, fields: dict[str, str], files: dict[str, tuple[str, Path]]) -> tuple[int, dict]:
        """(status, JSON answer); ServiceUnavailable when the service gave no answer. The answer
        is read even when the service refused the clip from its headers (post_form)."""
        form = MultipartBody(fields, files)  # streamed from the clip, not read into memory
        headers = {}
        if self.token_file.is_file():
            headers["Authorization"] = "Bearer " + self.token_file.read_text(encoding="utf-8").strip()
        try:
            answer = post_form(self.service_url + path, form, headers, timeout=60)
        except (OSError, ValueError) as exc:
            raise ServiceUnavailable(str(exc)) from None
        try:
            body = json.loads(answer.body or b"{}")
        except ValueError:
            body = {}
        return answer.status, body if isinstance(body, dict) else {}


def _request_of(entry: Path) -> dict:
    """The entry's request, checked: FileNotFoundError or ValueError when its request or its clip
    is missing or unreadable as written (a disk that lost part of the folder), which no retry mends."""
    if not (entry / REQUEST).is_file():
        raise FileNotFoundError(f"no {REQUEST}")
    request = json.loads((entry / REQUEST).read_text(encoding="utf-8"))
    if not isinstance(request, dict) or not isinstance(request.get("description") or "", str):
        raise ValueError(f"{REQUEST} holds no request")
    if not (entry / CLIP).is_file():
        raise FileNotFoundError(f"no {CLIP}")
    return request
