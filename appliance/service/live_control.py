"""The page's Live switch: one live session in the service's process, its sounds relayed to pages.

Design: the camera daemon owns the camera, so the session reads the daemon's frames
(live/daemon_camera.py) and runs here, beside the web server: it sounds each action on the
board's output (the seam without a sound card) as `foley live` does, and every action is also
published to the pages listening on `GET /api/v1/live/events` (Server-Sent Events), which play
it themselves in WebAudio. A page first gets the sound set in use (the recordings of the scenes
decided so far) so it can decode them before the first action, then one message per action.

`LiveControl` keeps the one session and its state; toggles are serialised by a lock, so two
clients switching at once leave one consistent state. Switching on takes the board's speaker from
the service's arbiter (board_audio.py: a result playing is stopped, Play is refused until live
ends); when another Foley process holds it, the session runs on the audio seam — page-only.
While live is on, the page may record the performance (Record while live): the session's
recorder (live/recorder.py, as `foley live --record`) keeps the picture and exactly the sound
played; when the recording stops — by the page, at `live.max_record_seconds`, when the disk falls
under `service.min_free_mb`, or with live mode — it is muxed and filed in the history like a
scored clip (live/history.py), in a thread of its own (the session goes on). `Relay` holds the
listening pages: at most MAX_LISTENERS (their request threads are counted in the server's pool,
server.py), each with a bounded queue (a page that stops reading is dropped, never the session
slowed down).
"""
from __future__ import annotations

import errno
import json
import logging
import math
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from appliance.config import MB, Config
from appliance.live.recorder import remove_partials
from appliance.live.speaker import WITHOUT_SPEAKER
from appliance.mixing import SAMPLE_RATE
from appliance.service.board_audio import BoardAudio, LiveStart
from appliance.service.state import free_bytes

log = logging.getLogger("foley.serve")
MAX_LISTENERS = 8
LISTENER_QUEUE = 256
SOUNDS_EVERY_S = 0.25
"""How often the session's sound set is checked for new recordings (scene decisions)."""
STOP_WAIT_S = 10.0
OFF, STARTING, ON, STOPPING = "off", "starting", "on", "stopping"


RECORDING_CHECK_S = 0.5
"""How often a recording's length and the disk's free space are checked."""
RECORD_BYTES_PER_S = 2_000_000
"""A recording's disk use per second, as estimated before it starts: the picture (H.264), the
sound (float WAV) and the job's copies of both."""


class Busy(Exception):
    """All listener slots are taken."""


class Refused(Exception):
    """A request that cannot be carried out now; `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


@dataclass
class Recording:
    """A recording of the live performance in progress."""

    id: str
    out: Path
    session: object
    started: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Listener:
    messages: queue.Queue
    dropped: bool = False


class Relay:
    """Messages for the listening pages; `None` ends their streams."""

    def __init__(self):
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self.sounds: dict | None = None
        """The last sound-set message (a page that joins gets it first)."""

    def join(self) -> Listener:
        with self._lock:
            if len(self._listeners) >= MAX_LISTENERS:
                raise Busy(f"{MAX_LISTENERS} pages are already listening to live mode")
            listener = Listener(queue.Queue(LISTENER_QUEUE))
            if self.sounds is not None:
                listener.messages.put_nowait(self.sounds)
            self._listeners.append(listener)
            return listener

    def leave(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def publish(self, message: dict | None) -> None:
        with self._lock:
            if message is not None and message.get("type") == "sounds":
                self.sounds = message
            for listener in list(self._listeners):
                try:
                    listener.messages.put_nowait(message)
                except queue.Full:  # a page that stopped reading: ended, not waited for
                    listener.dropped = True
                    self._listeners.remove(listener)

    def close(self) -> None:
        """End every stream (live stopped)."""
        with self._lock:
            listeners, self._listeners, self.sounds = self._listeners, [], None
        for listener in listeners:
            try:
                listener.messages.put_nowait(None)
            except queue.Full:
                listener.dropped = True


class LiveControl:
    """The one live session of the service (started and stopped from the page or the API)."""

    def __init__(self, config: Config, state_folder: Path, board: BoardAudio):
        self.config, self.state_folder, self.board = config, state_folder, board
        remove_partials(self.recordings_folder)  # of a recording the service was killed during
        self.relay = Relay()
        self._lock = threading.Lock()
        self._state = OFF
        self._description: str | None = None
        self._session = None
        self._thread: threading.Thread | None = None
        self._notices: list[str] = []
        self._speaker = LiveStart(False)
        """What the last switch-on did to the board's speaker (board_audio.py)."""
        self._error: str | None = None
        self._summary: dict | None = None
        self._sounds_lock = threading.Lock()
        self._sounds_known = 0
        self._recording: Recording | None = None
        self._last_recording: dict | None = None

    @property
    def recordings_folder(self) -> Path:
        """Where Record while live writes, until the history takes the result."""
        return self.state_folder / "live-recordings"

    def state(self) -> dict:
        on = self._state in (STARTING, ON)
        recording = self._recording
        return {"on": on, "state": self._state, "description": self._description,
                "notices": list(self._notices), "error": self._error, "last_session": self._summary,
                "listeners_max": MAX_LISTENERS, "speaker": on and self._speaker.speaker,
                "stopped_playback": self._speaker.stopped_playback,
                "recording": None if recording is None else {
                    "id": recording.id, "elapsed": round(recording.elapsed(), 2),
                    "max_seconds": self.config.live.max_record_seconds},
                "last_recording": self._last_recording}

    def switch(self, on: bool, description: str | None = None) -> dict:
        """Turn live mode on or off (nothing to do when it already is): the new state."""
        with self._lock:
            if on and self._state == OFF:
                self._start(description)
            elif not on and self._state in (STARTING, ON):
                self._state = STOPPING
                if self._session is not None:
                    self._session.stop()
        if not on:
            thread = self._thread
            if thread is not None:
                thread.join(STOP_WAIT_S)
        return self.state()

    def record(self, on: bool) -> dict:
        """Start or stop recording the live performance (nothing to do when it already is so):
        the new state. Refused (409) while live mode is not on."""
        if not on:
            recording = self._recording
            if recording is not None:
                self._stop_recording(recording, "stopped")
            return self.state()
        with self._lock:
            if self._recording is None:
                session = self._session
                if self._state != ON or session is None:
                    raise Refused("live mode is not on: switch it on first, then record")
                self.recordings_folder.mkdir(parents=True, exist_ok=True)
                name = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
                recording = Recording(name, self.recordings_folder / f"live-{name}.mp4", session)
                try:
                    session.start_recording(recording.out)
                except OSError as exc:  # free bytes but no inode left, say: a 507 like a full disk, not a 500
                    raise Refused(f"the recording cannot be written: {exc.strerror or exc}",
                                  507 if exc.errno in (errno.ENOSPC, errno.EDQUOT) else 500) from None
                self._recording = recording
                self._last_recording = {"id": recording.id, "state": "recording"}
                threading.Thread(target=self._watch_recording, args=(recording,), name="foley-live-recording",
                                 daemon=True).start()
        return self.state()

    def _watch_recording(self, recording: Recording) -> None:
        """Stop the recording at its longest, or when the disk is nearly full."""
        floor = self.config.service.min_free_mb * MB
        while not recording.done.wait(RECORDING_CHECK_S):
            if recording.elapsed() >= self.config.live.max_record_seconds:
                self._stop_recording(recording, f"reached live.max_record_seconds "
                                                f"({self.config.live.max_record_seconds:g} s)")
            elif free_bytes(self.state_folder) < floor:
                self._stop_recording(recording, f"the disk is nearly full (under service.min_free_mb, "
                                                f"{self.config.service.min_free_mb} MB)")

    def _stop_recording(self, recording: Recording, why: str) -> None:
        """Hand the recording to a thread that finishes and files it (the caller is not kept waiting)."""
        with self._lock:
            if self._recording is not recording:
                return
            self._last_recording = {"id": recording.id, "state": "finishing", "why": why,
                                    "seconds": round(recording.elapsed(), 2)}
            self._recording = None
            recording.done.set()
        threading.Thread(target=self._finish_recording, args=(recording, why), name="foley-live-finish",
                         daemon=True).start()

    def _finish_recording(self, recording: Recording, why: str) -> None:
        try:
            result = recording.session.finish_recording()
            if result is None:  # the session ended meanwhile and finished it itself
                report = recording.session.report
                result_fields = (report.recording, report.history_job, report.recording_failure)
            else:
                result_fields = (result.path, result.job, result.failure)
        except Exception as exc:  # said on the page; live mode goes on
            log.exception("finishing the live recording failed")
            result_fields = (None, None, f"finishing the recording failed: {exc}")
        path, job, failure = result_fields
        if job is not None:  # the history holds the MP4 and the timeline now
            recording.out.unlink(missing_ok=True)
            recording.out.with_suffix(".json").unlink(missing_ok=True)
        self._last_recording = {
            **(self._last_recording or {}), "id": recording.id, "state": "done" if job else "failed", "why": why,
            "job_id": job, "error": failure or (None if job else "the recording is not in the history"),
            "kept_at": str(path) if path is not None and job is None else None}

    def _start(self, description: str | None) -> None:
        from appliance.live.daemon_camera import DaemonCamera  # imports the camera stack only when used

        camera = DaemonCamera(self.config.capture.fps)  # CameraLost: no daemon or no camera, said to the caller
        speaker = self.board.live_starts()
        self._state, self._description, self._error, self._notices = STARTING, description, None, []
        self._speaker = speaker
        if speaker.stopped_playback:
            self._notice(f"stopped playing job {speaker.stopped_playback}: live mode takes the speaker")
        if speaker.busy:
            self._notice(f"the speaker is in use by {speaker.busy.holder.describe()}: {WITHOUT_SPEAKER}")
        self._thread = threading.Thread(target=self._run, args=(camera, description, speaker.speaker),
                                        name="foley-live", daemon=True)
        self._thread.start()

    def _run(self, camera, description: str | None, speaker: bool) -> None:
        try:
            from appliance.live.session import LiveOptions, LiveSession

            settings = self.config.live if speaker else replace(self.config.live, output="seam")
            session = LiveSession(camera, settings,
                                  LiveOptions(description=description, history=self.state_folder / "service",
                                              engine_settings=self.config.engine),
                                  cache_folder=self.state_folder / "cache", say=self._notice, on_cue=self._cue)
            with self._lock:
                if self._state == STOPPING:  # switched off while the models were loading
                    return
                self._session, self._state = session, ON
            sounds = threading.Thread(target=self._watch_sounds, args=(session,), name="foley-live-sounds",
                                      daemon=True)
            sounds.start()
            report = session.run()  # a recording still running is finished by it, and filed
            self._summary = report.summary()
            if report.camera_failure:
                self._error = f"camera lost: {report.camera_failure}"
        except Exception as exc:  # the switch goes off and says why; the service goes on
            log.exception("live mode failed")
            self._error = f"live mode failed: {exc}"
        finally:
            camera.close()
            self.board.live_ends()  # the session's output is closed: Play may have the speaker
            with self._lock:
                self._session, self._state = None, OFF
            recording = self._recording
            if recording is not None:  # (its file was finished by the session's end, or never began)
                self._stop_recording(recording, "live mode stopped")
            self.relay.close()

    def _notice(self, message: str) -> None:
        log.warning("live: %s", message)
        self._notices.append(message)

    def _watch_sounds(self, session) -> None:
        """Publish the sound set whenever a scene decision adds recordings (pages preload them)."""
        self._sounds_known = 0
        while self._session is session:
            self._publish_sounds(session)
            time.sleep(SOUNDS_EVERY_S)

    def _publish_sounds(self, session) -> None:
        with self._sounds_lock:
            while True:
                try:  # the scene thread may add recordings meanwhile
                    ids = list(session.chooser.audio)
                    break
                except RuntimeError:
                    continue
            if len(ids) == self._sounds_known:
                return
            self._sounds_known = len(ids)
            self.relay.publish({"type": "sounds", "sounds": [
                {"id": i, "audio_url": f"/api/v1/library/{i}/audio"} for i in ids]})

    def _cue(self, n: int, event, choice, seen_at: float) -> None:
        """An action's sound, as the session hands it to the mixer: to the pages at once (marked
        `late` when it is already older than live.latency_budget_ms)."""
        session = self._session
        if session is None:
            return
        self._publish_sounds(session)  # a recording outside the decided scene's (an exemplar's)
        template = choice.template
        full = session.chooser.audio.get(template.id)
        offset = (len(full) - len(choice.placement.audio)) / SAMPLE_RATE if full is not None else 0.0
        now = time.monotonic()
        self.relay.publish({
            "type": "event", "n": n, "time": round(event.time, 4), "category": template.category,
            "template_id": template.id, "audio_url": f"/api/v1/library/{template.id}/audio",
            "gain_db": round(_db(choice.placement.gain), 2), "pan": round(choice.placement.pan, 3),
            "offset": round(offset, 4), "strength": round(event.strength, 3), "x": round(event.x, 3),
            "captured_at": round(seen_at, 4), "sent_at": round(now, 4), "sent_unix": round(time.time(), 4),
            "server_ms": round((now - seen_at) * 1000, 1),
            # Already older than the budget when it leaves: the page could only sound it later still,
            # so it skips it (and counts it), as the board drops a late cue.
            "late": (now - seen_at) * 1000 > self.config.live.latency_budget_ms})


def _db(gain: float) -> float:
    return 20 * math.log10(gain) if gain > 0 else -120.0


def sse(message: dict) -> bytes:
    """One Server-Sent Events message: its type as the event name, the JSON as data."""
    return f"event: {message.get('type', 'message')}\ndata: {json.dumps(message)}\n\n".encode()
