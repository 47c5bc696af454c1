"""`foley bench live --page`: motion-to-sound latency of the page path, in a real headless Chromium.

The pieces are the real ones, each in its own process as on the appliance: `foley capture` with
the file camera playing one performance (LEAD_S of black, then the board path's three rendered
scenes with their known contacts, bench/live.py), `foley serve` whose live session reads the
daemon's frames, and Debian's Chromium with the page: its Live switch is clicked, the page plays
each action's sound in WebAudio and keeps its timings in `window.foleyLive.played`.

Times, all brought to the machine's monotonic clock (CLOCK_MONOTONIC, which the daemon stamps its
frames with and the service its messages with):
- the frame: the daemon's capture stamp. During the lead this process watches the daemon's newest
  frame as the live session does (`preview` on the control socket, every POLL_S): the first frame
  that is not black is the performance's frame `lead` (the one before it must be one frame's time
  earlier, else a frame was missed and the run is refused). The file camera hands out frame i at
  that origin + i/fps, so that is the capture time of a known contact's first visible frame. During
  the scenes the daemon is only sampled every SAMPLE_S (polling it at the session's pace would
  load the process whose frames are measured); the sampled stamps' distance from that estimate
  is reported (`frame_time_error_ms`);
- the page: `performance.timeOrigin + performance.now()` (milliseconds, the browser's own clock).
  Its offset from the monotonic clock is measured by asking the page for that value between two
  readings of the monotonic clock, the quickest of SYNC_SAMPLES round trips: the offset lies
  within half that round trip (the error bound reported), once before the performance and once
  after (their difference is the drift);
- a sound on the page is heard at `source.start()` + the context's `baseLatency + outputLatency`.
"""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from appliance.bench.chromium import missing, open_chromium
from appliance.bench.live import FPS, MATCH_S, SCENES, SIZE, percentiles, print_latencies, render_bench_scene, scene_seed
from appliance.bench.serve import free_port, start_server
from appliance.capture.control import DaemonUnavailable, call
from appliance.config import LiveConfig
from appliance.video.synthetic import write_video

LEAD_S = 30.0
"""Black before the scenes: the page is opened and live mode switched on meanwhile (the service
loads its models), so the first contact finds it listening."""
DARK = 12
"""A frame whose mean level is under this is the lead's black."""
SYNC_SAMPLES = 20
POLL_S = 0.003
SAMPLE_S = 0.25
START_TIMEOUT_S = 120


@dataclass(frozen=True)
class Performance:
    """One file for the file camera: the lead, then each scene."""

    path: Path
    lead_frames: int
    frames: int
    contacts: list[float]
    """Known contacts, seconds from the file's start."""
    scenes: list[tuple[str, float, float]]
    """Each scene's name, start and end (seconds from the file's start)."""


def render_performance(folder: Path, seconds: float, lead_seconds: float) -> Performance:
    """The board path's scenes (`seconds` each, the drops DROPS_SHARE times that) after the lead."""
    clips = [render_bench_scene(scene, seconds, folder, scene_seed(k)) for k, scene in enumerate(SCENES)]
    lead = round(lead_seconds * FPS)
    counts: list[int] = []

    def frames():
        black = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
        for _ in range(lead):
            yield black
        for clip in clips:
            counts.append(0)
            with av.open(str(clip.path)) as container:
                for frame in container.decode(video=0):
                    counts[-1] += 1
                    yield frame.to_ndarray(format="bgr24")

    path = write_video(folder / "performance.mp4", frames(), FPS)
    contacts, scenes, start = [], [], lead
    for scene, clip, count in zip(SCENES, clips, counts):
        contacts += [start / FPS + c for c in clip.impacts if c < count / FPS]
        scenes.append((scene, start / FPS, (start + count) / FPS))
        start += count
    return Performance(path, lead, start, contacts, scenes)


class FrameClock:
    """The capture stamps of the daemon's frames, read as the live session reads them."""

    def __init__(self, socket: Path):
        self.socket = socket
        self.stamps: list[float] = []
        self.first_seen: float | None = None
        """Stamp of the first frame after the lead (None until it is seen)."""
        self.gap_before_first = math.inf
        """Seconds from the last black frame seen to it (one frame's time: none was missed)."""

    def poll(self) -> None:
        """Record the newest frame if it is new (called every POLL_S)."""
        try:
            reply, jpeg = call("preview", self.socket)
        except DaemonUnavailable:
            return
        if not reply.get("ok") or (self.stamps and reply["time"] == self.stamps[-1]):
            return
        self.stamps.append(reply["time"])
        if self.first_seen is None:
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
            if image is not None and image.mean() > DARK:
                self.first_seen = reply["time"]
                self.gap_before_first = reply["time"] - self.stamps[-2] if len(self.stamps) > 1 else math.inf

    def poll_until(self, condition, timeout: float, every: float = POLL_S) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if condition():
                return True
            time.sleep(every)
        return False


def browser_offset(driver) -> tuple[float, float]:
    """(page clock − monotonic clock, error bound), seconds: the quickest of SYNC_SAMPLES readings."""
    best = (0.0, math.inf)
    for _ in range(SYNC_SAMPLES):
        before = time.monotonic()
        page_ms = driver.execute_script("return performance.timeOrigin + performance.now()")
        after = time.monotonic()
        if (after - before) / 2 < best[1]:
            best = (page_ms / 1000 - (before + after) / 2, (after - before) / 2)
    return best


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _start_capture(config: Path, env: dict, log: Path, socket: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "appliance.cli", "capture", "--config", str(config)],
                                   env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if call("status", socket)[0].get("camera", {}).get("ok"):
                return process
        except DaemonUnavailable:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"foley capture did not come up: {log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def bench_page(seconds: float, settings: LiveConfig, lead_seconds: float = LEAD_S) -> dict:
    """Play the performance through the daemon into the service's live session and the page;
    the page path's figures (see the module's doc)."""
    reason = missing()
    if reason:
        return {"skipped": f"the page path {reason}"}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="foley-bench-page-") as scratch:
        folder = Path(scratch)
        show = render_performance(folder, seconds, lead_seconds)
        (folder / "state").mkdir()
        runtime = folder / "run"
        runtime.mkdir(mode=0o700)
        socket = runtime / "capture.sock"
        port = free_port()
        config = folder / "config.yaml"  # JSON is YAML
        config.write_text(json.dumps({
            "service": {"port": port},
            "capture": {"camera": f"file:{show.path}", "preroll_seconds": 1.0, "min_free_mb": 1},
            "live": asdict(settings)}))
        env = {**os.environ, "FOLEY_STATE_DIR": str(folder / "state"), "FOLEY_RUNTIME_DIR": str(runtime)}
        server, url = start_server(folder / "state", ("--config", str(config)), env, port)
        capture = driver = None
        try:
            driver = open_chromium(folder / "chromium-profile", folder / "chromedriver.log")  # before the lead starts
            capture = _start_capture(config, env, folder / "capture.log", socket)
            clock = FrameClock(socket)
            driver.get(url + "/")
            switch = _wait(lambda: (s := driver.find_element("id", "live-switch")).is_displayed() and s, 60,
                           "the page's Live switch", clock)
            switch.click()
            _wait(lambda: _get(f"{url}/api/v1/live")["state"] == "on", START_TIMEOUT_S, "live mode to come on", clock)
            if clock.first_seen is not None:
                raise RuntimeError(f"live mode came on after the scenes had begun: give a longer lead than {lead_seconds:g} s")
            offset_before = browser_offset(driver)
            clock.poll_until(lambda: clock.first_seen is not None, lead_seconds + 30)
            if clock.gap_before_first > 1.5 / FPS:
                raise RuntimeError("the first frame of the scenes was not seen when it was newest (a busy machine): run again")
            end = clock.first_seen + (show.frames - show.lead_frames) / FPS + 1.0
            clock.poll_until(lambda: time.monotonic() > end, end - time.monotonic() + 5, SAMPLE_S)
            offset_after = browser_offset(driver)
            page = driver.execute_script("return {origin: performance.timeOrigin, played: window.foleyLive.played,"
                                         " missed: window.foleyLive.missed, late: window.foleyLive.late}")
            switch.click()
            state = _wait(lambda: (s := _get(f"{url}/api/v1/live"))["state"] == "off" and s["last_session"] and s,
                          60, "live mode to stop")
        finally:
            if driver is not None:
                driver.quit()
            if capture is not None:
                _stop(capture)
            _stop(server)
    report = page_figures(show, clock, page, offset_before, offset_after)
    report.update(server_report=state["last_session"], lead_seconds=lead_seconds,
                  wall_seconds=round(time.perf_counter() - started, 1))
    return report


def _wait(condition, timeout: float, what: str, clock: FrameClock | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if clock is not None:
            clock.poll_until(lambda: False, 0.1)
        else:
            time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def page_figures(show: Performance, clock: FrameClock, page: dict, offset_before: tuple[float, float],
                 offset_after: tuple[float, float]) -> dict:
    """The page's played sounds against the frames and the known contacts (module doc)."""
    offset = (offset_before[0] + offset_after[0]) / 2
    mono = lambda page_ms: (page["origin"] + page_ms) / 1000 - offset  # noqa: E731
    zero = clock.first_seen - show.lead_frames / FPS  # the capture time of the file's time 0
    frame_error = [at - (zero + round((at - zero) * FPS) / FPS) for at in clock.stamps if at > clock.first_seen]
    played = [p for p in page["played"] if p["captured_at"] >= clock.first_seen - 0.5]
    heard = [mono(p["started"]) + p["device_ms"] / 1000 for p in played]
    parts = {
        "frame_to_event_sent": [p["sent_at"] - p["captured_at"] for p in played],
        "transit": [mono(p["received"]) - p["sent_at"] for p in played],
        "message_to_start": [(p["started"] - p["received"]) / 1000 for p in played],
        "output_latency": [p["device_ms"] / 1000 for p in played],
    }
    event_times = [p["captured_at"] - zero for p in played]
    used, matched, per_scene = set(), [], []
    for name, begin, finish in show.scenes:
        missed = 0
        for contact in (c for c in show.contacts if begin <= c < finish):
            seen_at = zero + math.ceil(contact * FPS - 1e-6) / FPS  # its first visible frame's capture
            candidates = [(abs(t - contact), i) for i, t in enumerate(event_times)
                          if i not in used and abs(t - contact) <= MATCH_S]
            if not candidates:
                missed += 1
                continue
            i = min(candidates)[1]
            used.add(i)
            matched.append(heard[i] - seen_at)
        inside = [i for i, t in enumerate(event_times) if begin <= t < finish]
        per_scene.append({"scene": name, "contacts": sum(begin <= c < finish for c in show.contacts),
                          "missed": missed, "extra": sum(i not in used for i in inside)})
    return {
        "events_played": len(played), "not_preloaded": page["missed"], "skipped_late": page["late"],
        "latency_from_placed_frame_ms": percentiles([h - p["captured_at"] for h, p in zip(heard, played)]),
        "latency_from_contact_ms": percentiles(matched),
        "parts_ms": {name: percentiles(values) for name, values in parts.items()},
        "transit_by_wall_clocks_ms": percentiles([p["transit_ms"] / 1000 for p in played]),
        "contacts": sum(s["contacts"] for s in per_scene), "sounded_for_a_contact": len(matched),
        "missed": sum(s["missed"] for s in per_scene), "extra": len(played) - len(used), "scenes": per_scene,
        "frame_time_error_ms": percentiles([abs(e) for e in frame_error]),
        "clock": {"offset_error_bound_ms": round(1000 * max(offset_before[1], offset_after[1]), 2),
                  "drift_ms": round(1000 * (offset_after[0] - offset_before[0]), 2)},
    }


def print_page_report(report: dict) -> None:
    if "skipped" in report:
        print(f"page path: skipped — {report['skipped']}")
        return
    print(f"page path (headless Chromium, WebAudio; lead {report['lead_seconds']:g} s): {report['events_played']} "
          f"sounds started on the page ({report['not_preloaded']} not preloaded, {report['skipped_late']} "
          f"skipped as sent later than the budget), the service sounded "
          f"{report['server_report']['sounded']} of {report['server_report']['impacts']} actions")
    print_latencies(report, "motion to sound on the page")
    for name, figures in report["parts_ms"].items():
        if figures:
            print(f"  {name.replace('_', ' '):22} p50 {figures['p50']} ms, p95 {figures['p95']} ms, max {figures['max']} ms")
    clock, frames = report["clock"], report["frame_time_error_ms"] or {"p50": "?", "max": "?", "count": 0}
    print(f"page clock → monotonic: offset known within ±{clock['offset_error_bound_ms']} ms, drift "
          f"{clock['drift_ms']} ms over the run; frame capture times from the frame rate: off by p50 "
          f"{frames['p50']} / max {frames['max']} ms ({frames['count']} sampled); {report['wall_seconds']} s")
