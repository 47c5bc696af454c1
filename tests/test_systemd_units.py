"""The systemd units pass `systemd-analyze verify` (in a root tree where their programs exist),
and their sandbox lets the code do what it does: live mode's real-time threads and sound card in
foley-web, the cameras and the GPIO chip in foley-capture."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.live.output import AUDIO_PRIORITY
from appliance.live.session import PATH_PRIORITY
from tests.conftest import REPO

UNITS = sorted((REPO / "systemd").glob("*.service"))
HARDENING = {"NoNewPrivileges": ["yes"], "ProtectSystem": ["strict"], "ProtectHome": ["yes"], "PrivateTmp": ["yes"],
             "DevicePolicy": ["closed"], "RestrictNamespaces": ["yes"], "RestrictSUIDSGID": ["yes"]}
"""What both long-running units keep, whatever they open up for the hardware."""


def settings(unit: Path) -> dict[str, list[str]]:
    """The unit's [Service] settings, each with all its values (DeviceAllow= comes many times)."""
    found: dict[str, list[str]] = {}
    section = None
    for line in unit.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def test_the_web_service_may_run_live_mode_in_real_time_on_the_sound_card():
    """Live mode and Play run in foley serve: PortAudio opens /dev/snd, and make_realtime asks
    SCHED_FIFO (live/output.py, live/session.py), which RestrictRealtime=yes or no RLIMIT_RTPRIO refuses."""
    web = settings(REPO / "systemd" / "foley-web.service")
    assert web.get("RestrictRealtime", ["no"]) == ["no"]
    assert int(web["LimitRTPRIO"][0]) >= max(AUDIO_PRIORITY, PATH_PRIORITY)
    assert web.get("PrivateDevices", ["no"]) == ["no"], "it hides /dev/snd whatever DeviceAllow= says"
    assert "char-alsa rw" in web["DeviceAllow"]
    assert HARDENING.items() <= web.items()


def test_the_units_agree_on_their_folders_and_first_boot_runs_whenever_its_file_is_there():
    """systemd applies a unit's folder modes at each start, so the last unit started decided them
    (/var/lib/foley ended 0755, /run/foley 0755 for a socket folder meant to be private)."""
    units = {unit.name: settings(unit) for unit in UNITS}
    for name, found in units.items():
        if "StateDirectory" in found:
            assert found.get("StateDirectoryMode") == ["0750"], name
        if "RuntimeDirectory" in found:
            assert found.get("RuntimeDirectoryMode") == ["0700"], name
    assert "LG_WD=/run/foley" in units["foley-capture.service"]["Environment"]
    firstboot = (REPO / "systemd" / "foley-firstboot.service").read_text()
    assert "disable" not in units["foley-firstboot.service"].get("ExecStartPost", [""])[0]
    assert "NetworkManager.service" in firstboot.split("Before=")[1].splitlines()[0]


def test_the_capture_daemon_may_open_usb_and_csi_cameras_and_the_button():
    capture = settings(REPO / "systemd" / "foley-capture.service")
    # USB camera: /dev/video*; CSI camera (libcamera): also /dev/media* and /dev/dma_heap/*;
    # the button (lgpio): /dev/gpiochip4 on a Pi 5 with an older kernel, /dev/gpiochip0 otherwise.
    assert {"char-video4linux rw", "char-media rw", "char-dma_heap rw", "char-gpiochip rw"} <= set(capture["DeviceAllow"])
    assert not any("alsa" in device for device in capture["DeviceAllow"]), "the capture daemon plays no sound"
    assert "audio" not in capture["SupplementaryGroups"][0].split()
    assert capture["RestrictRealtime"] == ["yes"], "the capture daemon asks for no real-time scheduling"
    assert HARDENING.items() <= capture.items()


def test_units_exist():
    assert {u.name for u in UNITS} == {"foley-web.service", "foley-capture.service", "foley-firstboot.service"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
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
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}", str(units / unit.name)],
                            capture_output=True, text=True, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if unit.name in line or "foley" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
