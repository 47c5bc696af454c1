"""The systemd units pass `systemd-analyze verify` (in a root tree where their programs exist)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import REPO

UNITS = sorted((REPO / "systemd").glob("*.service"))
pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def test_units_exist():
    assert {u.name for u in UNITS} == {"foley-web.service", "foley-capture.service", "foley-firstboot.service"}


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_verifies(unit, tmp_path):
    """A root tree with the units installed and /opt/foley/venv/bin/foley present, as install.sh lays it out."""
    root = tmp_path / "root"
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    for other in UNITS:
        shutil.copy(other, units / other.name)
    program = root / "opt" / "foley" / "venv" / "bin" / "foley"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    shutil.copytree("/usr/lib/systemd/system", root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    shutil.copy(shutil.which("systemctl"), root / "usr" / "bin" / "systemctl")  # firstboot disables itself with it
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}", str(units / unit.name)],
                            capture_output=True, text=True, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if unit.name in line or "foley" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
