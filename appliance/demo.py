"""`foley demo`: the whole engine once, from the console, with nothing to provide.

A clip rendered on first run into the state directory (a stick knocking on a block) is scored
with a description and written as WAV + MP4 + timeline next to it, summarised on the console:
the bundled models, the bundled library and the SQLite cache, without the web service.
"""
from __future__ import annotations

from pathlib import Path

from appliance.engine.cache_cli import open_state_cache
from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import Engine
from appliance.engine.score_cli import engine_settings, stop_as_interrupted
from appliance.os_text import check_text_options
from appliance.paths import state_dir
from appliance.video.synthetic import render_scene

DEMO_DESCRIPTION = "a wooden stick knocking on a wooden block"


def demo_clip(folder: Path) -> Path:
    clip = folder / "demo-stick.mp4"
    if not clip.is_file():
        render_scene("stick", clip, width=640, height=360, fps=30, seconds=6, seed=7)
    return clip


def handle(args) -> int:
    check_text_options(args, "description")
    folder = state_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    clip = Path(args.video) if args.video else demo_clip(folder)
    description = args.description if args.description is not None else (None if args.video else DEMO_DESCRIPTION)
    outputs = {kind: folder / f"{clip.stem}-foley.{kind}" for kind in ("wav", "mp4", "json")}
    outputs["credits"] = folder / f"{clip.stem}-credits.txt"
    engine = Engine(open_state_cache())
    settings = engine_settings(args)
    options = ScoreOptions(description=description, target_lufs=settings.target_lufs, max_seconds=settings.max_seconds)
    with stop_as_interrupted():
        timeline = engine.score_to_files(clip, options, wav=outputs["wav"],
                                         mp4=outputs["mp4"], timeline=outputs["json"], credits=outputs["credits"])
    print(f"scored {clip} ({timeline.clip.duration:.1f} s)" + (f' as "{description}"' if description else ""))
    for event in timeline.events:
        print(f"  {event.time:7.3f} s  {event.kind.value:<9} {event.category:<16} {event.template_id}")
    if timeline.ambience.category:
        print(f"  ambience: {timeline.ambience.category}")
    stats = timeline.stats
    print(f"vision run {stats.vision_inferences_run}, skipped {stats.vision_inferences_skipped}; "
          f"result cache {stats.result_cache}")
    for path in outputs.values():
        print(f"wrote {path}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="score a generated demo clip (or yours) from the console")
    parser.add_argument("video", nargs="?", help="a clip of your own instead of the demo clip")
    parser.add_argument("--description", "-d", help="what happens in the clip")
    parser.set_defaults(handler=handle)
