#!/usr/bin/env python3
"""Motion events on rendered clips with known action times: timing error and false events.

Usage: .venv/bin/python scripts/eval_synthetic.py [--fps 30] [--seconds 4]
Prints, per scene and camera condition (shake px, flicker ±), the true impacts, the impacts
found within 0.1 s, the median / worst timing error in frames, and the false events.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from appliance.motion import SUSTAINED, detect_events
from appliance.video import iter_frames
from appliance.video.synthetic import render_scene

CONDITIONS = [(0.0, 0.0), (2.0, 0.0), (0.0, 0.3), (2.0, 0.3)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    print("| scene | shake px | flicker | true | found ≤0.1 s | median err (frames) | worst err | false events |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for scene in ("stick", "bounce", "steps", "slide", "still"):
            for shake, flicker in CONDITIONS:
                clip = render_scene(scene, Path(tmp) / f"{scene}.mp4", fps=args.fps, seconds=args.seconds,
                                    shake=shake, flicker=flicker, seed=1)
                events, _ = detect_events(iter_frames(clip.path))
                times = np.array([e.time for e in events if e.kind != SUSTAINED])
                errors = np.array([np.abs(times - t).min() if len(times) else np.inf for t in clip.impacts])
                hit = errors <= 0.1
                false = sum(1 for t in times if not clip.impacts or np.abs(np.array(clip.impacts) - t).min() > 0.1)
                median = f"{np.median(errors[hit]) * clip.fps:.2f}" if hit.any() else "–"
                worst = f"{errors[hit].max() * clip.fps:.2f}" if hit.any() else "–"
                print(f"| {scene} | {shake:g} | {flicker:g} | {len(clip.impacts)} | {int(hit.sum())} | {median} | "
                      f"{worst} | {false} |")


if __name__ == "__main__":
    main()
