"""`foley bench live`: motion-to-sound latency of live mode, against contacts whose times are known.

Rendered clips (video/synthetic.py: a ball's drop played again and again, a stick striking a
block, feet landing) are played by the file camera in real time, through a live session on the
configured audio output (the seam where no sound card exists). A contact at clip time c is
visible first in frame ⌈c·fps⌉; its capture time is what the camera loop stamped on that frame.
A sound counts for the contact when the event it was started for lies within MATCH_S of c; its
latency is the time its first sample was handed to the device, plus the device's reported output
latency (and the sample's place in its block), minus that capture time. Contacts without such a
sound are missed, sounds without a contact extra. Separately, the latency of every sound from the
frame the event model placed its contact in (what `foley live` reports) measures the live path
whatever the model's accuracy.
"""
from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from appliance.capture.cameras import FileCamera
from appliance.config import LiveConfig
from appliance.engine.pipeline import Engine
from appliance.live.session import LiveOptions, LiveSession
from appliance.video.synthetic import SyntheticClip, render_scene, write_video

MATCH_S = 0.1
"""An event within this of a contact is its sound (the onset evaluation's tolerance)."""
SCENES = ("drops", "stick", "steps")
DROPS_SHARE = 3.5
"""The drops scene runs this many times `seconds`: one known contact the model finds every 2 s,
so 60 s per scene gives ~105 of them."""
SIZE = (640, 360)
FPS = 30.0
DROP_SECONDS = 2.0
"""Each drop of the `drops` scene: a ball falls and makes its first, large bounce (~1.2 s in)."""


def render_drops(path: Path, seconds: float, seed: int) -> SyntheticClip:
    """A ball dropped and bouncing, DROP_SECONDS long, played again and again (the cut back to the
    top is small, so the analysis' 2 s motion scale is the drop's own): the bounce scene's large
    first bounces, the contacts the event model finds best on rendered footage."""
    drop = render_scene("bounce", path.with_name("drop.mp4"), width=SIZE[0], height=SIZE[1], fps=FPS,
                        seconds=DROP_SECONDS, seed=seed)
    with av.open(str(drop.path)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    repeats = max(1, round(seconds / DROP_SECONDS))
    write_video(path, (frame for _ in range(repeats) for frame in frames), FPS)
    length = len(frames) / FPS
    return SyntheticClip(path=path, fps=FPS, duration=repeats * length,
                         impacts=[k * length + t for k in range(repeats) for t in drop.impacts])


def render_bench_scene(scene: str, seconds: float, folder: Path, seed: int) -> SyntheticClip:
    """One of SCENES at the benchmark's size and rate (the drops DROPS_SHARE times `seconds`);
    the board path plays each on its own, the page path (bench/live_page.py) all in one file."""
    if scene == "drops":
        return render_drops(folder / "drops.mp4", DROPS_SHARE * seconds, seed)
    return render_scene(scene, folder / f"{scene}.mp4", width=SIZE[0], height=SIZE[1], fps=FPS,
                        seconds=seconds, seed=seed)


def scene_seed(k: int) -> int:
    """The seed of the k-th scene (both paths play the same pictures)."""
    return 11 + 100 * k


def percentiles(seconds: list[float]) -> dict | None:
    if not seconds:
        return None
    ms = np.array(seconds) * 1000
    return {"count": len(ms), "p50": round(float(np.percentile(ms, 50)), 1),
            "p95": round(float(np.percentile(ms, 95)), 1), "max": round(float(ms.max()), 1)}


def bench_scene(scene: str, seconds: float, settings: LiveConfig, folder: Path, seed: int, engine: Engine) -> dict:
    clip = render_bench_scene(scene, seconds, folder, seed)
    captured: dict[int, float] = {}
    session = LiveSession(FileCamera(clip.path), settings,
                          LiveOptions(description=None, duration=clip.duration + 0.5, keep_sounded=True), engine=engine,
                          on_frame=lambda index, at: captured.setdefault(index, at), say=lambda message: None)
    report = session.run()
    frames_per_loop = round(clip.duration * clip.fps)
    sounded = [s for s in report.sounded if s.outcome.started and s.event.frame_index < frames_per_loop]
    # An event's clip time: its frame's clip time plus its offset from that frame (session times are
    # capture times, which follow the file's timestamps up to the clock's jitter).
    event_times = [s.event.frame_index / clip.fps + (s.event.time - _session_time(s.event.frame_index, captured))
                   for s in sounded]
    used, matched = set(), []
    for contact in clip.impacts:
        visible = math.ceil(contact * clip.fps - 1e-6)
        if visible not in captured:
            continue
        candidates = [(abs(t - contact), i) for i, t in enumerate(event_times) if i not in used and abs(t - contact) <= MATCH_S]
        if not candidates:
            matched.append(None)
            continue
        _, i = min(candidates)
        used.add(i)
        outcome = sounded[i].outcome
        matched.append(outcome.handed_at + outcome.output_latency - captured[visible])
    return {"scene": scene, "contacts": len(matched), "matched": [m for m in matched if m is not None],
            "missed": sum(m is None for m in matched), "extra": len(sounded) - len(used),
            "all": [s.outcome.latency for s in sounded], "report": report.summary()}


def _session_time(index: int, captured: dict[int, float]) -> float:
    return captured[index] - captured[0]


def bench_live(seconds: float, settings: LiveConfig) -> dict:
    started = time.perf_counter()
    results = []
    engine = Engine()
    with tempfile.TemporaryDirectory(prefix="foley-bench-live-") as folder:
        for k, scene in enumerate(SCENES):
            results.append(bench_scene(scene, seconds, settings, Path(folder), scene_seed(k), engine))
    matched = [m for r in results for m in r["matched"]]
    every = [m for r in results for m in r["all"]]
    reports = [r["report"] for r in results]
    return {
        "output": reports[0]["output"], "period": settings.period, "periods": settings.periods, "fps": 30,
        "contacts": sum(r["contacts"] for r in results), "sounded_for_a_contact": len(matched),
        "missed": sum(r["missed"] for r in results), "extra": sum(r["extra"] for r in results),
        "latency_from_contact_ms": percentiles(matched),
        "latency_from_placed_frame_ms": percentiles(every),
        "dropped_late": sum(r["dropped_late"] for r in reports),
        "underruns": sum(r["underruns"] for r in reports),
        "frames_dropped": sum(r["frames_dropped"] for r in reports),
        "analysis_ms_per_frame": [r["analysis_ms_per_frame"] for r in reports],
        "cpu_percent_of_a_core": [r["cpu_percent_of_a_core"] for r in reports],
        "scenes": [{k: r[k] for k in ("scene", "contacts", "missed", "extra")} for r in results],
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def print_latencies(report: dict, what: str) -> None:
    """The contacts found and the two motion-to-sound figures (board path and page path alike)."""
    print(f"contacts {report['contacts']}: sounded {report['sounded_for_a_contact']}, missed {report['missed']}, "
          f"extra sounds {report['extra']}")
    for key, label in (("latency_from_contact_ms", "from the frame showing a known contact"),
                       ("latency_from_placed_frame_ms", "from the frame the event model placed it in")):
        figures = report[key]
        if figures:
            print(f"{what} {label}: p50 {figures['p50']} ms, p95 {figures['p95']} ms, "
                  f"max {figures['max']} ms (n={figures['count']})")


def print_live_report(report: dict) -> None:
    print(f"output: {report['output']}, {report['period']} frames × {report['periods']} at 48 kHz, {report['fps']} fps")
    print_latencies(report, "motion to sound")
    print(f"dropped as late {report['dropped_late']}, underruns {report['underruns']}, "
          f"frames dropped {report['frames_dropped']}; {report['wall_seconds']} s")
    print("per scene: analysis per frame " + ", ".join(f"p50 {a['p50']} / p95 {a['p95']} ms"
                                                       for a in report["analysis_ms_per_frame"] if a)
          + "; CPU " + ", ".join(f"{c} %" for c in report["cpu_percent_of_a_core"]) + " of a core")
