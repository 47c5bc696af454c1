"""`foley capture` (the camera daemon) and `foley record` (start/stop it from a shell)."""
from __future__ import annotations

import faulthandler
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from appliance.cli_args import positive_seconds
from appliance.folder_hold import hold_folder
from appliance.errors import UsageError
from appliance.os_text import check_text_options

DEMO_CLIP = "demo.mp4"
LOCK_NAME = "capture.lock"
SLOW_STOP_S = 10.0
"""A stop taking longer than this has its threads' stacks written to stderr."""


def service_url(config, host: str | None = None, port: int | None = None) -> str:
    """Where the daemon submits recordings: the service on this board (config, unless the
    service was started with another --host/--port)."""
    host, port = host or config.service.host, port or config.service.port
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def demo_clip(folder: Path) -> Path:
    """The file camera's clip when no camera exists: rendered once (a stick knocking, so a
    recording has actions to score); nothing is downloaded or bundled for it."""
    from appliance.video.synthetic import render_scene

    path = folder / DEMO_CLIP
    if not path.is_file():
        rendering = folder / f".rendering-{DEMO_CLIP}"
        render_scene("stick", rendering, width=640, height=360, seconds=12.0, seed=7)
        rendering.replace(path)  # complete or absent: a half-rendered clip is never looped
    return path


def handle_capture(args) -> int:
    from appliance.capture.button import attach_button
    from appliance.capture.cameras import check_camera_spec, csi_available, open_camera, usb_cameras
    from appliance.capture.control import ControlServer, socket_path
    from appliance.capture.daemon import CaptureDaemon
    from appliance.capture.outbox import Outbox
    from appliance.capture.scoring import RecordingScoring
    from appliance.config import load_and_apply
    from appliance.paths import state_dir
    from appliance.service.auth import TOKEN_FILE

    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    config = load_and_apply(args.config)
    capture = config.capture.within(config.engine.max_seconds)
    if capture != config.capture:
        logging.getLogger("foley.capture").warning(
            "recordings are held to %g s (engine.max_seconds %g less the %g s pre-roll and a second): the service "
            "would refuse a longer clip", capture.max_record_seconds, config.engine.max_seconds, capture.preroll_seconds)
    spec = args.camera or capture.camera
    folder = state_dir() / "capture"
    folder.mkdir(parents=True, exist_ok=True)
    # A second daemon on the same state deleted the first's recording in progress (its .partial)
    # as left by a crash, took its control socket and submitted its outbox a second time.
    hold_folder(folder, LOCK_NAME, "foley capture", "systemctl stop foley-capture")
    demo = demo_clip(folder) if spec == "auto" and not usb_cameras() and not csi_available() else None
    check_camera_spec(spec, "--camera" if args.camera else "config key 'capture.camera'")
    url = args.service_url or service_url(config)
    outbox = Outbox(folder / "outbox", url, state_dir() / TOKEN_FILE)
    scoring = (RecordingScoring(state_dir() / "cache", state_dir() / "service", config.engine)
               if capture.score_while_recording else None)
    daemon = CaptureDaemon(capture, lambda: open_camera(spec, capture.width, capture.height, capture.fps, demo),
                           folder / "recordings", outbox, scoring=scoring)
    daemon.start_threads()
    server = ControlServer(socket_path(), daemon)
    button = attach_button(daemon, capture)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    threading.Thread(target=server.serve_forever, name="foley-control", daemon=True).start()
    print(f"foley capture: camera {spec}, control socket {socket_path()}, submitting to {url}",
          file=sys.stderr, flush=True)
    # Woken twice a second: the kernel may deliver SIGTERM to another thread, and then nothing
    # interrupts a wait without a timeout in the main thread, where Python runs its handlers
    # (seen under load: the daemon never stopped; with the stacks dump below, nothing was said).
    while not stopping.wait(0.5):
        pass
    # A stop that hangs would be ended by systemd's SIGKILL with nothing said: past
    # SLOW_STOP_S the threads' stacks go to stderr (the journal), saying what held it up.
    faulthandler.dump_traceback_later(SLOW_STOP_S, exit=False)
    server.shutdown()
    server.server_close()
    socket_path().unlink(missing_ok=True)
    if button is not None:
        button.close()
    daemon.shutdown()
    return 0  # the dump stays armed through the interpreter's exit (its threads are joined there)


def capture_main(config_path: str | None, url: str) -> None:
    """Entry point of the daemon as a child process of `foley serve --capture` (make run)."""
    import argparse

    handle_capture(argparse.Namespace(config=config_path, camera=None, service_url=url))


DEFAULT_WAIT_S = 300.0
"""How long `foley record --wait` waits for the recording to reach the queue, unless --timeout."""


def handle_record(args) -> int:
    from appliance.capture.control import DaemonUnavailable, call

    check_text_options(args, "description")
    command = "stop" if args.stop else "cancel" if args.cancel else "status" if args.status else "start"
    arguments = {"description": args.description, "seconds": args.seconds}
    given = [f"--{name}" for name, value in arguments.items() if value is not None]
    if command != "start" and given:  # they were dropped without a word
        raise UsageError(f"{' and '.join(given)}: only for starting a recording, not with --{command}")
    if args.wait and command not in ("start", "stop"):
        raise UsageError(f"--wait: only for starting or stopping a recording, not with --{command}")
    if args.timeout is not None and not args.wait:
        raise UsageError("--timeout: only with --wait")
    try:
        reply, _ = call(command, **{k: v for k, v in arguments.items() if v is not None})
        if reply.get("ok") and args.wait and command in ("start", "stop"):
            reply = _wait_for_submission(reply["id"], args.timeout or DEFAULT_WAIT_S)
    except DaemonUnavailable as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(reply, indent=1))
    if not reply.get("ok", True):
        print(f"foley record: {reply.get('error')}", file=sys.stderr)
        return 1
    return 0


def _wait_for_submission(recording_id: str, timeout: float) -> dict:
    """Poll until the recording has been handed to the queue (or discarded / refused, or kept
    on the board for want of room to hand it over)."""
    from appliance.capture.control import call
    from appliance.waiting import poll

    def outcome():
        entry = next((e for e in call("status")[0].get("recent", []) if e["id"] == recording_id), {})
        return entry if entry.get("state") in ("scored", "submitted", "discarded", "rejected", "cancelled", "kept") \
            else None

    try:
        entry = poll(outcome, timeout, step=0.1)
    except TimeoutError:
        last = next((e for e in call("status")[0].get("recent", []) if e["id"] == recording_id), {})
        why = f": {last['reason']}" if last.get("reason") else ""
        return {"ok": False, "id": recording_id, "error": f"not handed to the queue within {timeout:g} s{why}"}
    if entry["state"] in ("scored", "submitted"):
        return {"ok": True, **entry}
    return {"ok": False, **entry, "error": entry.get("reason", entry["state"])}


def register(subparsers) -> None:
    capture = subparsers.add_parser("capture", help="run the camera capture daemon (record button, pre-roll)")
    capture.add_argument("--config", help="config file (default /etc/foley/config.yaml if present)")
    capture.add_argument("--camera", help="override capture.camera: auto, v4l2[:/dev/videoN], csi, file:PATH")
    capture.add_argument("--service-url", help="where recordings go (default: the service on this machine, "
                                               "at the config's port)")
    capture.set_defaults(handler=handle_capture)
    record = subparsers.add_parser("record", help="start (or stop, cancel) a recording of the capture daemon")
    record.add_argument("--description", "-d", help="what the clip shows, for the choice of sounds")
    record.add_argument("--seconds", type=positive_seconds("--seconds"),
                        help="length (default: config capture.record_seconds; at most capture.max_record_seconds)")
    action = record.add_mutually_exclusive_group()
    action.add_argument("--stop", action="store_true", help="stop the recording now (it is kept and scored)")
    action.add_argument("--cancel", action="store_true", help="stop the recording and throw it away")
    action.add_argument("--status", action="store_true", help="print the daemon's status")
    record.add_argument("--wait", action="store_true", help="wait until the clip is handed to the queue")
    record.add_argument("--timeout", type=positive_seconds("--timeout"),
                        help=f"seconds --wait waits at most (above 0; default {DEFAULT_WAIT_S:g})")
    record.set_defaults(handler=handle_record)
