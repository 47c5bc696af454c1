"""`foley live`: sound the actions in front of the camera as they happen (and keep the performance).

It claims the board's speaker for its whole run (appliance/live/speaker.py), unless told
`--output seam`: while the service plays a result or runs its own live mode, it stops at once and
says who has the speaker, rather than fighting it for the sound card."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
from pathlib import Path

from appliance.cli_args import positive_seconds, within
from appliance.engine.options import MAX_SEED, SEEDS
from appliance.errors import UsageError
from appliance.os_text import check_text_options


PARTIAL_IDLE_S = 60.0
"""A live recording's partial files unchanged this long were left by a killed `foley live`."""


def _list_devices() -> int:
    try:
        import sounddevice
    except OSError as exc:
        raise UsageError(f"PortAudio is not installed ({exc}; apt install libportaudio2)") from None
    outputs = [(i, d) for i, d in enumerate(sounddevice.query_devices()) if d["max_output_channels"] > 0]
    for index, device in outputs:
        print(f"{index:3d}  {device['name']}  ({device['max_output_channels']} ch, "
              f"{device['default_low_output_latency'] * 1000:.1f} ms)")
    if not outputs:
        print("no audio output devices (live mode would run on the audio seam)")
    return 0


def handle(args) -> int:
    from appliance.config import load_and_apply
    from appliance.live.recorder import remove_partials
    from appliance.live.speaker import SpeakerBusy, claim_speaker

    if args.list_devices:
        return _list_devices()
    check_text_options(args, "description")
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    config = load_and_apply(args.config)
    settings = config.live
    if args.output or args.device:
        settings = dataclasses.replace(settings, output=args.output or settings.output,
                                       device=args.device or settings.device)
    if args.record:
        record = Path(args.record)
        if record.suffix.lower() != ".mp4" or not record.parent.is_dir():
            raise UsageError(f"--record {record}: give a .mp4 file name in an existing folder")
        if record.is_dir():  # found only once the performance was over, and all of it lost
            raise UsageError(f"--record {record}: is a folder; give a file name")
        if not os.access(record.parent, os.W_OK):
            raise UsageError(f"--record {record}: cannot write in {record.parent}")
        spec = args.camera or config.capture.camera
        source = Path(spec.partition(":")[2]).resolve() if spec.startswith("file:") else None
        if source in (record.resolve(), record.with_suffix(".json").resolve()):  # replaced while being read
            raise UsageError(f"--record {record} would overwrite the file camera's clip; give the recording a name "
                             f"of its own")
        # of a `foley live --record` killed there before (only the service swept them)
        remove_partials(record.parent, idle_seconds=PARTIAL_IDLE_S)
    try:  # before the camera and the models: a refusal comes at once
        # The config's output is the board's (its `seam` stands in for a sound card, and the
        # service's Play and live claim the speaker on it too); only `--output seam` goes without.
        speaker = None if args.output == "seam" else claim_speaker("`foley live`", "stop it with Ctrl-C")
    except SpeakerBusy as exc:
        raise UsageError(f"{exc}; or run `foley live --output seam` to go without the speaker") from None
    try:
        return _run(args, config, settings)
    finally:
        if speaker is not None:
            speaker.release()


def _run(args, config, settings) -> int:
    """The session, with the speaker claimed (or going without it)."""
    from appliance.capture.cameras import CameraLost, check_camera_spec, csi_available, open_camera, usb_cameras
    from appliance.capture.cli import demo_clip
    from appliance.live.session import LiveOptions, LiveSession
    from appliance.paths import state_dir

    capture = config.capture
    spec = args.camera or capture.camera
    demo = None
    if spec == "auto" and not usb_cameras() and not csi_available():
        (state_dir() / "capture").mkdir(parents=True, exist_ok=True)
        demo = demo_clip(state_dir() / "capture")
    check_camera_spec(spec, "--camera" if args.camera else "config key 'capture.camera'")
    try:
        camera = open_camera(spec, capture.width, capture.height, capture.fps, demo)
    except CameraLost as exc:
        raise UsageError(f"camera: {exc}") from None
    say = lambda message: print(f"foley live: {message}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        session = LiveSession(camera, settings, LiveOptions(description=args.description, seed=args.seed,
                                                            duration=args.duration,
                                                            record=Path(args.record) if args.record else None,
                                                            history=None if args.no_history else state_dir() / "service",
                                                            engine_settings=config.engine),
                              cache_folder=state_dir() / "cache", say=say)
    except OSError as exc:  # the recording's files (a full disk, no inode left, a name too long)
        camera.close()
        raise UsageError(f"--record {args.record}: the recording cannot be written there "
                         f"({exc.strerror or exc})") from None
    for signum in (signal.SIGINT, signal.SIGTERM):  # stop cleanly: the recording is finished
        signal.signal(signum, lambda *_: session.stop())
    say(f"{camera.name} → {settings.output} output; Ctrl-C stops" + (f", recording to {args.record}" if args.record else ""))
    report = session.run()
    summary = report.summary()
    print(json.dumps(summary, indent=2) if args.json else _text(summary))
    return 1 if report.camera_failure or (args.record and report.recording is None) else 0


def _text(summary: dict) -> str:
    latency = summary["latency_ms"]
    lines = [f"{summary['impacts']} actions in {summary['seconds']} s: {summary['sounded']} sounded, "
             f"{summary['dropped_late']} dropped as late, {summary['dropped_no_device']} without a device; "
             f"{summary['underruns']} underruns, {summary['frames_dropped']} frames dropped ({summary['output']})"]
    if latency:
        lines.append(f"motion to sound (from the frame the action was placed in): p50 {latency['p50']} ms, "
                     f"p95 {latency['p95']} ms, max {latency['max']} ms")
    if summary["recording"]:
        lines.append(f"recorded: {summary['recording']} (+ timeline {Path(summary['recording']).with_suffix('.json')})"
                     + (f", in the history as job {summary['history_job']}" if summary["history_job"] else ""))
    if summary["camera_failure"]:
        lines.append(f"camera lost: {summary['camera_failure']}")
    return "\n".join(lines)


def register(subparsers) -> None:
    parser = subparsers.add_parser("live", help="sound the actions in front of the camera as they happen",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--camera", help="auto, v4l2[:/dev/videoN], csi or file:PATH (default: config capture.camera)")
    parser.add_argument("--description", "-d", help="what happens (helps choose the sounds)")
    parser.add_argument("--record", metavar="OUT.mp4", help="keep the picture and the sound played as an MP4 "
                        "(and its timeline as OUT.json)")
    parser.add_argument("--no-history", action="store_true",
                        help="do not add the recording to the service's history (the page's list of results)")
    parser.add_argument("--duration", type=positive_seconds("--duration"), metavar="S",
                        help="stop after S seconds, above 0 (default: Ctrl-C)")
    parser.add_argument("--output", choices=["sounddevice", "seam"], help="audio output (default: config live.output)")
    parser.add_argument("--device", help="audio device number or part of its name (default: config live.device)")
    parser.add_argument("--list-devices", action="store_true", help="list the audio output devices and exit")
    parser.add_argument("--seed", type=within("--seed", SEEDS), default=0, help=f"variation seed, 0 to {MAX_SEED}")
    parser.add_argument("--config", help="config file (default /etc/foley/config.yaml)")
    parser.add_argument("--json", action="store_true", help="print the session's report as JSON")
    parser.set_defaults(handler=handle)
