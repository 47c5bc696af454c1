"""Text from the operating system (file names, command-line arguments) as Python holds it.

Bytes that are not UTF-8 (a Latin-1 file name, a terminal set to another encoding) become lone
surrogates (PEP 383): they still name the file, but cannot be written as UTF-8 — into JSON, the
credits, the text model's tokenizer. A name shown to people is made writable by replacing those
bytes; words the user typed are refused instead, since a guess at them would be searched for,
embedded and stored as something the user did not write.
"""
from __future__ import annotations

import argparse
import os
import unicodedata

from appliance.errors import UsageError


BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Bidirectional embeddings, overrides and isolates: U+202E makes the text after it read backwards
(a credit as another name, a description on the page as other words)."""


def unfit_for_display(character: str) -> bool:
    """A control character (a NUL, an escape sequence, a newline) or a bidirectional control."""
    return unicodedata.category(character) == "Cc" or character in BIDI_CONTROLS


def one_line(text: str) -> str:
    """Words the user typed, as one line to show and store: control characters (a newline from a
    text box, a tab) become spaces, bidirectional controls are dropped, runs of white space are one."""
    kept = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text if c not in BIDI_CONTROLS)
    return " ".join(kept.split())


def display_name(name: str) -> str:
    """A file name as text: its undecodable bytes replaced by U+FFFD (for the timeline, the
    credits and the library's records)."""
    return os.fsencode(name).decode("utf-8", "replace")


def check_text_options(args: argparse.Namespace, *names: str) -> None:
    """A UsageError for the first of the options `names` whose text is not UTF-8."""
    for name in names:
        value = getattr(args, name)
        if value is not None and display_name(value) != value:
            raise UsageError(f"the {name} holds bytes that are not UTF-8 text ({display_name(value)!r}); "
                             "type it again with the terminal set to UTF-8")
