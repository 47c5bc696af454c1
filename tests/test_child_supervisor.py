"""The service's child supervisor (the scoring worker; the camera daemon under `make run`)."""
from __future__ import annotations

import logging
import re
import sys

from appliance.service.cli import ChildSupervisor
from appliance.waiting import poll


def fails_at_start() -> None:
    """A child that cannot start (say, the camera file it is told to loop is not there)."""
    sys.exit(2)


def test_a_child_failing_at_its_start_is_restarted_less_and_less_often(caplog):
    """It was restarted every second for ever, with its traceback each time."""
    caplog.set_level(logging.WARNING, logger="foley.serve")
    supervisor = ChildSupervisor(fails_at_start, (), "always-failing")
    supervisor.start()

    def waits() -> list[float]:
        return [float(w) for w in re.findall(r"always-failing exited \(code 2\); restarting it in ([0-9.]+) s",
                                             caplog.text)]
    try:
        poll(lambda: len(waits()) >= 2, 60)  # each child is a spawned Python: slow to start on a busy machine
    finally:
        supervisor.stop()
    assert waits()[:2] == [1.0, 2.0], caplog.text
