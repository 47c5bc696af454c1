"""`foley score VIDEO [--description TEXT] --out OUT.wav [--mp4 OUT.mp4] [--timeline OUT.json]
[--credits OUT.txt] [--keep-audio [DB] [--mix OUT.wav]] [--seed N]`.

Exit code 0 on success, 2 on bad input with a one-line reason on stderr, and no output file
left behind on failure (the engine writes all or nothing). `--out` and `--mix` may end in .wav,
.flac, .ogg (or .mp3 where the installed libsndfile encodes it): the engine writes them in that
format, staged with the other outputs (engine/outputs.py); any other ending is refused before any
work. A progress bar shows on a terminal only.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import soundfile

from appliance.cli_args import within
from appliance.cli_progress import stage_bar
from appliance.engine.cache_cli import open_state_cache
from appliance.config import EngineConfig, field_range
from appliance.engine.options import MAX_SEED, SEEDS, ScoreOptions
from appliance.engine.outputs import STOP_SIGNALS
from appliance.engine.own_sound import LEVEL_RANGE_DB, check_level
from appliance.engine.pipeline import Engine
from appliance.errors import UsageError, write_failure
from appliance.os_text import check_text_options
from appliance.mixing.wavio import AUDIO_FORMATS
from appliance.video import probe

SIGNAL_RETRY_S = 0.02
"""Seconds before a stop signal that came inside libsndfile's write is sent again (a block's write
takes about a millisecond, so the next try finds it done)."""


def audio_format(path: Path, option: str) -> tuple[str, str]:
    """libsndfile's (format, subtype) for an audio output's ending, or a UsageError saying which
    endings work."""
    usable = {suffix: spec for suffix, spec in AUDIO_FORMATS.items() if soundfile.check_format(*spec)}
    spec = usable.get(path.suffix.lower())
    if spec is None:
        raise UsageError(f"{option} {path}: cannot write {path.suffix or 'a file without an ending'}; "
                         f"name it {', '.join(usable)}")
    return spec


def _check_distinct(video: Path, outputs: dict[str, str | None]) -> None:
    """Refuse an output that would overwrite the clip or another output (`--mp4 clip.mp4`,
    `--out x.wav --timeline x.wav`), compared as resolved paths: `./x.wav` and a link to it
    are x.wav too."""
    taken = {video.resolve(): "the clip"}
    for option, name in outputs.items():
        if name is None:
            continue
        resolved = Path(name).resolve()
        if resolved in taken:
            raise UsageError(f"{option} {name} would overwrite {taken[resolved]}; give each output a file of its own")
        taken[resolved] = option


@contextmanager
def disk_failures_in_one_line() -> Iterator[None]:
    """A write the disk refused (full, read-only) as a UsageError: "cannot write OUT: no space
    left on the device" instead of a traceback. The outputs are staged, so the previous ones
    are still there (engine/outputs.py)."""
    try:
        yield
    except OSError as exc:
        message = write_failure(exc)
        if message is None:
            raise
        raise UsageError(message) from None


def engine_settings(args) -> EngineConfig:
    """The config's engine section (/etc/foley/config.yaml, loaded by appliance/cli.py), which
    the command line's own options override: a board set to -14 LUFS or a 60 s limit scored at
    the defaults from the command line."""
    config = getattr(args, "loaded_config", None)
    return config.engine if config is not None else EngineConfig()


def _inside_soundfile(frame) -> bool:
    """Whether `frame` runs in soundfile's code: libsndfile calls back into it to write, and an
    exception raised there is printed and dropped by cffi, not raised."""
    while frame is not None:
        if frame.f_code.co_filename == soundfile.__file__:
            return True
        frame = frame.f_back
    return False


@contextmanager
def stop_as_interrupted() -> Iterator[None]:
    """For the block, a kill (systemd's stop, a closed terminal: SIGTERM, SIGHUP) unwinds as Ctrl-C
    does, so the staged outputs not yet renamed are removed (engine/outputs.py): killed outright,
    each left megabytes of hidden files in the output folder, never cleared. A signal that comes
    while libsndfile writes is sent again a moment later (Ctrl-C's too): raised there, cffi dropped
    it, and the command went on to write its outputs. The handlers before are restored after."""
    def interrupted(number, frame):
        if _inside_soundfile(frame):
            threading.Timer(SIGNAL_RETRY_S, os.kill, (os.getpid(), number)).start()
            return
        raise KeyboardInterrupt
    previous = {number: signal.signal(number, interrupted) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def handle(args) -> int:
    check_text_options(args, "description")
    _check_distinct(Path(args.video), {"--out": args.out, "--mp4": args.mp4, "--timeline": args.timeline,
                                      "--credits": args.credits, "--mix": args.mix})
    keep = args.keep_audio is not None
    settings = engine_settings(args)
    options = ScoreOptions(description=args.description, seed=args.seed,
                           target_lufs=settings.target_lufs if args.lufs is None else args.lufs,
                           ambience=not args.no_ambience,
                           max_seconds=settings.max_seconds if args.max_seconds is None else args.max_seconds,
                           keep_audio=keep, original_level_db=check_level(args.keep_audio) if keep else 0.0)
    if keep and not (args.mp4 or args.mix):
        raise UsageError("--keep-audio mixes the clip's own sound into the video: give --mp4 OUT.mp4 "
                         "and/or --mix OUT.wav (--out stays the Foley alone)")
    if args.mix and not keep:
        raise UsageError("--mix is the Foley mixed with the clip's own sound: add --keep-audio")
    audio_format(Path(args.out), "--out")
    if args.mp4 and Path(args.mp4).suffix.lower() != ".mp4":  # the muxer writes MP4 whatever the name says
        raise UsageError(f"--mp4 {args.mp4}: the video is written as MP4; name it .mp4")
    if args.mix:
        audio_format(Path(args.mix), "--mix")
    probe(Path(args.video), max_seconds=options.max_seconds)  # fail fast, before loading models
    cache = None if args.no_cache else open_state_cache()
    engine = Engine(cache)
    with stop_as_interrupted(), stage_bar(Path(args.video).name) as progress, disk_failures_in_one_line():
        timeline = engine.score_to_files(
            Path(args.video), options, wav=Path(args.out), mp4=args.mp4 and Path(args.mp4),
            timeline=args.timeline and Path(args.timeline), progress=progress, mix=args.mix and Path(args.mix),
            credits=args.credits and Path(args.credits))
    stats = timeline.stats
    print(f"{len(timeline.events)} sounds placed in {timeline.clip.duration:.2f} s of video; "
          f"vision run {stats.vision_inferences_run}, skipped {stats.vision_inferences_skipped}; "
          f"result cache {stats.result_cache}; wrote {args.out}", file=sys.stderr)
    if timeline.output.original_audio:
        print(timeline.output.original_audio, file=sys.stderr)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("score", help="add a synchronized Foley track to a video")
    parser.add_argument("video", help="the clip (mp4, mov, mkv, webm, avi); its own sound is replaced "
                                      "unless --keep-audio is given")
    parser.add_argument("--description", "-d", help='what happens, e.g. "footsteps on gravel"')
    parser.add_argument("--out", "-o", required=True,
                        help="the Foley track to write, 48 kHz stereo: .wav, .flac, .ogg (or .mp3 where supported)")
    parser.add_argument("--mp4", help="also write the video with the new track (video stream copied)")
    parser.add_argument("--timeline", help="also write the timeline JSON (what was placed where, and why)")
    parser.add_argument("--credits", help="also write the credits of the recordings used (authors, licences, sources)")
    low, high = LEVEL_RANGE_DB
    parser.add_argument("--keep-audio", nargs="?", type=float, const=0.0, metavar="DB",
                        help=f"mix the Foley with the clip's own sound in the video, the own sound DB dB "
                             f"relative to the Foley ({low:g} to {high:+g}, default 0); --out stays the Foley alone")
    parser.add_argument("--mix", help="with --keep-audio, also write that mix as audio (same endings as --out)")
    parser.add_argument("--seed", type=within("--seed", SEEDS), default=0,
                        help=f"variation seed, 0 to {MAX_SEED}: same seed, same output")
    loudness = field_range(EngineConfig, "target_lufs")
    parser.add_argument("--lufs", type=within("--lufs", loudness, float),
                        help=f"target loudness in LUFS, {loudness.low} to {loudness.high} "
                             f"(default: config engine.target_lufs, {EngineConfig.target_lufs:g})")
    parser.add_argument("--no-ambience", action="store_true", help="never lay an ambience bed")
    longest = field_range(EngineConfig, "max_seconds")
    parser.add_argument("--max-seconds", type=within("--max-seconds", longest, float),
                        help=f"longest clip accepted in seconds, {longest.low:g} to {longest.high:g} "
                             f"(default: config engine.max_seconds, {EngineConfig.max_seconds:g})")
    parser.add_argument("--no-cache", action="store_true", help="neither use nor fill the cache")
    parser.set_defaults(handler=handle)
