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
from appliance.config import load_and_apply
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
    as_sentences(parser)
    return parser


def sentence(text: str) -> str:
    """`text` as a sentence: a capital first letter and a full stop (help strings are written as
    short phrases next to their options; --help shows them as sentences)."""
    text = text.strip()
    if text[:1].islower():
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def as_sentences(parser: argparse.ArgumentParser) -> None:
    """Every help text of `parser` and its sub-commands as whole sentences, and every sub-command
    described (by its one-line help when it has no description of its own), so each `--help`
    reads as sentences, whichever module added the command."""
    parser.description = sentence(parser.description) if parser.description else None
    for action in parser._actions:
        if action.help and action.help != argparse.SUPPRESS:
            action.help = sentence(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:  # the list of sub-commands in the parent's --help
                choice.help = sentence(choice.help) if choice.help else choice.help
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                if not child.description and helps.get(name):
                    child.description = helps[name]
                as_sentences(child)


def _apply_default_config(args: argparse.Namespace) -> None:
    """/etc/foley/config.yaml's state_dir: the state the service uses (the loaded config kept as
    `args.loaded_config`: `foley score` takes its engine settings from it). A command that must work
    whatever the file says (`firstboot`: a new foley.txt is how a headless board is reached again)
    goes on without it when it does not load, and says so."""
    try:
        args.loaded_config = load_and_apply(None, keep_environment=True)
    except UsageError as exc:
        if not getattr(args, "config_optional", False):
            raise
        print(f"foley {args.command}: going on without the config: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = argparse.Namespace(command=None)  # named before an option's reader may refuse its value
    try:
        parser = build_parser()  # imports every command: a Ctrl-C here was a 30-line traceback
        parser.parse_args(argv, namespace=args)  # numeric options are checked as read (cli_args.py)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 2
        if not hasattr(args, "config"):  # the commands with --config load it themselves
            _apply_default_config(args)
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
