"""`foley score VIDEO [--description TEXT] --out OUT.wav [--mp4 OUT.mp4] [--timeline OUT.json] [--seed N]`.

Exit code 0 on success, 2 on bad input with a one-line reason on stderr, and no output file
left behind on failure (the engine writes all or nothing).
"""
from __future__ import annotations

import sys
from pathlib import Path

from appliance.engine.cache_cli import open_cache
from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import Engine
from appliance.video import probe


def handle(args) -> int:
    options = ScoreOptions(description=args.description, seed=args.seed, target_lufs=args.lufs,
                           ambience=not args.no_ambience, max_seconds=args.max_seconds)
    probe(Path(args.video), max_seconds=options.max_seconds)  # fail fast, before loading models
    cache = None if args.no_cache else open_cache()
    engine = Engine(cache)
    timeline = engine.score_to_files(Path(args.video), options, wav=Path(args.out),
                                     mp4=args.mp4 and Path(args.mp4), timeline=args.timeline and Path(args.timeline))
    stats = timeline.stats
    print(f"{len(timeline.events)} sounds placed in {timeline.clip.duration:.2f} s of video; "
          f"vision run {stats.vision_inferences_run}, skipped {stats.vision_inferences_skipped}; "
          f"result cache {stats.result_cache}; wrote {args.out}", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("score", help="add a synchronized Foley track to a video")
    parser.add_argument("video", help="the clip (mp4, mov, mkv, webm, avi); its own audio is ignored")
    parser.add_argument("--description", "-d", help='what happens, e.g. "footsteps on gravel"')
    parser.add_argument("--out", "-o", required=True, help="the WAV to write (48 kHz stereo)")
    parser.add_argument("--mp4", help="also write the video with the new track (video stream copied)")
    parser.add_argument("--timeline", help="also write the timeline JSON (what was placed where, and why)")
    parser.add_argument("--seed", type=int, default=0, help="variation seed: same seed, same output")
    parser.add_argument("--lufs", type=float, default=ScoreOptions.target_lufs, help="target loudness")
    parser.add_argument("--no-ambience", action="store_true", help="never lay an ambience bed")
    parser.add_argument("--max-seconds", type=float, default=ScoreOptions.max_seconds, help="longest clip accepted")
    parser.add_argument("--no-cache", action="store_true", help="neither use nor fill the cache")
    parser.set_defaults(handler=handle)
