"""`foley bench TARGET`: the benchmark commands.

TARGET `models` times the encoders alone; further targets (the whole engine on a clip, the
service under load) register themselves in BENCHMARKS as they are built.
"""
from __future__ import annotations

import json
import platform

from appliance.bench.models import bench_models, print_rows


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_models(args) -> int:
    threads = tuple(int(t) for t in args.threads.split(","))
    rows = bench_models(threads_list=threads, repeat=args.repeat)
    if args.json:
        print(json.dumps({"machine": _cpu_name(), "rows": rows}, indent=2))
    else:
        print(f"machine: {_cpu_name()}, {platform.machine()}")
        print_rows(rows)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="measure speed (models, engine, service)")
    targets = parser.add_subparsers(dest="target", metavar="TARGET")
    models = targets.add_parser("models", help="per-call latency of both encoders")
    models.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    models.add_argument("--repeat", type=int, default=30, help="timed calls per configuration")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.set_defaults(handler=run_models)
