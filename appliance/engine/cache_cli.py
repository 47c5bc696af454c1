"""`foley cache stats` and `foley cache clear`."""
from __future__ import annotations

import json

from appliance.config import MB
from appliance.engine import cache_recovery
from appliance.engine.cache import Cache
from appliance.paths import state_dir


def open_state_cache() -> Cache:
    """The appliance's cache, in the state directory: rebuilt empty when damaged, as the service
    does (engine/cache_recovery.py); one line when its disk cannot hold it."""
    return cache_recovery.open_cache(state_dir() / "cache")


def handle_stats(args) -> int:
    cache = open_state_cache()
    stats = cache.stats()
    cache.close()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"frames cached:     {stats['frames']} (limit {stats['limits']['max_frames']})")
    print(f"results stored:    {stats['results']} ({stats['result_bytes'] / MB:.1f} MB)")
    print(f"database size:     {stats['database_bytes'] / MB:.1f} MB")
    for name, value in stats["counters"].items():
        print(f"{name + ':':<19}{value}")
    return 0


def handle_clear(args) -> int:
    cache = open_state_cache()
    cache.clear()
    cache.close()
    print("cache cleared")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("cache", help="inspect or clear the frame and result cache")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    stats = actions.add_parser("stats", help="entries, sizes, hits and misses")
    stats.add_argument("--json", action="store_true", help="print the figures as JSON")
    stats.set_defaults(handler=handle_stats)
    actions.add_parser("clear", help="remove every cached entry and result").set_defaults(handler=handle_clear)
