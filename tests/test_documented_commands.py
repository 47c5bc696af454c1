"""Every command the README and docs/*.md show works as written: `foley …` commands name real
sub-commands and options (concrete ones parse as given), `scripts/…` are committed with their run
bit and answer --help (exit 0, no side effects) knowing the options shown, `make …` targets exist
(make -n). And every `--help` of the command line reads as whole sentences."""
from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from appliance.cli import build_parser
from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_BLOCKS = re.compile(r"```(?:sh|bash|shell|console)\n(.*?)```", re.S)
ANY_BLOCK = re.compile(r"```.*?```", re.S)
SPAN = re.compile(r"`([^`]+)`")
COMMAND = re.compile(r"^(?:sudo\s+)?(?:\.venv/bin/python\s+|python3?\s+|bash\s+)?((?:foley|make|scripts/[\w./-]+)(?:\s.*)?)$")
TEMPLATE_MARKS = re.compile(r"[\[\]|…]|\.\.\.|\b[A-Z]{2,}\b")
"""A usage template (optional parts, alternatives, placeholders) rather than a concrete command."""


def documented_commands() -> list[tuple[str, str, bool]]:
    """(document, command, whether it is in a shell block: meant to be run as it stands) for every
    command line of a shell block or an inline code span (which may also just name a command)."""
    found = set()
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        lines = [(line, True) for block in SHELL_BLOCKS.findall(text)
                 for line in block.replace("\\\n", " ").splitlines()]
        lines += [(" ".join(span.split()), False) for span in SPAN.findall(ANY_BLOCK.sub("", text))]
        for line, runnable in lines:
            line = re.split(r"\s+#\s", line)[0].split(" && ")[0].split(" & ")[0].strip()
            match = COMMAND.match(line)
            if match:
                found.add((doc.name, match.group(1).strip(), runnable))
    return sorted(found)


COMMANDS = documented_commands()


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _walk(parser: argparse.ArgumentParser, words: list[str]) -> tuple[argparse.ArgumentParser, list[str], list[str]]:
    """(the deepest sub-command parser the words name, the words naming it, the rest)."""
    path = []
    while words and words[0] in _subcommands(parser):
        parser = _subcommands(parser)[words[0]]
        path, words = path + [words[0]], words[1:]
    return parser, path, words


def test_the_docs_show_commands():
    kinds = {command.split()[0].split("/")[0] for _, command, _ in COMMANDS}
    assert kinds == {"foley", "make", "scripts"}
    assert ("README.md", "scripts/install.sh", False) in COMMANDS


@pytest.mark.parametrize("doc, command, runnable", [c for c in COMMANDS if c[1].startswith("foley")])
def test_foley_commands_exist_with_their_options(doc, command, runnable):
    words = shlex.split(command.replace("'", "\\'"))[1:]
    parser, path, rest = _walk(build_parser(), words)
    options = {s for action in parser._actions for s in action.option_strings}
    shown = {w.split("=")[0] for token in rest for w in re.split(r"[\[\]|]", token) if w.startswith("-")}
    assert shown <= options, f"{doc}: `{command}` shows {sorted(shown - options)}, which `foley {' '.join(path)}` lacks"
    if runnable and path and not _subcommands(parser) and not TEMPLATE_MARKS.search(" ".join(rest)):
        try:  # a command of a shell block parses exactly as written (nothing is run)
            build_parser().parse_args(path + rest)
        except SystemExit as exc:
            pytest.fail(f"{doc}: `{command}` does not parse (exit {exc.code})")


def _scripts() -> dict[str, list[tuple[str, str]]]:
    scripts: dict[str, list[tuple[str, str]]] = {}
    for doc, command, _ in COMMANDS:
        if command.startswith("scripts/") and not command.split()[0].endswith((".txt", "/")):
            scripts.setdefault(command.split()[0], []).append((doc, command))
    return scripts


NOT_RUN_FROM_THE_TREE = {
    "scripts/lib/image.sh": "sourced by the image scripts",
    "scripts/foley-shell.sh": "the board's /usr/local/bin/foley, running the installed /opt/foley/venv's "
                              "foley; tests/test_image_scripts.py runs it with that path replaced",
}


@pytest.mark.parametrize("script", sorted(s for s in _scripts() if s not in NOT_RUN_FROM_THE_TREE))
def test_scripts_have_their_run_bit_and_answer_help(script, tmp_path):
    path = REPO / script
    assert path.is_file(), f"{script} is documented but missing"
    assert os.access(path, os.X_OK), f"{script} lacks its run bit"
    mode = subprocess.run(["git", "ls-files", "-s", script], cwd=REPO, capture_output=True, text=True).stdout
    if (REPO / ".git").exists():  # a checkout (not an unpacked archive): the script must be committed so
        assert mode.startswith("100755"), f"{script} is not committed with its run bit: {mode!r}"
    assert path.read_text(encoding="utf-8").startswith("#!"), f"{script} has no #! line"
    before = sorted(p.name for p in REPO.iterdir())
    result = subprocess.run([str(path), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PATH": f"{Path(os.sys.executable).parent}:{os.environ['PATH']}",
                                 "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, f"{script} --help: exit {result.returncode}: {result.stderr[-500:]}"
    assert result.stdout.strip(), f"{script} --help prints nothing"
    assert sorted(p.name for p in REPO.iterdir()) == before and not list(tmp_path.iterdir()), "--help changed files"
    for doc, command in _scripts()[script]:
        for option in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", command):
            assert option in result.stdout, f"{doc}: `{command}` shows {option}, which {script} --help does not list"


@pytest.mark.parametrize("command", sorted({c for _, c, _ in COMMANDS if c.startswith("make")}))
def test_make_targets_exist(command):
    result = subprocess.run(["make", "-n", *shlex.split(command)[1:]], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, f"`{command}`: {result.stderr.strip()}"


def _parsers(parser: argparse.ArgumentParser, name: str = "foley"):
    yield name, parser
    for child_name, child in _subcommands(parser).items():
        yield from _parsers(child, f"{name} {child_name}")


def _is_sentence(text: str) -> bool:
    return bool(text) and not text[:1].islower() and text.rstrip().endswith((".", "!", "?"))


@pytest.mark.parametrize("name, parser", list(_parsers(build_parser())))
def test_every_help_reads_as_sentences(name, parser):
    assert parser.description and _is_sentence(parser.description), f"`{name} --help`: {parser.description!r}"
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert _is_sentence(choice.help), f"`{name} --help`: {choice.dest}: {choice.help!r}"
            continue
        assert action.help and _is_sentence(action.help), \
            f"`{name} --help`: {action.option_strings or action.dest}: {action.help!r}"


def test_bench_help_is_whole():
    result = subprocess.run([os.sys.executable, "-m", "appliance.cli", "bench", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    description = result.stdout.split("\n\n")[1]
    assert description.rstrip().endswith(".") and "`capture`" in description
