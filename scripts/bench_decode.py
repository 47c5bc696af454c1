#!/usr/bin/env python3
"""Decode benchmark: PyAV vs OpenCV VideoCapture, 10 s 1280×720 30 fps H.264 to analysis frames.

Usage: .venv/bin/python scripts/bench_decode.py [CLIP] [--repeat N] [--threads T]
Without CLIP a synthetic clip (stick hits) is rendered to a temporary folder. Both decoders run
interleaved N times and the best time of each is printed (the machine is shared: ratios from one
run are what to compare).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2

from appliance.video import bare_decode_seconds, iter_frames
from appliance.video.synthetic import render_scene

WIDTH = 256


def pyav_analysis(path: Path, threads: int, colour: bool) -> int:
    return sum(1 for _ in iter_frames(path, WIDTH, threads=threads, colour=colour))


def opencv_capture(path: Path, threads: int, small: bool) -> int:
    """OpenCV's way: full-size BGR frames, then resize + grey (or nothing, for its bare decode)."""
    cv2.setNumThreads(threads)
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, threads])
    count = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if small:
            height = round(bgr.shape[0] * WIDTH / bgr.shape[1])
            cv2.cvtColor(cv2.resize(bgr, (WIDTH, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
            cap.get(cv2.CAP_PROP_POS_MSEC)
        count += 1
    cap.release()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", nargs="?")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.clip) if args.clip else render_scene(
            "stick", Path(tmp) / "bench.mp4", width=1280, height=720, fps=30, seconds=10).path
        runs = {
            "PyAV bare decode (no conversion)": lambda: bare_decode_seconds(path, args.threads)[1],
            f"PyAV → grey {WIDTH} px (Y plane, cv2 area)": lambda: pyav_analysis(path, args.threads, False),
            f"PyAV → BGR+grey {WIDTH} px (I420 planes, cv2)": lambda: pyav_analysis(path, args.threads, True),
            "OpenCV bare read (full-size BGR)": lambda: opencv_capture(path, args.threads, False),
            f"OpenCV read → resize + grey {WIDTH} px": lambda: opencv_capture(path, args.threads, True),
        }
        best = {name: float("inf") for name in runs}
        frames = {}
        for _ in range(args.repeat):
            for name, run in runs.items():
                start = time.perf_counter()
                frames[name] = run()
                best[name] = min(best[name], time.perf_counter() - start)
        print(f"clip: {path.name if args.clip else '10 s 1280×720 30 fps H.264 (synthetic)'}, "
              f"threads={args.threads}, best of {args.repeat}")
        print("| decoder | frames | seconds |\n|---|---|---|")
        for name in runs:
            print(f"| {name} | {frames[name]} | {best[name]:.3f} |")


if __name__ == "__main__":
    main()
