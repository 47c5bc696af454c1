"""The `foley` command line.

Each sub-command lives in the module that owns its job; that module exposes
`register(subparsers)` which adds its parser and sets `handler`. This file only wires them up,
so adding a command never means editing another command's code.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from appliance import __version__
from appliance.errors import UsageError

# Modules that contribute sub-commands, in the order they appear in --help.
COMMAND_MODULES = [
    "appliance.demo",
    "appliance.doctor",
    "appliance.bench.cli",
    "appliance.engine.score_cli",
    "appliance.engine.cache_cli",
    "appliance.evaluation.cli",
    "appliance.library.cli",
    "appliance.service.cli",
    "appliance.capture.cli",
    "appliance.live.cli",
    "appliance.board.firstboot",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foley", description="Foley appliance: synchronized sound effects for short videos, offline."
    )
    parser.add_argument("--version", action="version", version=f"foley {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except UsageError as exc:
        print(f"foley {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
