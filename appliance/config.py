"""The appliance's configuration: one strict, typed object.

Loaded from /etc/foley/config.yaml (or `--config FILE`); every key is optional and falls back to
the default documented on its field. An unknown key or a value of the wrong type is an error
that names the key and lists what is allowed — a typo must never be silently ignored on a box
without a screen.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import types
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

import yaml

from appliance.errors import UsageError, is_number

log = logging.getLogger("foley.config")

DEFAULT_PATH = Path("/etc/foley/config.yaml")
MB = 1024 * 1024
"""Bytes in the settings' MB (…_mb): one unit for every check of one setting, so `foley doctor`,
the camera daemon and the service agree on where "under min_free_mb" starts."""


@dataclass(frozen=True)
class Range:
    """Inclusive bounds of a numeric config field (`Annotated[int, Range(1, 65535)]`)."""

    low: float
    high: float

    def check(self, value, name: str):
        """`value` if it lies within the bounds (NaN never does), else a UsageError naming it."""
        if not self.low <= value <= self.high:
            raise UsageError(f"{name} must be between {self.low} and {self.high}, not {value!r}")
        return value


def field_range(cls, name: str) -> Range:
    """The Range a config field is annotated with, for the same setting given another way (a
    command-line option, a request's field): one bound for all of them."""
    hint = typing.get_type_hints(cls, include_extras=True)[name]
    return next(bound for bound in typing.get_args(hint)[1:] if isinstance(bound, Range))


@dataclass(frozen=True)
class ServiceConfig:
    host: str = "0.0.0.0"
    """Address the web service listens on (0.0.0.0: the whole LAN)."""
    port: Annotated[int, Range(1, 65535)] = 8080
    """TCP port of the web page and API (the board's config, written by scripts/install.sh, sets 80;
    its unit grants the service the right to listen there)."""
    max_upload_mb: Annotated[int, Range(1, 100_000)] = 200
    """Largest accepted upload; bigger requests get 413. Less where the temporary folder could
    never hold one (service/body_room.py `upload_limit`; `foley doctor` warns)."""
    threads: Annotated[int, Range(1, 64)] = 4
    """WSGI worker threads (requests served at once)."""
    max_waiters: Annotated[int, Range(0, 1000)] = 20
    """`?wait=1` requests waiting at once (each holds a request thread of its own, on top of
    `threads`); beyond it they get 503 with Retry-After."""
    connection_limit: Annotated[int, Range(16, 1_000_000)] = 2000
    """Open connections accepted at once (slow clients included); the open-file limit is
    raised to match."""
    header_timeout: Annotated[float, Range(1, 3600)] = 10.0
    """A request whose headers are still incomplete after this long is closed (slow-header
    clients)."""
    idle_timeout: Annotated[float, Range(1, 86_400)] = 60.0
    """An idle connection (keep-alive, or one that sends nothing) is closed after this long."""
    min_body_rate_kb: Annotated[int, Range(1, 1_000_000)] = 64
    """A request body must arrive within max(idle_timeout, its length / this many KB a second)
    of its headers, or its connection is closed (service/server.py): a byte now and then keeps a
    connection from ever being idle, and a body holds its room in the temporary folder."""
    min_free_mb: Annotated[int, Range(0, 1_000_000)] = 200
    """Uploads (clips, sounds) are refused with 507 when the state folder's disk would keep less
    free space than this after the work they bring; and a request body is refused from its
    headers when the temporary folder, where it is received, would (service/body_room.py)."""
    old_jobs_make_room: bool = True
    """When the state folder's free space falls under min_free_mb (or capture.min_free_mb, the
    larger) plus room for one more upload of max_upload_mb, the oldest finished or failed jobs
    are removed until there is room again, after the cached results, if removing them can free
    it; a job that ended in the last 10 minutes stays (service/retention.py): the appliance goes
    on taking clips and recordings. False: uploads get 507 and the camera refuses to record
    until jobs are deleted by hand."""
    keep_jobs_days: Annotated[float | None, Range(0.01, 36_500)] = None
    """Finished or failed jobs are removed this many days after they ended, whatever the space
    (checked every few seconds). Empty: kept until their room is needed (old_jobs_make_room)."""
    keep_removed_sounds_hours: Annotated[float, Range(0, 87_600)] = 24.0
    """A sound removed from the library keeps its recording at least this long, and after it as
    long as a job in the history uses it (its edits need it); then the recording is deleted
    (service/retired_sounds.py). The wait covers scoring that read the library before the removal."""
    allowed_hosts: tuple[str, ...] = ()
    """Names (or addresses) besides this machine's own that clients may use in the Host header,
    e.g. a DNS alias or a NAT's address; requests naming any other host get 421."""


@dataclass(frozen=True)
class QueueConfig:
    backend: Literal["sqlite", "redis"] = "sqlite"
    """`sqlite` (one board, embedded) or `redis` (a fleet of boards sharing a broker)."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """The broker for `backend: redis`."""
    max_waiting: Annotated[int, Range(1, 100_000)] = 20
    """Jobs allowed to wait; beyond it new requests get 503 with Retry-After."""
    workers: Annotated[int, Range(1, 64)] = 1
    """Scoring jobs run at once on this board (each uses the encoders' threads)."""
    max_attempts: Annotated[int, Range(1, 100)] = 2
    """A job interrupted by a crash is re-run until it has been started this many times."""
    stale_seconds: Annotated[float, Range(1, 86_400)] = 300.0
    """A running job with no progress for this long has lost its worker (another board that
    died, say): the front end queues it again."""
    frontend_url: str | None = None
    """On a worker board that does not share the front end's disk: the front end's address
    (e.g. http://foley-main.local); uploads and results then travel over HTTP."""
    frontend_token: str | None = None
    """The front end's API token (its `api-token` file), for `frontend_url`."""


@dataclass(frozen=True)
class EngineConfig:
    max_seconds: Annotated[float, Range(1, 86_400)] = 600.0
    """Longest clip accepted (seconds)."""
    target_lufs: Annotated[float, Range(-70, 0)] = -20.0
    """Loudness of the finished track."""


CAMERAS = "auto, v4l2, v4l2:/dev/videoN, csi or file:PATH"


def camera_problem(spec: str) -> str | None:
    """What is wrong with a capture.camera setting's form, or None (whether its device or file is
    there is the camera's business, when it opens)."""
    kind, sep, argument = spec.partition(":")
    if kind in ("auto", "csi") and not sep or kind == "v4l2" or kind == "file" and argument:
        return None
    return f"unknown camera {spec!r}; use {CAMERAS}"


@dataclass(frozen=True)
class CaptureConfig:
    camera: str = "auto"
    """`auto` (a USB camera if one is plugged in, else the Pi's CSI camera, else the file camera),
    `v4l2` or `v4l2:/dev/videoN` (USB/V4L2 through OpenCV), `csi` (picamera2), or `file:PATH`
    (loops a video at its own frame rate)."""
    width: Annotated[int, Range(16, 7680)] = 1280
    """Requested frame width (the camera may give another size)."""
    height: Annotated[int, Range(16, 4320)] = 720
    fps: Annotated[float, Range(1, 240)] = 30.0
    """Requested frame rate. The event model was fitted on 15-32 fps footage, mostly 25-30; at
    half of 30 fps it places its sounds no better than frame-difference peaks (docs/models.md)."""
    preroll_seconds: Annotated[float, Range(0, 60)] = 2.0
    """Seconds before the trigger that are kept and start the clip."""
    record_seconds: Annotated[float, Range(0.5, 3600)] = 10.0
    """Length of a recording when it is not stopped earlier."""
    max_record_seconds: Annotated[float, Range(0.5, 3600)] = 120.0
    """Longest recording a trigger may ask for."""
    min_clip_seconds: Annotated[float, Range(0, 3600)] = 1.0
    """A recording cut shorter than this (camera lost) is discarded, with the reason logged."""
    stall_seconds: Annotated[float, Range(0.1, 600)] = 2.0
    """No frame for this long: the watchdog closes and reopens the camera."""
    min_free_mb: Annotated[int, Range(0, 1_000_000)] = 200
    """Recording is refused when the state directory's disk has less free space than this."""
    preview_fps: Annotated[float, Range(0.5, 60)] = 5.0
    """Most frames a second the live preview sends."""
    jpeg_quality: Annotated[int, Range(1, 100)] = 80
    """Quality of the pre-roll and preview JPEGs."""
    score_while_recording: bool = True
    """Make each recording's result in the capture daemon while it is recorded (its sounds
    decided, mixed and encoded as it goes: capture/scoring.py), ready moments after the stop;
    costs the daemon the engine's memory (text and vision models). Off: the service's worker
    scores the clip after the stop."""
    button_pin: Annotated[int | None, Range(0, 27)] = None
    """BCM number of the GPIO record button (None: no button)."""
    button_bounce_ms: Annotated[int, Range(0, 10_000)] = 50
    """Contact bounce ignored after an edge."""
    button_hold_seconds: Annotated[float, Range(0.1, 60)] = 2.0
    """Holding the button this long cancels the recording."""

    def __post_init__(self) -> None:
        """Settings that each pass their range but cannot work together are refused at load: a
        camera named wrongly made `foley serve --capture` restart its camera child every second,
        and a default length over the longest allowed refused every recording of the button."""
        problem = camera_problem(self.camera)
        if problem:
            raise UsageError(f"config key 'capture.camera': {problem}")
        if self.record_seconds > self.max_record_seconds:
            raise UsageError(f"config key 'capture.record_seconds' ({self.record_seconds:g}) must not exceed "
                             f"'capture.max_record_seconds' ({self.max_record_seconds:g})")

    def within(self, engine_max_seconds: float) -> "CaptureConfig":
        """These settings with the recordings held to what the service scores: a clip (pre-roll
        and a second's margin included) no longer than engine.max_seconds. A longer one that went
        through the outbox was refused by the service (415) and sat in rejected/. Unchanged when
        the engine takes the longest recording already."""
        longest = engine_max_seconds - self.preroll_seconds - 1.0
        if self.max_record_seconds <= longest:
            return self
        longest = max(0.5, longest)
        return replace(self, max_record_seconds=longest, record_seconds=min(self.record_seconds, longest))


@dataclass(frozen=True)
class LiveConfig:
    output: Literal["sounddevice", "seam"] = "sounddevice"
    """`sounddevice` (the sound card through PortAudio; without one, live mode says so and runs
    on the seam) or `seam` (no sound card: blocks timed at a device's pace, not heard; CI)."""
    device: str | int | None = None
    """PortAudio output device: its number or part of its name (`foley live --list-devices`;
    e.g. "Headphones" for the Pi's 3.5 mm jack, "vc4-hdmi", "USB"); None: the system default.
    A number is kept as its text, as `foley live --device 1` gives it."""
    period: Annotated[int, Range(64, 4096)] = 256
    """Frames per audio block (256 = 5.3 ms at 48 kHz)."""
    periods: Annotated[int, Range(2, 16)] = 3
    """Blocks of buffer in the device: more survives a busier CPU without underruns, at
    period/48 kHz more latency each."""
    voices: Annotated[int, Range(1, 64)] = 16
    """Sounds ringing at once; past it a new sound chokes the oldest."""
    latency_budget_ms: Annotated[float, Range(20, 2000)] = 150.0
    """A sound that would reach the speaker later than this after its action is dropped (and
    counted), not played late."""
    vision_refresh_seconds: Annotated[float, Range(0.5, 600)] = 3.0
    """The scene is read again this often (and at once when the picture changes)."""
    max_record_seconds: Annotated[float, Range(1, 7200)] = 600.0
    """Longest recording of a live performance from the page (Record while live); it stops
    by itself then, and is filed in the history."""

    def __post_init__(self) -> None:
        if isinstance(self.device, int):
            object.__setattr__(self, "device", str(self.device))


@dataclass(frozen=True)
class Config:
    state_dir: str | None = None
    """Writable state (jobs, results, cache, user sounds, token); default as appliance.paths."""
    service: ServiceConfig = field(default_factory=ServiceConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    live: LiveConfig = field(default_factory=LiveConfig)

    def __post_init__(self) -> None:
        """state_dir as an absolute folder: every process (the units, a shell) must find the same
        one, and a relative path (or `~`, each user's own home) would follow each one's."""
        if self.state_dir is not None and not os.path.isabs(self.state_dir):
            raise UsageError(f"config key 'state_dir' must be an absolute folder, not {self.state_dir!r}")


RETIRED_KEYS = {
    "capture.prewarm_vision": "the capture daemon now scores a recording while it is recorded; "
                              "capture.score_while_recording turns that off",
}
"""Keys earlier versions took, ignored with a warning saying what replaced them: a config file
written for an older version must not keep the upgraded service from starting (its units do
not restart after a refused config). Any other unknown key is refused: it is a typo."""


def _build(cls, data, where: str):
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise UsageError(f"{where.rstrip('.') or 'config'}: expected a mapping of keys, got {type(data).__name__}")
    hints = typing.get_type_hints(cls, include_extras=True)
    known = {f.name for f in dataclasses.fields(cls)}
    for retired in sorted(str(key) for key in set(data) - known if f"{where}{key}" in RETIRED_KEYS):
        log.warning("config key %r is no longer used and is ignored: %s; remove it from the config",
                    where + retired, RETIRED_KEYS[where + retired])
        data = {key: value for key, value in data.items() if key != retired}
    unknown = sorted(str(key) for key in set(data) - known)  # `1:` or `~:` are keys too, not names
    if unknown:
        raise UsageError(f"unknown config key {where + unknown[0]!r}; allowed: {', '.join(sorted(known))}")
    values = {}
    for name, value in data.items():
        expected = hints[name]
        if dataclasses.is_dataclass(expected):
            values[name] = _build(expected, value, f"{where}{name}.")
        else:
            values[name] = _checked(value, expected, f"{where}{name}")
    return cls(**values)


TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text", type(None): "empty"}
"""How a config error names the type it wanted: for the person editing the YAML, not Python's names."""


def _checked(value, expected, key: str):
    if typing.get_origin(expected) is Annotated:
        base, *constraints = typing.get_args(expected)
        value = _checked(value, base, key)
        for bound in constraints:
            if isinstance(bound, Range) and value is not None:
                bound.check(value, f"config key {key!r}")
        return value
    if typing.get_origin(expected) is Literal:
        allowed = typing.get_args(expected)
        if value in allowed and isinstance(value, str):
            return value
        raise UsageError(f"config key {key!r} must be {' or '.join(repr(a) for a in allowed)}, not {value!r}")
    if typing.get_origin(expected) is tuple:  # tuple[str, ...]: a YAML list of strings
        item = typing.get_args(expected)[0]
        if isinstance(value, (list, tuple)) and all(isinstance(v, item) for v in value):
            return tuple(value)
        raise UsageError(f"config key {key!r} must be a list of {'text entries' if item is str else item.__name__}, not {value!r}")
    allowed = typing.get_args(expected) if isinstance(expected, types.UnionType) else (expected,)
    if value is None and type(None) in allowed:
        return None
    for kind in allowed:
        if kind is float and is_number(value):
            return float(value)
        if kind is not type(None) and isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value
    names = " or ".join(TYPE_WORDS.get(k, k.__name__) for k in allowed)
    raise UsageError(f"config key {key!r} must be {names}, not {value!r}")


class _UniqueKeysLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (safe_load keeps the last
    one silently: a second `service:` block would drop the first without a word)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`: keys given here override those
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice (line {key_node.start_mark.line + 1})",
                    key_node.start_mark)
            if isinstance(key, typing.Hashable):
                seen.add(key)
        return super().construct_mapping(node, deep)


def load_config(path: Path | None = None) -> Config:
    """The config from `path`, else /etc/foley/config.yaml if present, else the defaults."""
    if path is None and not DEFAULT_PATH.is_file():
        return Config()
    path = Path(path or DEFAULT_PATH)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeysLoader)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such config file") from None
    except OSError as exc:  # a folder, no permission
        raise UsageError(f"{path}: cannot read the config file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: the config file is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML ({_yaml_problem(exc)})") from None
    try:
        return _build(Config, data, "")
    except UsageError as exc:  # which file: /etc/foley/config.yaml is read without being named
        raise UsageError(f"{path}: {exc}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's cause and place ("found character '\\t' that cannot start any token, line 2,
    column 1"): its message's first line alone ("while scanning for the next token") said neither."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


def load_and_apply(path: str | None, keep_environment: bool = False) -> Config:
    """The config (`path`, else /etc/foley/config.yaml if present) loaded, and its state_dir (if
    set) made the state directory of everything in this process and its children. Every command
    applies it (appliance/cli.py), so `foley record` or `foley library add` work the state the
    service uses. `keep_environment`: a FOLEY_STATE_DIR already set (a test's, a user's) wins
    over a file the command line did not name."""
    config = load_config(Path(path) if path else None)
    if config.state_dir and not (keep_environment and os.environ.get("FOLEY_STATE_DIR")):
        os.environ["FOLEY_STATE_DIR"] = config.state_dir
    return config
