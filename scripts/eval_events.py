#!/usr/bin/env python3
"""Onset scores of motion events alone: a short transient at every detected impact, vs the clip's sound.

Usage: .venv/bin/python scripts/eval_events.py DIR [--json] [--wav-dir OUT]
For every video in DIR: decode, detect events (appliance.motion), render a short noise-burst
transient at each impact with the mixer, and compare with the clip's original audio track
(onset accuracy, precision, F1, AP, AV-Align). This measures timing only — no sound library —
with the bundled event model as it is: on clips it was fitted on, that says nothing about unseen
ones (use `foley eval DIR... --folds 5` for that).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from appliance.evaluation import evaluate_clip, flow_peaks, summarise
from appliance.evaluation.baselines import click
from appliance.mixing import SAMPLE_RATE, Placement, render_track, write_wav_atomic
from appliance.motion import SUSTAINED, detect_events
from appliance.video import iter_frames, probe, read_audio

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi"}


def evaluate_file(path: Path, wav_dir: Path | None) -> dict:
    info = probe(path)
    events, trace = detect_events(iter_frames(path))
    impacts = [e for e in events if e.kind != SUSTAINED]
    sound = click()
    placements = [Placement(sound, 0.001, e.time, gain=0.3 + 0.7 * e.strength, pan=2 * e.x - 1) for e in impacts]
    duration = info.duration or (trace.times[-1] if trace.times else 0.0)
    track = render_track(placements, duration)
    if wav_dir:
        write_wav_atomic(wav_dir / f"{path.stem}.wav", track, SAMPLE_RATE)
    reference = read_audio(path, SAMPLE_RATE)
    scores = evaluate_clip(reference, SAMPLE_RATE, track, SAMPLE_RATE,
                           video_peaks=flow_peaks(trace.times, trace.flow), frame_period=1 / info.fps)
    return {"clip": path.name, "events": len(impacts),
            "sustained": len(events) - len(impacts), **scores}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--wav-dir", type=Path)
    args = parser.parse_args()
    clips = sorted(p for p in args.dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        print(f"no videos in {args.dir}", file=sys.stderr)
        return 2
    rows = [evaluate_file(p, args.wav_dir) for p in clips]
    overall = summarise(rows)
    matched, reference, generated = overall["matched"], overall["reference_onsets"], overall["generated_onsets"]
    accuracy, precision = overall["accuracy"], overall["precision"]
    if args.json:
        print(json.dumps({"clips": rows, "overall": overall}, indent=2))
        return 0
    print("| clip | ref onsets | gen onsets | matched | accuracy | precision | F1 | AP | AV-Align |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clip']} | {r['reference_onsets']} | {r['generated_onsets']} | {r['matched']} | "
              f"{r['accuracy']:.2f} | {r['precision']:.2f} | {r['f1']:.2f} | {r['ap']:.2f} | {r['av_align']:.2f} |")
    print(f"| overall (pooled; mean F1 {overall['mean_f1']:.2f}) | {reference} | {generated} | {matched} | "
          f"{accuracy:.2f} | {precision:.2f} | {overall['f1']:.2f} | {overall['mean_ap']:.2f} | "
          f"{overall['mean_av_align']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
