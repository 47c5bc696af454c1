"""The config file is strict: unknown keys and wrong types are clear errors, never ignored."""
from __future__ import annotations

import re

import pytest

from appliance.config import Config, load_config
from appliance.errors import UsageError


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_defaults_and_overrides(tmp_path):
    assert load_config(write(tmp_path, "")) == Config()
    config = load_config(write(tmp_path, "service:\n  port: 9000\nengine:\n  max_seconds: 30\nqueue:\n  backend: redis\n"))
    assert config.service.port == 9000 and config.engine.max_seconds == 30.0 and config.queue.backend == "redis"
    assert config.service.max_upload_mb == 200


@pytest.mark.parametrize("text,message", [
    ("servce:\n  port: 1\n", "unknown config key 'servce'; allowed: capture, engine, live, queue, service, state_dir"),
    ("service:\n  prot: 1\n", "unknown config key 'service.prot'"),
    ("service:\n  port: eighty\n", "'service.port' must be a whole number"),
    ("service:\n  port: true\n", "'service.port' must be a whole number"),
    ("service: [1, 2]\n", "service: expected a mapping"),
    ("queue:\n  backend: kafka\n", "'queue.backend' must be 'sqlite' or 'redis'"),
    ("service: {port: 1\n", "not valid YAML (expected ',' or '}', but got '<stream end>', line 2, column 1"),
    ("service:\n\tport: 1\n", "found character '\\\\t' that cannot start any token, line 2, column 1"),
    ("1: 2\n", "unknown config key '1'"),
    ("~: 1\n", "unknown config key 'None'"),
    ("service:\n  1: 2\n", "unknown config key 'service.1'"),
])
def test_bad_config_is_a_clear_error(tmp_path, text, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(write(tmp_path, text))


def test_missing_config_file(tmp_path):
    with pytest.raises(UsageError, match="no such config file"):
        load_config(tmp_path / "absent.yaml")


def test_a_folder_or_a_file_that_is_not_utf8_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="cannot read the config file"):
        load_config(tmp_path)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"engine:\n  max_seconds: 5  # caf\xe9\n")
    with pytest.raises(UsageError, match="not UTF-8 text"):
        load_config(latin)


def test_a_key_an_older_version_took_is_ignored_with_a_warning_saying_what_replaced_it(tmp_path, caplog):
    """An upgraded board kept its config with `capture.prewarm_vision` (removed in a later
    version): serve and capture refused it and, their units not restarting after a refused
    config, the page stayed down. A retired key is skipped with a warning; a typo is still refused."""
    config = load_config(write(tmp_path, "capture:\n  prewarm_vision: false\n  fps: 25\n"))
    assert config.capture.fps == 25.0
    assert "'capture.prewarm_vision' is no longer used" in caplog.text and "score_while_recording" in caplog.text
    with pytest.raises(UsageError, match="unknown config key 'capture.prewarm_visoin'"):
        load_config(write(tmp_path, "capture:\n  prewarm_visoin: false\n"))
    with pytest.raises(UsageError, match="unknown config key 'service.prewarm_vision'"):  # only where it was
        load_config(write(tmp_path, "service:\n  prewarm_vision: false\n"))


def test_allowed_hosts_is_a_list_of_names(tmp_path):
    config = load_config(write(tmp_path, "service:\n  allowed_hosts: [foley.home.arpa, 10.0.0.5]\n"))
    assert config.service.allowed_hosts == ("foley.home.arpa", "10.0.0.5")
    with pytest.raises(UsageError, match="'service.allowed_hosts' must be a list of text entries"):
        load_config(write(tmp_path, "service:\n  allowed_hosts: foley.home.arpa\n"))


@pytest.mark.parametrize("text,message", [
    ("service:\n  port: 0\n", "'service.port' must be between 1 and 65535, not 0"),
    ("service:\n  port: 70000\n", "'service.port' must be between 1 and 65535"),
    ("service:\n  threads: 0\n", "'service.threads' must be between 1 and 64"),
    ("capture:\n  fps: 0\n", "'capture.fps' must be between 1 and 240"),
    ("capture:\n  jpeg_quality: 101\n", "'capture.jpeg_quality' must be between 1 and 100"),
    ("capture:\n  button_pin: 40\n", "'capture.button_pin' must be between 0 and 27"),
    ("queue:\n  max_waiting: -1\n", "'queue.max_waiting' must be between 1 and 100000"),
    ("queue:\n  backend: 5\n", "'queue.backend' must be 'sqlite' or 'redis', not 5"),
    ("live:\n  output: alsa\n", "'live.output' must be 'sounddevice' or 'seam', not 'alsa'"),
    ("live:\n  period: 16\n", "'live.period' must be between 64 and 4096"),
    # Each in range, wrong together or in form: refused at load, not by the running daemon.
    ("capture:\n  camera: webcam\n", "'capture.camera': unknown camera 'webcam'; use auto, v4l2"),
    ("capture:\n  camera: 'file:'\n", "unknown camera 'file:'"),
    ("capture:\n  camera: 'csi:0'\n", "unknown camera 'csi:0'"),
    ("capture:\n  record_seconds: 200\n", "'capture.record_seconds' (200) must not exceed 'capture.max_record_seconds' (120)"),
    # A key given twice: the first was dropped without a word.
    ("service:\n  port: 1\nservice:\n  port: 2\n", "the key 'service' is given twice (line 3)"),
])
def test_config_values_are_constrained(tmp_path, text, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        load_config(write(tmp_path, text))


def test_an_error_in_a_value_names_the_file(tmp_path):
    """/etc/foley/config.yaml is read without being named on the command line."""
    path = write(tmp_path, "engine:\n  target_lufs: 5\n")
    with pytest.raises(UsageError, match=f"^{re.escape(str(path))}: config key 'engine.target_lufs' must be between"):
        load_config(path)


def test_cameras_numbers_and_merge_keys_that_load(tmp_path):
    config = load_config(write(tmp_path, "capture:\n  camera: v4l2:/dev/video2\n  record_seconds: 120\n"
                                         "live:\n  device: 1\n"))
    assert config.capture.camera == "v4l2:/dev/video2" and config.capture.record_seconds == 120.0
    assert config.live.device == "1"  # as `foley live --device 1` gives it (a number was refused)
    assert load_config(write(tmp_path, "live:\n  device: USB\n")).live.device == "USB"
    # A YAML merge may repeat a key on purpose: the one given here overrides the merged one.
    merged = "defaults: &d {port: 3, threads: 2}\nservice:\n  <<: *d\n  port: 4\n"
    with pytest.raises(UsageError, match="unknown config key 'defaults'"):  # merged, then judged as usual
        load_config(write(tmp_path, merged))


def test_constrained_values_in_range_load(tmp_path):
    config = load_config(write(tmp_path, "capture:\n  button_pin: null\n  fps: 25\nqueue:\n  backend: redis\n"))
    assert config.capture.button_pin is None and config.capture.fps == 25.0 and config.queue.backend == "redis"


def test_every_command_works_the_state_folder_the_config_names(tmp_path, monkeypatch):
    """state_dir was applied by the commands with --config only: `foley record` looked for the
    camera daemon, and `foley library add` wrote sounds, where the service does not."""
    from appliance import cli, config
    from appliance.paths import state_dir

    chosen = tmp_path / "state-from-config"
    monkeypatch.setattr(config, "DEFAULT_PATH", write(tmp_path, f"state_dir: {chosen}\n"))
    monkeypatch.delenv("FOLEY_STATE_DIR")
    assert cli.main(["cache", "stats"]) == 0
    assert state_dir() == chosen and (chosen / "cache").is_dir()
    # A FOLEY_STATE_DIR set for the command (a test's, a user's) wins over the file it did not name.
    monkeypatch.setenv("FOLEY_STATE_DIR", str(tmp_path / "mine"))
    assert cli.main(["cache", "stats"]) == 0 and state_dir() == tmp_path / "mine"


def test_first_boot_goes_on_when_the_config_does_not_load(tmp_path, monkeypatch, capsys):
    """A new foley.txt is how a headless board is reached again: a broken config.yaml must not stop it."""
    from appliance import cli, config

    monkeypatch.setattr(config, "DEFAULT_PATH", write(tmp_path, "capture:\n  record_seconds: 200\n"))
    assert cli.main(["cache", "stats"]) == 2
    settings = tmp_path / "foley.txt"
    settings.write_text("timezone=Mars/Olympus\n")
    assert cli.main(["firstboot", str(settings), "--root", str(tmp_path / "root")]) == 0
    err = capsys.readouterr().err
    assert "foley firstboot: going on without the config:" in err and "record_seconds" in err
    assert (tmp_path / "foley.txt.applied").exists()


def test_a_fraction_of_a_second_of_idle_time_is_not_cut(tmp_path):
    """Waitress takes whole seconds: 1.9 s became 1 s, shorter than the body deadline's."""
    from appliance.service.server import make_server
    from flask import Flask

    server = make_server(Flask("t"), load_config(write(tmp_path, "service:\n  idle_timeout: 1.2\n")), "127.0.0.1", 0)
    try:
        assert server.adj.channel_timeout == 2
    finally:
        server.close()


def test_the_state_folder_is_absolute(tmp_path, monkeypatch):
    """Every process must find the same folder: a relative one follows each one's working folder,
    `~` each user's home (the services' user's is not a shell user's)."""
    assert load_config(write(tmp_path, f"state_dir: {tmp_path}\n")).state_dir == str(tmp_path)
    for relative in ("foley-state", "''", "~/foley-state"):
        with pytest.raises(UsageError, match="'state_dir' must be an absolute folder"):
            load_config(write(tmp_path, f"state_dir: {relative}\n"))
    # FOLEY_STATE_DIR is one folder, whatever it holds; systemd's STATE_DIRECTORY may list several.
    from appliance.paths import state_dir
    monkeypatch.setenv("FOLEY_STATE_DIR", str(tmp_path / "a:b"))
    assert state_dir() == tmp_path / "a:b"
    monkeypatch.delenv("FOLEY_STATE_DIR")
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path / 'first'}:{tmp_path / 'second'}")
    assert state_dir() == tmp_path / "first"


def test_recordings_are_held_to_what_the_service_scores():
    """A button recording longer than engine.max_seconds went through the outbox to the service,
    which refused it (415): it sat in rejected/. The capture daemon's settings are held to the
    engine's limit (pre-roll and a second's margin included) where that is shorter."""
    from appliance.config import CaptureConfig

    capture = CaptureConfig(record_seconds=60, max_record_seconds=120, preroll_seconds=2)
    assert capture.within(600) is capture
    held = capture.within(30)
    assert (held.max_record_seconds, held.record_seconds) == (27, 27)
    assert held.max_record_seconds + held.preroll_seconds < 30
    assert CaptureConfig(record_seconds=10).within(30).record_seconds == 10
