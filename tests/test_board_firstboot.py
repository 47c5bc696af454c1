"""First-boot settings: good lines applied, bad lines reported, the board still boots."""
from __future__ import annotations

import os
import stat

from tests.conftest import run_foley

GOOD_AND_BAD = """\
# Foley first-boot settings: uncomment and edit.
hostname=kitchen-foley
timezone=Europe/London
wifi_ssid=Home Network
wifi_password=correct horse battery
wifi_country=GB
api_token=generate
colour=blue
hostname2
timezone=Mars/Olympus
"""


def make_root(tmp_path):
    root = tmp_path / "root"
    (root / "usr/share/zoneinfo/Europe").mkdir(parents=True)
    (root / "usr/share/zoneinfo/Europe/London").write_bytes(b"TZif")
    (root / "etc").mkdir()
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n")
    return root


def test_good_lines_applied_bad_lines_reported(tmp_path, isolated_state):
    root = make_root(tmp_path)
    settings = tmp_path / "boot" / "foley.txt"
    settings.parent.mkdir()
    settings.write_text(GOOD_AND_BAD)
    isolated_state.mkdir(parents=True, exist_ok=True)
    (isolated_state / "api-token").write_text("old-token-from-the-image\n")
    result = run_foley("firstboot", str(settings), "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert "skipped: line 8: unknown key 'colour'" in result.stdout
    assert "skipped: line 9: not a key=value line" in result.stdout
    assert "skipped: line 10: unknown timezone 'Mars/Olympus'" in result.stdout
    assert (root / "etc/hostname").read_text() == "kitchen-foley\n"
    assert "127.0.1.1\tkitchen-foley" in (root / "etc/hosts").read_text()
    assert "raspberrypi" not in (root / "etc/hosts").read_text()
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Europe/London"
    wifi = root / "etc/NetworkManager/system-connections/foley-wifi.nmconnection"
    assert "ssid=Home Network" in wifi.read_text() and "psk=correct horse battery" in wifi.read_text()
    assert stat.S_IMODE(wifi.stat().st_mode) == 0o600
    assert not (isolated_state / "api-token").exists(), "a fresh token is generated on the service's start"
    assert not settings.exists()
    applied = settings.with_name("foley.txt.applied").read_text()
    assert "correct horse" not in applied and "hostname=kitchen-foley" in applied


def test_wifi_half_given_and_missing_file(tmp_path, isolated_state):
    root = make_root(tmp_path)
    settings = tmp_path / "foley.txt"
    settings.write_text("wifi_ssid=Lonely\napi_token=abcdefghijklmnop1234\n")
    result = run_foley("firstboot", str(settings), "--root", str(root))
    assert "wifi_ssid and wifi_password go together" in result.stdout
    assert not (root / "etc/NetworkManager").exists()
    token = isolated_state / "api-token"
    assert token.read_text() == "abcdefghijklmnop1234\n" and stat.S_IMODE(token.stat().st_mode) == 0o600
    assert run_foley("firstboot", str(tmp_path / "absent.txt"), "--root", str(root)).returncode == 0
