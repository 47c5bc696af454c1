"""Errors the appliance reports to users as a clear one-line message (CLI exit code 2, HTTP 4xx)."""


class UsageError(Exception):
    """Bad input from the user: a file, an argument or a setting the appliance cannot use."""


class ModelFileError(RuntimeError):
    """A bundled model file is missing or does not match its manifest."""
