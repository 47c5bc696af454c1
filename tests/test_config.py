"""The config file is strict: unknown keys and wrong types are clear errors, never ignored."""
from __future__ import annotations

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
    ("service:\n  port: eighty\n", "'service.port' must be int"),
    ("service:\n  port: true\n", "'service.port' must be int"),
    ("service: [1, 2]\n", "service: expected a mapping"),
    ("queue:\n  backend: kafka\n", "'queue.backend' must be 'sqlite' or 'redis'"),
    ("service: {port: 1\n", "not valid YAML"),
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


def test_allowed_hosts_is_a_list_of_names(tmp_path):
    config = load_config(write(tmp_path, "service:\n  allowed_hosts: [foley.home.arpa, 10.0.0.5]\n"))
    assert config.service.allowed_hosts == ("foley.home.arpa", "10.0.0.5")
    with pytest.raises(UsageError, match="'service.allowed_hosts' must be a list of str"):
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
])
def test_config_values_are_constrained(tmp_path, text, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        load_config(write(tmp_path, text))


def test_constrained_values_in_range_load(tmp_path):
    config = load_config(write(tmp_path, "capture:\n  button_pin: null\n  fps: 25\nqueue:\n  backend: redis\n"))
    assert config.capture.button_pin is None and config.capture.fps == 25.0 and config.queue.backend == "redis"
