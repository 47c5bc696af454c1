"""Waiting for something another thread or process does, by polling: the daemon's and the
service's state are only visible through their status calls."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def poll(condition: Callable[[], T], timeout: float, step: float = 0.05) -> T:
    """The first truthy value of `condition()`, asked every `step` seconds; TimeoutError after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout:g} s")
        time.sleep(step)
