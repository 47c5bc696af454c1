"""Errors the appliance reports to users as a clear one-line message (CLI exit code 2, HTTP 4xx)."""


class UsageError(Exception):
    """Bad input from the user: a file, an argument or a setting the appliance cannot use."""


class ModelFileError(RuntimeError):
    """A bundled model file is missing or does not match its manifest."""


def is_number(value) -> bool:
    """Whether a value read from a request (JSON) is a number. A bool is not one, though Python
    makes it an int: checked with `isinstance(value, (int, float))`, `"seconds": true` was taken
    as 1 s."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_text(value) -> bool:
    """Whether a value read from a request (JSON) is a string that can be written as UTF-8.
    JSON lets a request carry a lone surrogate ("\\ud800"): as a recording's description it let
    the recording start and then lost the clip when it was written; as a worker's progress stage
    it was a 500 from SQLite."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
