"""`foley bench [TARGET] [--json]`: the benchmark commands.

TARGET `models` times the encoders alone; `serve` sends concurrent uploads to a server on
loopback; `live` measures live mode's motion-to-sound latency on rendered clips; `capture` times a recording's hand-over from stop to result; a clip path (or nothing: a generated 720p clip of --seconds, 10 s by default) times the
whole engine on it against the bare decode of the same clip.
"""
from __future__ import annotations

import json
import platform

from appliance.bench.capture import bench_capture, print_capture_report
from appliance.bench.engine import bench_engine, print_report
from appliance.bench.models import bench_models, print_rows
from appliance.bench.serve import bench_serve, print_serve_report
from appliance.cli_args import at_least, positive_seconds
from appliance.config import CaptureConfig, field_range
from appliance.errors import UsageError
from appliance.inference.sessions import default_threads
from appliance.video.probe import DEFAULT_MAX_SECONDS

RECORD_SECONDS = field_range(CaptureConfig, "record_seconds")
"""The lengths of a recording the capture config takes: `foley bench capture --seconds`."""
DESCRIPTION = ("Measure the appliance. A clip path (or nothing: a generated 1280×720 clip of --seconds, 10 s "
               "by default) times the whole engine on it against the bare decode of the same clip; `models` "
               "times the encoders alone; `serve` sends concurrent uploads to a server on loopback; `capture` "
               "times a recording's hand-over from stop to result; `live` measures live mode's motion-to-sound "
               "latency on the board's output (with --page also on the page, in headless Chromium).")


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


MOST_MODEL_THREADS = 64
"""As FOLEY_THREADS: 20000 ORT threads took 3.3 GB before the first timing."""


def _thread_counts(text: str) -> tuple[int, ...]:
    """--model-threads "1,2": the ORT thread counts to time, each a whole number from 1 to 64."""
    counts = tuple(map(at_least("--model-threads"), text.split(",")))
    too_many = next((count for count in counts if count > MOST_MODEL_THREADS), None)
    if too_many is not None:
        raise UsageError(f"--model-threads must be at most {MOST_MODEL_THREADS}, not {too_many}")
    return counts


def _emit(report: dict, args, printer) -> None:
    report["machine"] = _cpu_name()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"machine: {report['machine']}, {platform.machine()}, ORT threads {default_threads()}")
        printer(report)


def _bench_live(args) -> dict:
    """The board path, and with --page the page path after it (--page-only: that alone)."""
    from appliance.bench.live import bench_live
    from appliance.bench.live_page import bench_page

    settings, seconds = args.loaded_config.live, args.seconds or 60.0
    report = {} if args.page_only else bench_live(seconds, settings)
    if args.page or args.page_only:
        report["page"] = bench_page(seconds, settings)
    return report


def _print_live(report: dict) -> None:
    from appliance.bench.live import print_live_report
    from appliance.bench.live_page import print_page_report

    if "output" in report:
        print_live_report(report)
    if "page" in report:
        print_page_report(report["page"])


def handle(args) -> int:
    if args.target == "serve":
        _emit(bench_serve(args.requests, args.concurrency or args.requests, args.url, args.seconds or 3.0),
              args, print_serve_report)
    elif args.target == "capture":
        # Checked before the service and the daemon start: a length the config refuses stopped
        # the daemon (or its recordings) with nothing said, while the bench waited for them.
        length = RECORD_SECONDS.check(args.seconds or 10.0, "--seconds (capture)")
        _emit(bench_capture(args.recordings, length), args, print_capture_report)
    elif args.target == "live":
        _emit(_bench_live(args), args, _print_live)
    elif args.target == "models":
        _emit({"rows": bench_models(threads_list=args.model_threads, repeat=args.repeat)}, args,
              lambda report: print_rows(report["rows"]))
    else:
        if args.seconds is not None and args.seconds > DEFAULT_MAX_SECONDS:  # the engine would refuse the clip
            raise UsageError(f"--seconds: the engine takes clips of at most {DEFAULT_MAX_SECONDS:g} s, "
                             f"not {args.seconds:g}")
        threads = args.threads or default_threads()
        _emit(bench_engine(args.target, threads, args.seconds or 10.0, args.rounds), args, print_report)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="measure speed and memory: the engine on a clip, `models`, "
                                                 "`serve`, `capture` or `live`", description=DESCRIPTION)
    parser.add_argument("target", nargs="?", metavar="CLIP|models|serve|capture|live",
                        help="a clip (default: generated 10 s 1280×720 30 fps H.264), `models`, `serve`, `capture` or `live`")
    parser.add_argument("--seconds", type=positive_seconds("--seconds"),
                        help="length of the generated clip (engine: 10, 300 checks memory on a long clip; serve: 3), "
                             f"or of each recording (capture: 10, at most {RECORD_SECONDS.high:g}), "
                             "or of each rendered scene (live: 60)")
    parser.add_argument("--requests", type=at_least("--requests"), default=20, help="uploads to send (serve)")
    parser.add_argument("--recordings", type=at_least("--recordings"), default=3, help="recordings to make (capture)")
    parser.add_argument("--concurrency", type=at_least("--concurrency"),
                        help="uploads in flight at once (serve; default all)")
    parser.add_argument("--url", help="an already running server (serve; default: start one on loopback)")
    parser.add_argument("--threads", type=at_least("--threads"),
                        help="decoder threads of the engine and of the bare decode it is compared with (engine; "
                             "default: the service's, $FOLEY_THREADS or the cores up to 4)")
    parser.add_argument("--rounds", type=at_least("--rounds"), default=1,
                        help="engine: repeat every configuration this many times, round-robin, and report the "
                             "median round (a noisy machine's single cold run varies by tens of percent)")
    parser.add_argument("--model-threads", type=_thread_counts, default="1,2",
                        help="ORT thread counts to time, comma-separated (models)")
    parser.add_argument("--repeat", type=at_least("--repeat"), default=30,
                        help="timed calls per configuration (models)")
    parser.add_argument("--page", action="store_true",
                        help="live: also measure the page path (foley serve, foley capture and headless Chromium)")
    parser.add_argument("--page-only", action="store_true", help="live: the page path alone")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=handle)
