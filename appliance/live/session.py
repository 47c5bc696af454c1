"""A live session: camera frames in, each action's sound out of the speaker as it happens.

Threads, each with one job:
- capture: `camera.read()`, timed by the monotonic clock when it returns (as the camera daemon
  times its frames) → the analysis queue, and the recorder when recording;
- analysis (the caller's thread, `run`): the streaming motion analysis and its causal event
  model (motion/analyser.py: an impact is decided two frames after the frame that shows it) →
  per impact a `Choice` (live/choice.py) → a `Cue` to the mixer, with the capture time of the
  frame that showed it and the deadline (that time + the latency budget);
- scene: the vision model, every few seconds and on a scene change (live/choice.py);
- audio: the output's own thread pulls blocks from the mixer (live/output.py, live/mixer.py);
- watchdog: a lost audio device is closed and opened again (events meanwhile are counted as
  dropped), and the mixer's outcomes are collected;
- recorder (with `record`, or from `start_recording` to `finish_recording` while the session
  runs: the page's Record while live): the MP4 of the picture and the played sound (live/recorder.py).

Sustained actions (a scrape, a slide) are reported by the analysis when they end, too late to
sound live; a live session sounds impacts (and steps, hits, knocks: every impact).
"""
from __future__ import annotations

import logging
import math
import os
import queue
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from appliance import __version__
from appliance.capture.cameras import Camera, CameraLost
from appliance.capture.recording import analysis_frame
from appliance.config import EngineConfig, LiveConfig
from appliance.engine.analysis import Keyframe
from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import ENGINE_VERSION, Engine, timeline_event
from appliance.engine.timeline import AmbienceEntry, ClipInfo, OutputSpec, Stats, Timeline
from appliance.library import Template, load_catalog
from appliance.library.store import hold_library
from appliance.live.choice import Choice, LiveChooser, SceneWatcher
from appliance.live.history import add_to_history
from appliance.live.mixer import Cue, LiveMixer, Outcome
from appliance.live.output import AudioOutput, DeviceBusy, NoAudioDevice, make_realtime, open_output
from appliance.live.recorder import LiveRecorder
from appliance.live.speaker import WITHOUT_SPEAKER
from appliance.mixing import DEFAULT_CEILING_DB, SAMPLE_RATE, Placement
from appliance.motion import IMPACT, ActionEvent, MotionAnalyser
from appliance.motion.event_model import bundled_event_model

log = logging.getLogger("foley.live")
QUEUE_SECONDS = 1.0
"""Frames the analysis may fall behind by before frames are dropped (their events would be late anyway)."""
RECENT_FRAMES = 64
"""Capture times kept to find the frame that showed an action (it is decided 2 frames later)."""
WATCH_EVERY_S = 0.05
REOPEN_EVERY_S = 0.5
FIRST_READ_WAIT_S = 0.8
"""Longest wait for the first scene reading (the frame queue holds QUEUE_SECONDS)."""
MAX_TIMINGS = 100_000
"""Per-frame analysis times kept for the report (an hour at 30 fps; 0.8 MB), and sounds' latencies."""
RECENT_SOUNDED = 1000
"""Actions the report keeps with what became of their sounds (~0.9 MB), besides a recording's."""
PATH_PRIORITY = 10
"""SCHED_FIFO priority of the capture and analysis threads (under the audio thread's): the event's
path from frame to cue; when granted, other programs' work no longer delays it."""
GIL_SWITCH_S = 0.0005
TRIM_EVERY = 900
"""Frames between trims of the analyser's event list and trace (a session may run for hours)."""


@dataclass
class LiveOptions:
    description: str | None = None
    seed: int = 0
    duration: float | None = None
    """Seconds to run (None: until `stop`)."""
    record: Path | None = None
    history: Path | None = None
    """The service's folder (state/service), to file the recording in its history (live/history.py)."""
    engine_settings: EngineConfig = field(default_factory=EngineConfig)
    """The config's engine section: a filed recording's request is held to its loudness target
    (a swap's re-mix normalises to it) and clip length limit, as an upload is."""
    keep_sounded: bool = False
    """Keep every action in `LiveReport.sounded`, not only the recent ones: a benchmark's session,
    of a fixed duration, matches them all to its clip's contacts."""


@dataclass(frozen=True)
class Sounded:
    """One action and what became of its sound."""

    n: int
    event: ActionEvent
    template: Template
    placement: Placement
    decision: dict
    outcome: Outcome


@dataclass(frozen=True)
class RecordingResult:
    """What became of a recording: the MP4 (None if nothing usable was kept), its job in the
    history, and why it failed."""

    path: Path | None
    job: str | None
    failure: str | None


@dataclass
class LiveReport:
    output: str = ""
    """The audio output used (its device name)."""
    seconds: float = 0.0
    frames: int = 0
    frames_dropped: int = 0
    impacts: int = 0
    sounded: deque[Sounded] = field(default_factory=deque)
    """The RECENT_SOUNDED most recent actions handed to the mixer and what became of their sounds
    (for a test to look into), and every one heard since the first frame of a recording still
    being made (its timeline lists them); all of them only with `LiveOptions.keep_sounded` (a
    benchmark's). Not all of them otherwise: a live session has no end, and one kept per action
    grew the memory by ~77 MB a day at one action a second. The totals are counted as they come
    (`started`, `dropped_late`, `latency_s`)."""
    started: int = 0
    """Actions whose sound was started (reached the speaker within the latency budget)."""
    dropped_late: int = 0
    """Cues that would have reached the speaker after the latency budget: not played."""
    dropped_no_device: int = 0
    """Actions while the audio device was lost (until it was opened again)."""
    underruns: int = 0
    device_reopened: int = 0
    scene_decisions: int = 0
    camera_failure: str | None = None
    recording: Path | None = None
    recording_failure: str | None = None
    history_job: str | None = None
    """The recording's job in the service's history."""
    notices: list[str] = field(default_factory=list)
    """Said once each, for the user: no device, device lost, camera lost."""
    analysis_ms: list[float] = field(default_factory=list)
    """Per frame, the motion analysis and the sound choice it led to (milliseconds)."""
    latency_s: list[float] = field(default_factory=list)
    """Motion-to-sound seconds of the first MAX_TIMINGS sounds started, as the session measures it
    (from the frame the event model placed the contact in)."""
    cpu_seconds: float = 0.0
    """CPU time the process used during the session (all its threads)."""

    def add(self, sounded: Sounded, keep_since: float | None) -> None:
        """Count an action's outcome and keep it in `sounded`, dropping the oldest past
        RECENT_SOUNDED unless heard at `keep_since` (monotonic) or later, when that is given."""
        outcome = sounded.outcome
        if outcome.started:
            self.started += 1
            if len(self.latency_s) < MAX_TIMINGS:
                self.latency_s.append(outcome.latency)
        else:
            self.dropped_late += 1
        self.sounded.append(sounded)
        while len(self.sounded) > RECENT_SOUNDED and (keep_since is None or _heard_at(self.sounded[0]) < keep_since):
            self.sounded.popleft()

    def summary(self) -> dict:
        latency = np.array(self.latency_s) * 1000
        return {
            "output": self.output, "seconds": round(self.seconds, 2), "frames": self.frames,
            "frames_dropped": self.frames_dropped, "impacts": self.impacts,
            "sounded": self.started,
            "dropped_late": self.dropped_late, "dropped_no_device": self.dropped_no_device,
            "underruns": self.underruns, "device_reopened": self.device_reopened,
            "scene_decisions": self.scene_decisions,
            "analysis_ms_per_frame": {"p50": round(float(np.percentile(self.analysis_ms, 50)), 1),
                                      "p95": round(float(np.percentile(self.analysis_ms, 95)), 1)}
            if self.analysis_ms else None,
            "cpu_percent_of_a_core": round(100 * self.cpu_seconds / self.seconds, 1) if self.seconds else None,
            "latency_ms": {"p50": round(float(np.percentile(latency, 50)), 1),
                           "p95": round(float(np.percentile(latency, 95)), 1),
                           "max": round(float(latency.max()), 1)} if len(latency) else None,
            "camera_failure": self.camera_failure,
            "recording": str(self.recording) if self.recording else None,
            "recording_failure": self.recording_failure,
            "history_job": self.history_job,
        }


def _heard_at(sounded: Sounded) -> float:
    """Monotonic time its sound's first sample reached the speaker, or would have (dropped late)."""
    return sounded.outcome.handed_at + sounded.outcome.output_latency


class LiveSession:
    """`run()` once; `stop()` from any thread ends it."""

    def __init__(self, camera: Camera, settings: LiveConfig, options: LiveOptions, engine: Engine | None = None,
                 cache_folder: Path | None = None, on_frame: Callable[[int, float], None] | None = None,
                 say: Callable[[str], None] = print, on_cue: Callable[[int, ActionEvent, Choice, float], None] | None = None):
        """`on_frame(index, captured_at)`: each frame as captured (the benchmark's clock);
        `say`: how notices reach the user (once each); `on_cue(n, event, choice, seen_at)`: each
        action's sound as it is handed to the mixer (the page's Live switch relays it)."""
        self.camera, self.settings, self.options = camera, settings, options
        self.engine = engine or Engine()
        self.engine.prepare()  # the zero-shot table and search matrices now, not in the first scene read
        self.on_frame, self.say, self.on_cue = on_frame, say, on_cue
        self.report = LiveReport()
        self._library_hold = hold_library()  # the removed sounds this catalog holds stay till run() ends
        catalog = load_catalog()
        self.catalog = catalog
        self.chooser = LiveChooser(self.engine, catalog, options.description, options.seed, cache_folder)
        self.mixer = LiveMixer(settings.voices, SAMPLE_RATE, DEFAULT_CEILING_DB)
        self.recorder: LiveRecorder | None = None
        self._recordings: tuple[LiveRecorder, ...] = ()
        """Recordings started and not yet finished (their timelines made): the report keeps their sounds."""
        self._recording_lock = threading.Lock()
        if options.record:
            self.start_recording(options.record)
        self.output: AudioOutput | None = None
        self._stop = threading.Event()
        self._frames: queue.Queue = queue.Queue(maxsize=max(4, int(camera.fps * QUEUE_SECONDS)))
        self._recent: deque[tuple[float, float]] = deque(maxlen=RECENT_FRAMES)  # (session time, captured_at)
        self._pending: dict[int, tuple] = {}  # cue number → (event, choice), until the mixer's outcome
        self.started_at = 0.0
        self._frame_size = (0, 0)
        self._kind = settings.output
        """The output kind in use (the seam after a missing device)."""

    # -- audio output -----------------------------------------------------------------------
    def _open_output(self) -> AudioOutput:
        """The configured output; without a device, or with one another program holds, the seam
        (said once)."""
        settings = self.settings
        try:
            return open_output(settings.output, self.mixer.render, settings.device, settings.period, settings.periods)
        except NoAudioDevice as exc:
            if settings.output == "seam":
                raise
            self._notice(f"{exc if isinstance(exc, DeviceBusy) else f'no audio device ({exc})'}: {WITHOUT_SPEAKER}")
            self._kind = "seam"
            return open_output("seam", self.mixer.render, None, settings.period, settings.periods)

    def _watch(self) -> None:
        """Reopen a lost device; collect the mixer's outcomes."""
        lost_at = 0.0
        while not self._stop.wait(WATCH_EVERY_S):
            self._collect()
            output = self.output
            if output is not None and output.failure:
                self._notice(f"audio device lost ({output.failure}): reopening it; actions until then are not sounded")
                self.report.underruns += output.underruns
                self.output = None
                output.close()
                self._drop_unstarted()
                lost_at = time.monotonic()  # a device just gone is not back at once
            if self.output is None and time.monotonic() - lost_at >= REOPEN_EVERY_S:
                lost_at = time.monotonic()
                try:
                    self.output = open_output(self._kind, self.mixer.render, self.settings.device,
                                              self.settings.period, self.settings.periods)
                    self.report.device_reopened += 1
                    self._notice(f"audio device back: {self.output.name}")
                except NoAudioDevice as exc:
                    log.info("live: audio device still missing: %s", exc)

    def _drop_unstarted(self) -> None:
        """The cues the mixer had not started (the device is gone, or the session ends): counted
        as not sounded, and forgotten (each kept its event and choice until its outcome)."""
        for cue in self.mixer.discard_pending():
            self._pending.pop(cue.tag, None)
            self.report.dropped_no_device += 1

    def _collect(self) -> None:
        while self.mixer.outcomes:
            outcome = self.mixer.outcomes.popleft()
            n = outcome.cue.tag
            event, choice = self._pending.pop(n)
            # a recording whose first frame has not come yet (origin None) keeps every sound till it has
            origins = [-math.inf if r.origin is None else r.origin for r in self._recordings]
            keep_since = -math.inf if self.options.keep_sounded else min(origins, default=None)
            self.report.add(Sounded(n, event, choice.template, choice.placement, choice.decision, outcome), keep_since)

    # -- camera -------------------------------------------------------------------------------
    def _capture(self) -> None:
        make_realtime(PATH_PRIORITY)
        index = 0
        try:
            while not self._stop.is_set():
                image = self.camera.read()
                # A camera read through another process (DaemonCamera) carries its frame's own
                # stamp, on the same monotonic clock, so the hop to here counts as latency.
                captured_at = getattr(self.camera, "captured_at", None) or time.monotonic()
                if self.on_frame:
                    self.on_frame(index, captured_at)
                recorder = self.recorder  # started and finished from other threads
                if recorder:
                    recorder.frame(image, captured_at)
                try:
                    self._frames.put_nowait((index, captured_at, image))
                except queue.Full:
                    self.report.frames_dropped += 1
                index += 1
        except CameraLost as exc:
            self.report.camera_failure = str(exc)
            self._notice(f"camera lost: {exc}")
        finally:
            self._frames.put(None)

    # -- the session --------------------------------------------------------------------------
    def run(self) -> LiveReport:
        report = self.report
        # The audio thread needs the GIL every period (5 ms); Python hands it over every 5 ms by
        # default, which alone would make a block late now and then.
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_S)
        self.output = self._open_output()
        report.output = self.output.name
        watchdog = threading.Thread(target=self._watch, name="foley-live-watchdog", daemon=True)
        scene = SceneWatcher(self.chooser, self.settings.vision_refresh_seconds)
        capture = threading.Thread(target=self._capture, name="foley-live-capture", daemon=True)
        self.started_at, cpu_at_start = time.monotonic(), time.process_time()
        watchdog.start()
        capture.start()
        timer = threading.Timer(self.options.duration or 0, self.stop)
        timer.daemon = True
        if self.options.duration:
            timer.start()
        analyser = MotionAnalyser(bundled_event_model(), camera_frames=True, fps=self.camera.fps)
        realtime = make_realtime(PATH_PRIORITY)
        origin = None
        try:
            while (item := self._frames.get()) is not None:
                index, captured_at, image = item
                began = time.perf_counter()
                first = origin is None
                if first:
                    origin, self._frame_size = captured_at, image.shape[:2]
                frame = analysis_frame(index, captured_at - origin, image)
                self._recent.append((frame.time, captured_at))
                scene.offer(Keyframe(index, frame.time, frame))
                if first:  # the scene decided from the picture before the first sound (the queue holds 1 s)
                    scene.first_read.wait(FIRST_READ_WAIT_S)
                for event in analyser.push(frame):
                    if event.kind == IMPACT:
                        self._sound(event)
                report.frames += 1
                if len(report.analysis_ms) < MAX_TIMINGS:
                    report.analysis_ms.append((time.perf_counter() - began) * 1000)
                if report.frames % TRIM_EVERY == 0:
                    analyser.forget_history()
                if self._stop.is_set():
                    break
        finally:
            report.seconds = time.monotonic() - self.started_at
            report.cpu_seconds = time.process_time() - cpu_at_start
            timer.cancel()
            self._stop.set()
            self.camera.close()
            capture.join(timeout=2.0)
            scene.close()
            watchdog.join()
            output, self.output = self.output, None
            if output is not None:
                report.underruns += output.underruns
                output.close()
            self._collect()
            self._drop_unstarted()
            report.scene_decisions = self.chooser.decisions
            sys.setswitchinterval(switch_interval)
            if realtime:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            self.finish_recording()
            self._library_hold.close()
        return report

    def _sound(self, event: ActionEvent) -> None:
        """Choose the action's sound and hand it to the mixer (or count it, without a device)."""
        self.report.impacts += 1
        n = self.report.impacts - 1
        if self.output is None:
            self.report.dropped_no_device += 1
            return
        seen_at = next((at for t, at in self._recent if t >= event.time), self._recent[-1][1])
        choice = self.chooser.choose(n, event)
        self._pending[n] = (event, choice)
        self.mixer.submit(Cue(choice.placement, seen_at, seen_at + self.settings.latency_budget_ms / 1000, tag=n))
        if self.on_cue:
            self.on_cue(n, event, choice, seen_at)

    def stop(self) -> None:
        self._stop.set()

    def _notice(self, message: str) -> None:
        if message not in self.report.notices:
            self.report.notices.append(message)
            self.say(message)

    # -- recording ----------------------------------------------------------------------------
    def start_recording(self, out: Path) -> None:
        """Keep the performance from now on (the picture and the sound played) in `out`; from any
        thread, before or while the session runs (the page's Record while live)."""
        with self._recording_lock:
            if self.recorder is not None:
                raise RuntimeError("already recording")
            self.recorder = LiveRecorder(out, self.camera.fps)
            self._recordings += (self.recorder,)
            self.mixer.sinks += (self.recorder.block,)

    def finish_recording(self) -> RecordingResult | None:
        """End the recording (None: there is none): the MP4, its timeline beside it and, with
        `options.history`, its job in the history. Blocks while the MP4 is muxed; the session
        goes on. Also kept in the report (the last one)."""
        with self._recording_lock:
            recorder, self.recorder = self.recorder, None
        if recorder is None:
            return None
        recorder.end_picture()
        if not self._stop.is_set():  # sounds cued before the stop: their outcomes are collected, and
            # the sound heard up to the picture's end (handed over a device latency ahead) is taken
            time.sleep(self.settings.latency_budget_ms / 1000 + 2 * WATCH_EVERY_S)
        with self._recording_lock:
            self.mixer.sinks = tuple(sink for sink in self.mixer.sinks if sink != recorder.block)
        job: list[str] = []

        def file_job(picture: Path, played: Path, timeline: dict) -> None:
            try:
                request = ScoreOptions.under(self.options.engine_settings, description=self.chooser.described.text,
                                             seed=self.options.seed)
                job.append(add_to_history(recorder.out, picture, played, timeline, request, recorder.duration,
                                          self.options.history))
            except Exception as exc:  # the MP4 is kept whatever the history does
                self._notice(f"the recording is not in the history: {exc}")
        try:
            path = recorder.finish(self._timeline, file_job if self.options.history else None)
        except Exception as exc:  # the session's report still stands
            path, recorder.failure = None, f"finishing the recording failed: {exc}"
        finally:
            with self._recording_lock:
                self._recordings = tuple(r for r in self._recordings if r is not recorder)
        if recorder.failure:
            self._notice(f"the recording was not kept: {recorder.failure}")
        elif recorder.frames_skipped or recorder.blocks_lost:
            self._notice(f"the recording could not be written as fast as it came: {recorder.frames_skipped} "
                         f"frame(s) skipped, {recorder.blocks_lost} sound block(s) lost")
        result = RecordingResult(path, job[0] if job else None, recorder.failure)
        self.report.recording, self.report.history_job, self.report.recording_failure = path, result.job, result.failure
        return result

    def _timeline(self, recorder: LiveRecorder) -> dict | None:
        """The timeline of the recording: each sound where it was heard, in the scored clips' format."""
        if recorder.origin is None or recorder.end is None:  # no picture, or it failed
            return None
        events = []
        duration = round(recorder.duration, 4)
        for sounded in list(self.report.sounded):  # the watchdog may add to it meanwhile
            heard = sounded.outcome.handed_at + sounded.outcome.output_latency - recorder.origin
            within = 0 <= heard and round(heard, 4) < duration and round(heard * recorder.sr) < recorder.end
            if not sounded.outcome.started or not within:  # heard outside the recording
                continue
            entry = timeline_event(sounded.n, sounded.event, sounded.template, sounded.placement,
                                   sounded.decision, f"live: decided by {sounded.decision.get('why', 'the scene')}")
            events.append(replace(entry, time=round(heard, 4)))
        height, width = self._frame_size
        timeline = Timeline(
            engine={"version": __version__, "engine_version": ENGINE_VERSION},
            clip=ClipInfo(file=recorder.out.name, duration=duration, width=width, height=height,
                          fps=round(self.camera.fps, 3), frames_analysed=recorder.frames),
            request={"mode": "live", "seed": self.options.seed, "description": self.chooser.described.text},
            library_version=self.catalog.version,
            models={"text": self.engine.text.entry.sha256, "vision": self.engine.vision.entry.sha256},
            # The live sound itself has no loudness target (a stream cannot be measured ahead: the
            # recordings' own levels under the ceiling); a swap in the history re-mixes offline, to this.
            output=OutputSpec(sample_rate=SAMPLE_RATE, channels=2, target_lufs=self.options.engine_settings.target_lufs,
                              true_peak_ceiling_dbfs=DEFAULT_CEILING_DB),
            events=events,
            ambience=AmbienceEntry(category=None, why="live mode lays no ambience bed"),
            stats=Stats(vision_inferences_run=self.chooser.visual.run,
                        vision_inferences_skipped=self.chooser.visual.skipped, decisions_reused=0,
                        events=len(events), stage_seconds={}, total_seconds=duration),
        )
        return timeline.to_json()
