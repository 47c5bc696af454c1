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
    (root / "var/lib/foley").mkdir(parents=True)
    (root / "var/lib/foley/api-token").write_text("old-token-from-the-image\n")
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
    assert not (root / "var/lib/foley/api-token").exists(), "a fresh token is generated on the service's start"
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
    token = root / "var/lib/foley/api-token"  # the board's, inside the root: not the caller's own state
    assert token.read_text() == "abcdefghijklmnop1234\n" and stat.S_IMODE(token.stat().st_mode) == 0o600
    assert not (isolated_state / "api-token").exists()
    assert "abcdefghijklmnop1234" not in settings.with_name("foley.txt.applied").read_text(), \
        "the token is not left on the card's FAT partition, which every user can read"
    assert run_foley("firstboot", str(tmp_path / "absent.txt"), "--root", str(root)).returncode == 0


def test_a_file_saved_by_notepad_and_a_password_with_a_backslash(tmp_path, isolated_state):
    """A byte-order mark before the first key (Windows Notepad) made it unknown: Wi-Fi was left
    unset and a password on the first line stayed in the renamed file. A backslash in a password
    is an escape in NetworkManager's keyfile: written as it is, "pa\\ssword1" was read "pa sword1"."""
    root = make_root(tmp_path)
    settings = tmp_path / "foley.txt"
    settings.write_bytes("wifi_password=pa\\ssword1\r\nwifi_ssid=Home\r\n".encode("utf-8-sig"))
    result = run_foley("firstboot", str(settings), "--root", str(root))
    assert result.returncode == 0 and "skipped" not in result.stdout, result.stdout
    wifi = (root / "etc/NetworkManager/system-connections/foley-wifi.nmconnection").read_text()
    assert "psk=pa\\\\ssword1\n" in wifi and "ssid=Home\n" in wifi
    assert "ssword1" not in settings.with_name("foley.txt.applied").read_text()


def test_wifi_country_is_set_as_the_os_sets_it_with_or_without_a_network(tmp_path, isolated_state):
    """It went to /etc/default/crda, which nothing on bookworm or trixie reads, and only along
    with a network: the kernel's regulatory domain and the blocked radio were left as they were."""
    root = make_root(tmp_path)
    cmdline = root / "boot/firmware/cmdline.txt"
    cmdline.parent.mkdir(parents=True)
    cmdline.write_text("console=tty1 root=PARTUUID=abc-02 rootwait cfg80211.ieee80211_regdom=US quiet\n\n")
    rfkill = root / "var/lib/systemd/rfkill"
    rfkill.mkdir(parents=True)
    (rfkill / "platform-fe300000.mmcnr:wlan").write_text("1\n")
    (rfkill / "platform-fe215040.serial:bluetooth").write_text("0\n")
    state = root / "var/lib/NetworkManager/NetworkManager.state"
    state.parent.mkdir(parents=True)
    state.write_text("[main]\nWirelessEnabled=false\n")
    settings = tmp_path / "foley.txt"
    settings.write_text(f"wifi_country=DE\nwifi_ssid={'x' * 33}\n")
    result = run_foley("firstboot", str(settings), "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert "applied: Wi-Fi country DE (the regulatory domain from the next boot, the radio unblocked)" in result.stdout
    assert "skipped: line 2: wifi_ssid has more than 32 bytes" in result.stdout
    assert cmdline.read_text() == "console=tty1 root=PARTUUID=abc-02 rootwait quiet cfg80211.ieee80211_regdom=DE\n"
    assert (rfkill / "platform-fe300000.mmcnr:wlan").read_text() == "0\n"
    assert state.read_text() == "[main]\nWirelessEnabled=true\n"
    assert not (root / "etc/default/crda").exists()

    # A new foley.txt on a later boot is applied too (the unit no longer disables itself).
    settings.write_text("wifi_country=FR\n")
    assert "Wi-Fi country FR" in run_foley("firstboot", str(settings), "--root", str(root)).stdout
    assert cmdline.read_text().count("regdom") == 1 and cmdline.read_text().endswith("regdom=FR\n")
