"""call_in_child: the library's add runs in a child whose deadline is kept (service/child_call.py)."""
from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from appliance.errors import UsageError
from appliance.service.child_call import ChildFailed, call_in_child


def test_the_value_and_the_exception_come_back():
    assert call_in_child(pow, 2, 10, timeout=60) == 1024
    with pytest.raises(ValueError):
        call_in_child(int, "not a number", timeout=60)
    with pytest.raises(UsageError, match="unknown category"):
        call_in_child(_refuse, timeout=60)


def _refuse():
    raise UsageError("unknown category 'x'")


def test_a_child_past_its_deadline_is_killed_and_the_caller_is_told_then():
    """ProcessPoolExecutor's result(timeout) raised at the deadline, but leaving its `with` block
    then waited for the child to finish: the request thread waited for the whole minute here."""
    started = time.monotonic()
    with pytest.raises(ChildFailed, match="within 2 s"):
        call_in_child(time.sleep, 60, timeout=2)
    assert time.monotonic() - started < 20
    assert not multiprocessing.active_children()


def test_a_child_that_dies_is_known_at_once():
    started = time.monotonic()
    with pytest.raises(ChildFailed, match="ended without answering"):
        call_in_child(os._exit, 3, timeout=60)
    assert time.monotonic() - started < 20
    assert not multiprocessing.active_children()
