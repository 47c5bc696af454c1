"""`foley firstboot /boot/firmware/foley.txt`: apply the boot partition's settings file.

The file is commented key=value lines a user edits on the card's boot partition before the
first boot (hostname, Wi-Fi, timezone, API token). Every line is checked on its own: a bad
line is reported with its number and reason and skipped, the good ones are applied, and the
board still boots — a typo must not brick a headless box. Afterwards the file is renamed
`foley.txt.applied` with the Wi-Fi password removed, so the secret does not stay on the FAT
partition; a new foley.txt is applied on the next boot the same way (a new API token, another
network). All writes go below `root` (default "/"), atomically, which is also what the tests
use: a temporary root tree.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from appliance.atomic import atomic_open
from appliance.service.auth import TOKEN_FILE

HOSTNAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
KEYS = ("hostname", "wifi_ssid", "wifi_password", "wifi_country", "timezone", "api_token")


@dataclass
class Report:
    applied: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse(text: str, report: Report, root: Path) -> dict[str, str]:
    settings: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        problem = _check(key, value, root) if sep else "not a key=value line"
        if problem:
            report.problems.append(f"line {number}: {problem}")
        else:
            settings[key] = value
    if ("wifi_ssid" in settings) != ("wifi_password" in settings):
        report.problems.append("wifi_ssid and wifi_password go together: Wi-Fi left unchanged")
        settings.pop("wifi_ssid", None)
        settings.pop("wifi_password", None)
    return settings


def _check(key: str, value: str, root: Path) -> str | None:
    if key not in KEYS:
        return f"unknown key {key!r} (known: {', '.join(KEYS)})"
    if not value:
        return f"{key} has no value"
    if key == "hostname" and not HOSTNAME.match(value):
        return f"hostname {value!r}: use lowercase letters, digits and '-' (at most 63)"
    if key == "timezone" and not (root / "usr/share/zoneinfo" / value).is_file():
        return f"unknown timezone {value!r} (e.g. Europe/London)"
    if key == "wifi_country" and not re.fullmatch(r"[A-Z]{2}", value):
        return f"wifi_country {value!r}: a two-letter country code such as GB"
    if key == "wifi_ssid" and len(value.encode()) > 32:
        return "wifi_ssid has more than 32 bytes (the most a Wi-Fi network name has)"
    if key == "wifi_password" and not 8 <= len(value) <= 63:
        return "wifi_password must have 8 to 63 characters (WPA2)"
    if key == "api_token" and value != "generate" and not TOKEN.match(value):
        return "api_token must be 'generate' or 16-128 letters, digits, '-' or '_'"
    return None


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, mode=mode) as handle:
        handle.write(text)


def apply(settings: dict[str, str], root: Path, state: Path, report: Report) -> None:
    etc = root / "etc"
    if "hostname" in settings:
        name = settings["hostname"]
        _write(etc / "hostname", name + "\n")
        hosts = (etc / "hosts").read_text() if (etc / "hosts").is_file() else "127.0.0.1\tlocalhost\n"
        kept = [line for line in hosts.splitlines() if not line.startswith("127.0.1.1")]
        _write(etc / "hosts", "\n".join(kept + [f"127.0.1.1\t{name}"]) + "\n")
        report.applied.append(f"hostname {name} (mDNS: {name}.local)")
    if "timezone" in settings:
        _write(etc / "timezone", settings["timezone"] + "\n")
        link = etc / "localtime"
        link.unlink(missing_ok=True)
        link.symlink_to(f"/usr/share/zoneinfo/{settings['timezone']}")
        report.applied.append(f"timezone {settings['timezone']}")
    if "wifi_ssid" in settings:
        ssid, password = keyfile_value(settings["wifi_ssid"]), keyfile_value(settings["wifi_password"])
        _write(etc / "NetworkManager/system-connections/foley-wifi.nmconnection",
               f"[connection]\nid=foley-wifi\ntype=wifi\nautoconnect=true\n\n[wifi]\nmode=infrastructure\n"
               f"ssid={ssid}\n\n[wifi-security]\nkey-mgmt=wpa-psk\npsk={password}\n\n"
               f"[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\n", mode=0o600)
        report.applied.append(f"Wi-Fi network {ssid!r}")
    if "wifi_country" in settings:
        report.applied.append(wifi_country(settings["wifi_country"], root))
    if "api_token" in settings:
        token_path = state / TOKEN_FILE
        if settings["api_token"] == "generate":
            token_path.unlink(missing_ok=True)  # the service makes a fresh one on its first start
            report.applied.append("API token: a new one is generated when the service starts")
        else:
            _write(token_path, settings["api_token"] + "\n", mode=0o600)
            report.applied.append("API token set from the file")


def keyfile_value(text: str) -> str:
    """`text` as a value of NetworkManager's keyfile (GLib's key file format), where a backslash
    is an escape: a password "pa\\ssword1" was read as "pa sword1", and "\\q" made the file
    unreadable. (Values never start with white space: foley.txt's are stripped.)"""
    return text.replace("\\", "\\\\")


REGDOM = re.compile(r"\s*\bcfg80211\.ieee80211_regdom=\S*")


def wifi_country(country: str, root: Path) -> str:
    """Set the Wi-Fi regulatory country the way Raspberry Pi OS does: the kernel's
    `cfg80211.ieee80211_regdom=` on the boot command line (from the next boot), and the radio
    unblocked — the OS keeps Wi-Fi switched off (systemd's saved rfkill state, NetworkManager's
    WirelessEnabled) until a country is set. /etc/default/crda, written before, is read by
    nothing on bookworm or trixie."""
    done = []
    cmdline = root / "boot/firmware/cmdline.txt"
    if cmdline.is_file():
        words = REGDOM.sub("", cmdline.read_text()).split()  # one line: the firmware reads no other
        _write(cmdline, " ".join([*words, f"cfg80211.ieee80211_regdom={country}"]) + "\n")
        done.append("the regulatory domain from the next boot")
    saved = sorted((root / "var/lib/systemd/rfkill").glob("*:wlan"))
    for state in saved:
        _write(state, "0\n")
    networkmanager = root / "var/lib/NetworkManager/NetworkManager.state"
    if networkmanager.is_file() and "WirelessEnabled=false" in networkmanager.read_text():
        _write(networkmanager, networkmanager.read_text().replace("WirelessEnabled=false", "WirelessEnabled=true"))
        saved.append(networkmanager)
    if saved:
        done.append("the radio unblocked")
    return f"Wi-Fi country {country}" + (f" ({', '.join(done)})" if done else " (no Wi-Fi settings of the OS found)")


def run(settings_file: Path, root: Path, state: Path) -> Report:
    report = Report()
    # utf-8-sig: Windows Notepad starts the file with a byte-order mark, which made the first key
    # unknown ("\ufeffwifi_ssid": Wi-Fi silently left unset) and kept a first-line password.
    text = settings_file.read_text(encoding="utf-8-sig", errors="replace")
    apply(parse(text, report, root), root, state, report)
    scrubbed = re.sub(r"(?m)^(\s*(?:wifi_password|api_token)\s*=).*$", r"\1 (removed after first boot)", text)
    _write(settings_file.with_name(settings_file.name + ".applied"), scrubbed)
    os.unlink(settings_file)
    return report


def handle(args) -> int:
    from appliance.paths import state_dir

    settings_file = Path(args.file)
    if not settings_file.is_file():
        print(f"foley firstboot: {settings_file} not found; nothing to apply")
        return 0
    root = Path(args.root)
    # Under another root (a card's tree, the tests) the token goes where that board's service reads it.
    state = state_dir() if root == Path("/") else root / "var/lib/foley"
    report = run(settings_file, root, state)
    for line in report.applied:
        print(f"applied: {line}")
    for line in report.problems:
        print(f"skipped: {line}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("firstboot", help="apply /boot/firmware/foley.txt (at boot, when the file is there)")
    parser.add_argument("file", nargs="?", default="/boot/firmware/foley.txt",
                        help="the first-boot settings file (default /boot/firmware/foley.txt)")
    parser.add_argument("--root", default="/", help="the system root to change (tests use a temporary tree); "
                                                    "the token then goes to its var/lib/foley")
    parser.set_defaults(handler=handle, config_optional=True)
