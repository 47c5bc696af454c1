"""The capture daemon: camera loop with pre-roll, record triggers, watchdog, hand-over to the queue.

Threads, each with one job:
- capture: reads the camera, keeps the pre-roll ring (which is also the preview), feeds the
  active recording, and ends a recording that reached its length;
- watchdog: a camera that delivered no frame for `stall_seconds` is closed, and the capture loop
  opens it again (also after an unplug/replug), without restarting the process;
- outbox: submits finished recordings to the service, holding them while it is down;
- finishing a recording runs in a short-lived thread of its own, so stopping never blocks the
  camera or the caller.
Commands (`start`, `stop`, `cancel`, `toggle`, `status`, `preview`) arrive from the control
socket, the GPIO button or tests; all return a dict for the caller, errors included.
"""
from __future__ import annotations

import errno

import json
import logging
import shutil
import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Callable

from appliance.capture.cameras import Camera, CameraLost
from appliance.capture.outbox import Outbox
from appliance.capture.preroll import PreRoll
from appliance.capture.recording import FinishedClip, Recording
from appliance.capture.scoring import RecordingScoring
from appliance.config import MB, CaptureConfig
from appliance.errors import is_number

log = logging.getLogger("foley.capture")
REOPEN_FIRST_S, REOPEN_MAX_S = 0.5, 5.0
DOUBLE_PRESS_S = 0.5
"""A second start/stop this soon after the last one is a bounce or an impatient double press."""
HISTORY = 20


class CommandRefused(Exception):
    """A command that cannot be carried out now; `status` is the HTTP status the service answers."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


class CaptureDaemon:
    def __init__(self, config: CaptureConfig, open_camera: Callable[[], Camera], folder: Path, outbox: Outbox,
                 clock: Callable[[], float] = time.monotonic, scoring: RecordingScoring | None = None):
        """`scoring`: makes each recording's result while it is recorded and files it in the
        history (capture/scoring.py); None, or when it cannot, the outbox hands the clip to the
        service's queue."""
        self.config = config
        self.open_camera = open_camera
        self.folder = folder
        self.outbox = outbox
        outbox.on_result = self._submitted
        self.clock = clock
        self.scoring = scoring
        self.preroll = PreRoll(config.preroll_seconds, config.jpeg_quality)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._recording: Recording | None = None
        self._last_command_at = -DOUBLE_PRESS_S
        self._camera: Camera | None = None
        self._camera_name: str | None = None
        self._camera_error: str | None = "starting"
        self._last_frame_at: float | None = None
        self._generation = 0
        self.reopens = 0
        self.history: deque[dict] = deque(maxlen=HISTORY)
        self._threads: list[threading.Thread] = []
        self._finishing: set[threading.Thread] = set()
        """Threads finishing a recording (shutdown waits for them)."""
        folder.mkdir(parents=True, exist_ok=True)
        for partial in folder.glob(".*.mp4.partial"):  # a recording cut by a crash or power cut
            log.warning("discarding %s: the daemon stopped while it was being recorded", partial.name)
            partial.unlink()
        for scratch in folder.glob(".scoring-*"):  # its result, half made (capture/scoring.py)
            shutil.rmtree(scratch, ignore_errors=True)
        self._hand_over_finished()

    def _hand_over_finished(self) -> None:
        """Clips completed (renamed from .partial) but neither filed in the outbox nor scored when
        the daemon stopped: they are whole, so they go to the outbox for the service's worker (the
        analysis and description, held in memory, are gone). Left here they were never sent."""
        for clip in sorted(self.folder.glob("*.mp4")):
            log.warning("recording %s was complete but not handed over when the daemon stopped; "
                        "the service scores it (without its description)", clip.stem)
            try:
                self.outbox.put(FinishedClip(clip.stem, clip, None, None))
            except OSError as exc:  # disk full: it stays here for the next start
                log.error("recording %s could not be stored for submission: %s", clip.stem, exc)

    # -- lifecycle ------------------------------------------------------------------------------
    def start_threads(self) -> None:
        for name, target in (("watchdog", self._watchdog), ("outbox", lambda: self.outbox.run(self.stopping))):
            thread = threading.Thread(target=target, name=f"foley-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._generation += 1
        self._start_capture_thread()

    def shutdown(self) -> None:
        """Stop everything; a recording in progress is finished and kept (systemd stop, Ctrl-C)."""
        with self._lock:
            recording, self._recording = self._recording, None
        if recording is not None:
            self._finish(recording, self.clock(), "the daemon was stopped")
        self.stopping.set()
        self.outbox.wake.set()
        camera = self._camera
        if camera is not None:
            camera.close()
        for thread in self._threads:
            thread.join(5)
        for thread in list(self._finishing):  # a result being made: the models must outlive it
            thread.join(30)
        if self.scoring is not None:
            self.scoring.close()

    def _start_capture_thread(self) -> None:
        """A new capture loop; the loop of an earlier generation ends at its next frame or error.
        Loops that have ended are dropped from the threads shutdown waits for: the watchdog starts
        one per stall, and a camera that keeps stalling for days would otherwise grow the list
        without bound (a wedged loop still running stays in it)."""
        thread = threading.Thread(target=self._capture, args=(self._generation,), name="foley-capture", daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    # -- camera loop ----------------------------------------------------------------------------
    def _capture(self, generation: int) -> None:
        delay = REOPEN_FIRST_S
        while not self.stopping.is_set() and generation == self._generation:
            try:
                camera = self.open_camera()
            except CameraLost as exc:
                self._camera_lost(str(exc))
                self.stopping.wait(delay)
                delay = min(delay * 2, REOPEN_MAX_S)
                continue
            delay = REOPEN_FIRST_S
            self._camera, self._camera_name = camera, camera.name
            self._last_frame_at = self.clock()  # the watchdog also covers a camera that never delivers
            try:
                while not self.stopping.is_set() and generation == self._generation:
                    image = camera.read()
                    if generation != self._generation:
                        break
                    self._frame(image, self.clock())
            except CameraLost as exc:
                if not self.stopping.is_set() and generation == self._generation:
                    self._camera_lost(str(exc))
            finally:
                camera.close()
                if self._camera is camera:
                    self._camera = None

    def _frame(self, image, now: float) -> None:
        self._last_frame_at = now
        self.preroll.add(image, now)
        if self._camera_error is not None:  # ready once it delivers, not when it opens
            self._camera_error = None
            log.info("camera ready: %s", self._camera_name)
        recording = self._recording
        if recording is None:
            return
        recording.offer(image, now)
        if recording.elapsed(now) >= recording.seconds:
            with self._lock:
                if self._recording is not recording:
                    return
                self._recording = None
            self._finish_later(recording, now, "it reached its length")

    def _camera_lost(self, reason: str) -> None:
        if self._camera_error != reason:
            log.warning("camera: %s; trying to reopen it", reason)
        self._camera_error = reason
        self._last_frame_at = None
        self.preroll.clear()
        with self._lock:
            recording, self._recording = self._recording, None
        if recording is not None:  # keep what was recorded if it is long enough to be a clip
            self._finish_later(recording, self.clock(), f"the camera was lost ({reason})")

    def _watchdog(self) -> None:
        """Every 0.25 s, restart a stalled capture loop. An unexpected error in a round (a camera
        driver's close failing, a bug) is logged with its traceback and the watchdog goes on:
        an exception that ended this thread left every later stall unnoticed, the camera dead
        until the daemon was restarted, and nothing said so (as for the outbox's thread)."""
        while not self.stopping.wait(0.25):
            try:
                self._restart_if_stalled()
            except Exception:
                log.exception("camera watchdog: unexpected error; it keeps watching")

    def _restart_if_stalled(self) -> None:
        """A camera that delivered no frame for stall_seconds: its loop replaced by a new one. The
        new loop is started even when reporting the loss or closing the camera fails: the loss
        has cleared `_last_frame_at` by then, so no later round would see the stall again."""
        last = self._last_frame_at
        if last is None or self.clock() - last < self.config.stall_seconds:
            return
        camera = self._camera
        self.reopens += 1
        self._generation += 1  # the stalled loop must not report the loss or take frames again
        try:
            self._camera_lost(f"no frame from {self._camera_name} for {self.clock() - last:.1f} s")
            if camera is not None:
                camera.close()  # unblocks a read that waits on a dead device
        finally:
            # A read that even closing cannot unblock is left behind: a new loop takes over.
            self._start_capture_thread()

    # -- commands -------------------------------------------------------------------------------
    def start(self, description: str | None = None, seconds: float | None = None) -> dict:
        """`seconds` as the control socket's request has it: a number (not a bool, not text), or
        None for capture.record_seconds."""
        if seconds is not None and not is_number(seconds):
            raise CommandRefused(f"seconds must be a number, not {json.dumps(seconds, default=str)[:40]}", 400)
        seconds = self.config.record_seconds if seconds is None else float(seconds)
        if not 0 < seconds <= self.config.max_record_seconds:
            raise CommandRefused(f"seconds must be between 0 and {self.config.max_record_seconds:g}", 400)
        if self._camera_error is not None:
            raise CommandRefused(f"no camera: {self._camera_error}", 503)
        free_mb = shutil.disk_usage(self.folder).free / MB
        if free_mb < self.config.min_free_mb:
            raise CommandRefused(f"not enough free space to record: {free_mb:.0f} MB free, "
                                 f"at least {self.config.min_free_mb} MB needed", 507)
        now = self.clock()
        with self._lock:
            if self._recording is not None:
                raise CommandRefused(f"already recording ({self._recording.id})")
            if now - self._last_command_at < DOUBLE_PRESS_S:
                raise CommandRefused("ignored: pressed again too quickly after the last press")
            self._last_command_at = now
            preroll = self.preroll.since(now - self.config.preroll_seconds)
            origin = preroll[0].time if preroll else now
            fps = getattr(self._camera, "fps", None) or self.config.fps
            try:
                self._recording = Recording(self.folder, fps, origin, seconds + (now - origin), description, preroll,
                                            self._start_scoring if self.scoring else None)
            except OSError as exc:  # e.g. free bytes but no free inode: said like a full disk, not a dropped call
                log.warning("a recording could not start: %s", exc)
                raise CommandRefused(f"cannot start a recording: {exc.strerror or exc}",
                                     507 if exc.errno in (errno.ENOSPC, errno.EDQUOT) else 500) from None
            recording = self._recording
        log.info("recording %s started (%.1f s of pre-roll, %.1f s more)", recording.id, now - origin, seconds)
        return {"state": "recording", "id": recording.id, "preroll_seconds": round(now - origin, 3),
                "seconds": seconds}

    def stop(self) -> dict:
        now = self.clock()
        with self._lock:
            recording = self._recording
            if recording is None:
                raise CommandRefused("not recording")
            if now - self._last_command_at < DOUBLE_PRESS_S:
                raise CommandRefused("ignored: pressed again too quickly after the last press")
            self._last_command_at = now
            self._recording = None
        self._finish_later(recording, now, "it was stopped")
        return {"state": "finishing", "id": recording.id}

    def cancel(self) -> dict:
        with self._lock:
            recording, self._recording = self._recording, None
        if recording is None:
            raise CommandRefused("not recording")
        recording.discard("cancelled")
        self._record_history(recording.id, {"state": "cancelled"})
        return {"state": "cancelled", "id": recording.id}

    def toggle(self, description: str | None = None) -> dict:
        """The button: start when idle, stop when recording."""
        return self.stop() if self._recording is not None else self.start(description)

    def status(self) -> dict:
        recording = self._recording
        now = self.clock()
        return {
            "camera": {"name": self._camera_name, "ok": self._camera_error is None, "error": self._camera_error,
                       "reopens": self.reopens},
            "state": "recording" if recording else ("idle" if self._camera_error is None else "no camera"),
            "recording": None if recording is None else {
                "id": recording.id, "elapsed": round(recording.elapsed(now), 2), "seconds": recording.seconds,
                "description": recording.description, "frames": recording.frames, "dropped": recording.dropped},
            "waiting_for_service": len(self.outbox.pending()),
            "scoring_while_recording": self.scoring.state if self.scoring else "off",
            "recent": list(self.history),
        }

    def preview(self):
        """The newest frame as JPEG (StoredFrame), or None when there is none."""
        return self.preroll.latest()

    # -- finishing ------------------------------------------------------------------------------
    def _finish_later(self, recording: Recording, stopped_at: float, why: str) -> None:
        self._record_history(recording.id, {"state": "finishing", "stopped": time.time()})
        thread = threading.Thread(target=self._finish_tracked, args=(recording, stopped_at, why),
                                  name=f"foley-finish-{recording.id}", daemon=True)
        self._finishing.add(thread)
        thread.start()

    def _finish_tracked(self, recording: Recording, stopped_at: float, why: str) -> None:
        try:
            self._finish(recording, stopped_at, why)
        finally:
            self._finishing.discard(threading.current_thread())

    def _finish(self, recording: Recording, stopped_at: float, why: str) -> None:
        clip = recording.finish(self.config.min_clip_seconds)
        if clip is None:
            if recording.scorer is not None:
                recording.scorer.discard()
            self._record_history(recording.id, {"state": "discarded", "reason": recording.failure})
            return
        log.info("recording %s ended (%s): %d frames, %.2f s", recording.id, why, recording.frames,
                 clip.analysis.info.duration or 0)
        facts = {"duration": clip.analysis.info.duration, "frames": recording.frames, "dropped": recording.dropped}
        if recording.scorer is not None:
            try:
                job, scored = self.scoring.file(recording.scorer, clip.path, clip.analysis, stopped_at, self.clock)
                log.info("recording %s scored while recorded: job %s", recording.id, job)
                self._record_history(recording.id, {
                    "state": "scored", "job_id": job, **facts,
                    "scored": "at the stop (rendered again)" if scored.rendered_again else "while recording"})
                return
            except Exception:  # the service's worker scores it instead, from the clip
                log.exception("recording %s: its result could not be made here; the service scores it", recording.id)
                if recording.scorer.used_analysis:
                    clip = replace(clip, analysis=None)
        try:
            self.outbox.put(clip)
        except OSError as exc:  # disk full while handing over: the whole clip stays for the next start
            if not clip.path.exists():  # not to be said kept when it is not
                log.error("recording %s could not be stored for submission and is lost: %s", recording.id, exc)
                self._record_history(recording.id, {"state": "discarded", "reason": f"storing it failed: {exc}"})
                return
            log.error("recording %s could not be stored for submission: %s; kept in %s for the next start",
                      recording.id, exc, self.folder)
            self._record_history(recording.id, {
                "state": "kept", **facts, "reason": f"storing it for the service failed ({exc.strerror or exc}); "
                                                    "the clip is kept and handed over when the camera daemon next starts"})
            return
        self._record_history(recording.id, {"state": "waiting", **facts, "scored": "by the service"})

    def _start_scoring(self, recording: Recording):
        return self.scoring.start(recording.analysis, self.folder, recording.id, recording.description)

    def _submitted(self, recording_id: str, result: dict) -> None:
        self._record_history(recording_id, result)

    def _record_history(self, recording_id: str, update: dict) -> None:
        with self._lock:
            entry = next((e for e in self.history if e["id"] == recording_id), None)
            if entry is None:
                entry = {"id": recording_id}
                self.history.appendleft(entry)
            entry.update(update, updated=time.time())
