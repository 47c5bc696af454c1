"""The `ledger` every fault test uses: it counts the test's responses and accepted jobs, and at the
test's end asserts jobs lost 0, 5xx 0, no tracebacks, then records the figures of a passing test."""
from __future__ import annotations

import pytest

from tests.faults.ledger import Ledger


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[CALL_PASSED] = report.passed
    return report


CALL_PASSED = pytest.StashKey[bool]()


@pytest.fixture
def ledger(request):
    book = Ledger(request.node.name)
    yield book
    if request.node.stash.get(CALL_PASSED, False):
        book.check()
        book.record()
