"""The installer and SD-card image scripts, checked without building an image (that is
`make test-image`): they parse, shellcheck finds nothing at warning level, their options and
argument errors behave, a bad base image or an unknown Debian suite fails before anything is
attached or written, the stand-in is trixie (Python 3.13) unless bookworm is asked for, and the
files they ship (config.yaml, foley.txt.example, the SSH key unit) are valid for the code that
reads them."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess

import pytest

from appliance.board.firstboot import Report, parse
from appliance.config import load_config
from tests.conftest import REPO

SCRIPTS = sorted(REPO.glob("scripts/*.sh")) + sorted(REPO.glob("scripts/lib/*.sh"))
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="build-image.sh refuses to run without root")


def run(*args, env=None, timeout=60):
    return subprocess.run(["bash", *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def loop_devices() -> str:
    return subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_shellcheck_finds_no_warnings():
    result = subprocess.run(["shellcheck", "-x", "--severity=warning", *map(str, SCRIPTS)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("script", ["install.sh", "uninstall.sh", "build-image.sh", "make-standin-image.sh"])
def test_help(script):
    result = run(REPO / "scripts" / script, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("args, message", [
    (["--frobnicate"], "unknown argument --frobnicate"),
    (["--wheels"], "--wheels needs a folder"),
    (["--wheels", "/nonexistent/wheels"], "no such folder"),
])
def test_install_argument_errors(args, message):
    result = run(REPO / "scripts/install.sh", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr


@pytest.mark.parametrize("args, message", [
    ([], "no base image given"),
    (["/nonexistent/raspios.img.xz"], "no such file"),
    (["base.zip"], "must be a .img or .img.xz"),
    (["--url", "https://example.invalid/os.img.xz"], "--url needs --sha256"),
    (["--url", "https://example.invalid/os.img.xz", "--sha256", "abc"], "64 hex digits"),
    (["a.img", "b.img"], "only one base image"),
    (["--bogus"], "unknown option --bogus"),
])
def test_build_image_argument_errors(args, message, tmp_path):
    before = loop_devices()
    result = run(REPO / "scripts/build-image.sh", *args, "--out", tmp_path / "out")
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert not (tmp_path / "out").exists()
    assert loop_devices() == before


@pytest.mark.parametrize("suite, python", [("trixie", "3.13"), ("bookworm", "3.11")])
def test_each_suite_names_its_python(suite, python):
    result = run("-c", f". scripts/lib/image.sh; suite_python {suite}")
    assert (result.returncode, result.stdout.strip()) == (0, python), result.stderr


@pytest.mark.parametrize("script, args, env", [
    ("make-standin-image.sh", ["--suite", "bullseye"], {}),
    ("make-standin-image.sh", [], {"SUITE": "bullseye"}),
    ("test-image.sh", [], {"SUITE": "bullseye"}),
    ("check-aarch64.sh", [], {"SUITE": "bullseye"}),
])
def test_an_unknown_suite_is_refused_before_anything_is_done(script, args, env):
    before = loop_devices()
    result = run(REPO / "scripts" / script, *args, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{script}: unknown suite 'bullseye' (one of: trixie bookworm)" in result.stderr
    assert result.stdout == "" and loop_devices() == before


@pytest.mark.parametrize("args, env, suite", [
    ([], {}, "trixie"),
    ([], {"SUITE": "bookworm"}, "bookworm"),
    (["--suite", "bookworm"], {"SUITE": "trixie"}, "bookworm"),
])
def test_the_stand_in_is_trixie_unless_bookworm_is_asked_for(tmp_path, args, env, suite):
    """An existing stand-in is reused as it is; the message names the suite it was asked for."""
    image = tmp_path / "standin.img"
    image.write_bytes(b"")
    environment = {"SUITE": "", **env}
    result = run(REPO / "scripts/make-standin-image.sh", *args, image, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"stand-in image (Debian {suite}): {image} (cached; --force rebuilds it)"


@needs_root
def test_build_image_sha256_mismatch_leaves_nothing_behind(tmp_path):
    """A download (file:// here) that does not match --sha256 is refused with exit 1 before any
    loop device or output exists, and the download is not kept."""
    base = tmp_path / "raspios.img.xz"
    base.write_bytes(b"not really an image")
    wrong = hashlib.sha256(b"something else").hexdigest()
    cache, out = tmp_path / "cache", tmp_path / "out"
    before = loop_devices()
    result = run(REPO / "scripts/build-image.sh", "--url", base.as_uri(), "--sha256", wrong, "--out", out,
                 env={"FOLEY_IMAGE_CACHE": str(cache)})
    assert result.returncode == 1, result.stdout + result.stderr
    got = hashlib.sha256(base.read_bytes()).hexdigest()
    assert f"sha256 mismatch for {base.as_uri()}: expected {wrong}, got {got}" in result.stderr
    assert loop_devices() == before
    assert list(cache.iterdir()) == [] and list(out.iterdir()) == []


@needs_root
def test_build_image_local_base_checked_against_sha256(tmp_path):
    base = tmp_path / "raspios.img"
    base.write_bytes(b"\0" * 4096)
    result = run(REPO / "scripts/build-image.sh", base, "--sha256", "0" * 64, "--out", tmp_path / "out",
                 env={"FOLEY_IMAGE_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 1 and "sha256 mismatch" in result.stderr, result.stderr
    assert base.exists(), "a local base image is the user's: never deleted"
    assert list((tmp_path / "out").iterdir()) == []


def test_installed_config_is_valid(tmp_path):
    """The config.yaml install.sh writes loads with the appliance's strict loader (port 80)."""
    text = (REPO / "scripts/install.sh").read_text()
    body = re.search(r"cat > \"\$config\" <<'EOF'\n(.*?)\nEOF\n", text, re.S).group(1)
    path = tmp_path / "config.yaml"
    path.write_text(body)
    assert load_config(path).service.port == 80


def test_foley_txt_example_is_inactive_and_valid(tmp_path):
    """The template on the boot partition sets nothing as shipped; uncommented, every line is good."""
    text = (REPO / "scripts/image/foley.txt.example").read_text()
    root = tmp_path / "root"
    (root / "usr/share/zoneinfo/Europe").mkdir(parents=True)
    (root / "usr/share/zoneinfo/Europe/London").write_bytes(b"TZif")
    report = Report()
    assert parse(text, report, root) == {} and report.problems == []
    uncommented = "\n".join(line[1:] if re.match(r"#[a-z_]+=", line) else line for line in text.splitlines())
    settings = parse(uncommented, report, root)
    assert report.problems == []
    assert set(settings) == {"hostname", "wifi_ssid", "wifi_password", "wifi_country", "timezone", "api_token"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_sshkeys_unit_verifies(tmp_path):
    root = tmp_path / "root"
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    shutil.copy(REPO / "scripts/image/foley-sshkeys.service", units)
    keygen = root / "usr/bin/ssh-keygen"
    keygen.parent.mkdir(parents=True)
    keygen.write_text("#!/bin/sh\n")
    keygen.chmod(0o755)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}", str(units / "foley-sshkeys.service")],
                            capture_output=True, text=True, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "foley" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


@pytest.mark.parametrize("user, state", [("someone-else", None), ("{me}", "/var/lib/foley")])
def test_the_shell_command_takes_the_services_models_and_as_their_user_their_state(tmp_path, user, state):
    """/usr/local/bin/foley (scripts/foley-shell.sh): without it a shell on the board had no
    `foley`, no models (the venv's fallback folder is empty) and, as the services' user, not
    their state or camera daemon's socket (`foley record --status` said the daemon was down)."""
    me = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    text = (REPO / "scripts/foley-shell.sh").read_text()
    assert 'exec /opt/foley/venv/bin/foley "$@"' in text and '= foley ]' in text
    wrapper = tmp_path / "foley"  # the same script, running `env` as the command, `me` as the services' user
    wrapper.write_text(text.replace("/opt/foley/venv/bin/foley", "/usr/bin/env")
                       .replace("= foley ]", f"= {user.format(me=me)} ]"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLEY_") and not k.endswith("_DIRECTORY")}
    shown = dict(line.split("=", 1) for line in subprocess.run(
        ["sh", str(wrapper)], capture_output=True, text=True, env=env, check=True).stdout.splitlines() if "=" in line)
    assert shown["FOLEY_MODELS_DIR"] == "/opt/foley/src/models"
    # As systemd gives the units their folders: a state_dir in /etc/foley/config.yaml still wins.
    assert shown.get("STATE_DIRECTORY") == state and "FOLEY_STATE_DIR" not in shown
    assert shown.get("RUNTIME_DIRECTORY") == (state and "/run/foley")
    install = (REPO / "scripts/install.sh").read_text()
    assert '"$dest/scripts/foley-shell.sh" /usr/local/bin/foley' in install
