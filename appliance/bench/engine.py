"""`foley bench [CLIP]`: the whole engine on one clip, against the bare decode of that clip.

Each configuration runs in a fresh child process (spawned), so its peak RSS is its own and its
cache starts cold: INT8 with the cache (cold, then an identical re-score served from the result
cache, then a near-duplicate re-encode of the same pictures), INT8 without the cache, and FP32
without the cache when the FP32 files exist (`scripts/export_models.py --keep-fp32`).
The default clip is generated: 10 s of 1280×720 30 fps H.264 with repeated actions (footsteps);
`--seconds 300` generates a 5-minute one (a minute or two, once) to check that memory stays flat.

A shared or throttled machine moves one cold run by ±30 % from minute to minute, so `--rounds N`
repeats the whole set N times, round-robin (the bare decode timed anew in each round, each
configuration's ratio taken against its own round's), and reports the median round of each
configuration with the spread of its ratio.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path
from queue import Empty

from appliance.cli_progress import counted
from appliance.errors import UsageError
from appliance.paths import state_dir

CONFIGURATIONS = (
    ("int8 + cache", "int8", True),
    ("int8, cache off", "int8", False),
    ("fp32, cache off", "fp32", False),
)
BENCH_DESCRIPTION = "footsteps on a wooden floor"


def default_clip(seconds: float = 10.0) -> Path:
    """The generated benchmark clip, rendered once into the state directory."""
    from appliance.video.synthetic import render_scene

    folder = state_dir() / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / f"steps-720p30-{seconds:g}s.mp4"
    if not clip.is_file():
        render_scene("steps", clip, width=1280, height=720, fps=30, seconds=seconds, seed=11)
    return clip


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_configuration(clip: str, variant: str, use_cache: bool, near_duplicate: str | None, threads: int,
                       queue) -> None:
    """Child process body: load, score cold, then (with cache) re-score identical and near-duplicate;
    the clip decoded on `threads` threads, as the bare decode it is compared with."""
    from appliance.engine.cache import Cache
    from appliance.engine.options import ScoreOptions
    from appliance.engine.pipeline import Engine

    figures = {"rss_before_mb": _peak_rss_mb()}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        started = time.perf_counter()
        engine = Engine(Cache(scratch / "cache") if use_cache else None, threads=threads, variant=variant)
        figures["decode_threads"] = engine.threads
        engine.prepare()  # as the service does at startup (service/queue.py): not a request's time
        figures["load_s"] = time.perf_counter() - started
        options = ScoreOptions(description=BENCH_DESCRIPTION)
        started = time.perf_counter()
        timeline = engine.score_to_files(Path(clip), options, wav=scratch / "cold.wav")
        figures["cold_s"] = time.perf_counter() - started
        figures["stages_s"] = timeline.stats.stage_seconds
        figures["events"] = len(timeline.events)
        figures["vision_run"] = timeline.stats.vision_inferences_run
        figures["vision_skipped"] = timeline.stats.vision_inferences_skipped
        if use_cache:
            started = time.perf_counter()
            hit = engine.score_to_files(Path(clip), options, wav=scratch / "hit.wav")
            figures["hit_s"] = time.perf_counter() - started
            figures["hit_result_cache"] = hit.stats.result_cache
            if near_duplicate:
                started = time.perf_counter()
                again = engine.score_to_files(Path(near_duplicate), options, wav=scratch / "near.wav")
                figures["near_duplicate_s"] = time.perf_counter() - started
                figures["near_duplicate_vision_run"] = again.stats.vision_inferences_run
                figures["near_duplicate_vision_skipped"] = again.stats.vision_inferences_skipped
                figures["near_duplicate_decisions_reused"] = again.stats.decisions_reused
    figures["peak_rss_mb"] = _peak_rss_mb()
    queue.put(figures)


def _configuration_child(clip: str, variant: str, use_cache: bool, near_duplicate: str | None, threads: int,
                         queue) -> None:
    """Child process entry: the figures, or the reason there are none (a clip the engine refuses)."""
    try:
        _run_configuration(clip, variant, use_cache, near_duplicate, threads, queue)
    except Exception as exc:  # told to the parent, which would otherwise wait for figures
        queue.put({"error": f"{type(exc).__name__}: {exc}" if not isinstance(exc, UsageError) else str(exc)})


def _run_child(context, clip: Path, variant: str, use_cache: bool, near: Path, threads: int) -> dict:
    """One configuration in a fresh spawned process: its own peak RSS, a cold cache. A child that
    fails says why (UsageError here); one that dies without a word (killed, out of memory) is
    noticed within a second instead of after the hour a long clip may take."""
    queue = context.Queue()
    child = context.Process(target=_configuration_child,
                            args=(str(clip), variant, use_cache, str(near) if use_cache else None, threads, queue))
    child.start()
    while True:
        try:
            figures = queue.get(timeout=1.0)
            break
        except Empty:
            if not child.is_alive() and queue.empty():
                raise UsageError(f"the {variant} engine run on {clip} ended without figures "
                                 f"(exit code {child.exitcode})") from None
    child.join()
    if "error" in figures:
        raise UsageError(f"the {variant} engine run on {clip} failed: {figures['error']}")
    return figures


def _median_round(runs: list[dict]) -> dict:
    """The run with the median ratio (the lower middle one of an even count), with every run's ratio."""
    ordered = sorted(runs, key=lambda run: run["ratio_to_bare_decode"])
    return {**ordered[(len(ordered) - 1) // 2], "round_ratios": [run["ratio_to_bare_decode"] for run in runs]}


def bench_engine(clip: Path | None, threads: int, seconds: float = 10.0, rounds: int = 1) -> dict:
    from appliance.inference.manifest import load_manifest
    from appliance.video import bare_decode_seconds, probe
    from appliance.video.synthetic import reencode

    clip = Path(clip) if clip else default_clip(seconds)
    info = probe(clip)
    bare_decode_seconds(clip, threads)  # a damaged clip is said before anything is made of it
    # the near-duplicate re-encode of this very file (another clip of the same name, or this one
    # edited, was timed on an earlier file's re-encode)
    stat = clip.stat()
    identity = hashlib.sha256(f"{clip.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    near = state_dir() / "bench" / f"{clip.stem}-{identity}-reencoded.mkv"
    if not near.is_file():
        near.parent.mkdir(parents=True, exist_ok=True)
        reencode(clip, near)
    fp32_present = all(e.fp32_path().is_file() for e in load_manifest().values())
    context = multiprocessing.get_context("spawn")
    configurations = [c for c in CONFIGURATIONS if c[1] != "fp32" or fp32_present]
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in configurations}
    bare_times = []
    for _ in counted(range(rounds), "timing the engine"):
        bare_s, frames = min(bare_decode_seconds(clip, threads) for _ in range(3))
        bare_times.append(bare_s)
        for label, variant, use_cache in configurations:
            figures = _run_child(context, clip, variant, use_cache, near, threads)
            runs[label].append({**figures, "bare_decode_s": bare_s, "ratio_to_bare_decode": figures["cold_s"] / bare_s})
    rows = [{"configuration": label, **_median_round(runs[label])} for label, _, _ in configurations]
    return {"clip": str(clip), "duration_s": info.duration, "size": f"{info.width}x{info.height}",
            "fps": info.fps, "frames": frames, "threads": threads, "rounds": rounds,
            "bare_decode_rounds_s": bare_times,
            "fp32_present": fp32_present, "rows": rows}


def print_report(report: dict) -> None:
    print(f"clip: {report['clip']} ({report['size']}, {report['fps']:.2f} fps, {report['duration_s']:.1f} s, "
          f"{report['frames']} frames), decode threads {report['threads']}")
    rounds = report["rounds"]
    bare = ", ".join(f"{b:.3f}" for b in report["bare_decode_rounds_s"])
    print(f"bare decode (same decoder and threads, best of 3 in each of {rounds} round(s)): {bare} s")
    for row in report["rows"]:
        print(f"\n[{row['configuration']}]" + (f" median of {rounds} rounds" if rounds > 1 else ""))
        print(f"  model load, prepare  {row['load_s']:.3f} s (the service's startup, not part of end-to-end)")
        spread = ""
        if rounds > 1:
            ratios = row["round_ratios"]
            spread = f" (rounds {min(ratios):.2f}–{max(ratios):.2f}×)"
        print(f"  cold end-to-end      {row['cold_s']:.3f} s = {row['ratio_to_bare_decode']:.2f}× bare decode "
              f"({row['bare_decode_s']:.3f} s){spread}")
        stages = ", ".join(f"{k} {v:.3f}" for k, v in row["stages_s"].items())
        print(f"  stages (s)           {stages}")
        print(f"  events               {row['events']}; vision run {row['vision_run']}, skipped {row['vision_skipped']}")
        if "hit_s" in row:
            print(f"  identical re-score   {row['hit_s'] * 1000:.1f} ms (result cache {row['hit_result_cache']})")
        if "near_duplicate_s" in row:
            print(f"  near-duplicate clip  {row['near_duplicate_s']:.3f} s; vision run {row['near_duplicate_vision_run']}, "
                  f"skipped {row['near_duplicate_vision_skipped']}, decisions reused {row['near_duplicate_decisions_reused']}")
        print(f"  peak RSS             {row['peak_rss_mb']:.0f} MB")
