"""`foley doctor`: is this installation able to work? Versions, model files, one inference each,
a generated clip decoded, the state folder (writable, free space), the temporary folder (room
for an upload of service.max_upload_mb) and the service's port.

Meant for the first minute after flashing a card or upgrading: every check prints one line,
and the exit code is non-zero when any fails, so scripts (and the aarch64 check) can rely on it.
"""
from __future__ import annotations

import errno
import json
import platform
import socket
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Callable

from appliance import __version__
from appliance.config import MB, ServiceConfig, field_range, load_and_apply
from appliance.errors import ModelFileError, UsageError
from appliance.inference.manifest import load_manifest, verify
from appliance.inference.sessions import default_threads
from appliance.paths import models_dir, state_dir

DECODE_CHECK_SECONDS = 1.0


def versions() -> dict[str, str]:
    """Versions of the pieces whose mismatch is most likely to explain a failure."""
    from importlib.metadata import version

    import cv2
    import numpy
    import onnxruntime
    import soundfile

    return {
        "foley": __version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} ({platform.system()} {platform.release()})",
        "onnxruntime": onnxruntime.__version__,
        "onnxruntime-extensions": version("onnxruntime-extensions"),  # the package import is heavy
        "numpy": numpy.__version__,
        "opencv": cv2.__version__,
        "libsndfile": soundfile.__libsndfile_version__,
    }


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def check_text_encoder() -> str:
    from appliance.inference import text_encoder

    encoder = text_encoder()
    encoder.embed("warm up")
    latency = _timed(lambda: encoder.embed("footsteps on gravel"))
    return f"text encoder runs: 384-d embedding in {latency:.1f} ms"


def check_vision_encoder() -> str:
    import numpy as np

    from appliance.inference import vision_encoder

    encoder = vision_encoder()
    frame = np.full((240, 320, 3), 128, dtype=np.uint8)
    encoder.embed([frame])
    latency = _timed(lambda: encoder.embed([frame]))
    return f"vision encoder runs: 1280-d embedding + 1000 logits in {latency:.1f} ms"


def check_video_decoding() -> str:
    """Render a short clip with the bundled FFmpeg and decode it as scoring does."""
    from appliance.video import iter_frames
    from appliance.video.synthetic import render_scene

    with tempfile.TemporaryDirectory(prefix="foley-doctor-") as folder:
        clip = render_scene("stick", Path(folder) / "check.mp4", width=160, height=120, seconds=DECODE_CHECK_SECONDS)
        start = time.perf_counter()
        frames = sum(1 for _ in iter_frames(clip.path))
        took = (time.perf_counter() - start) * 1000
    expected = round(DECODE_CHECK_SECONDS * clip.fps)
    if frames != expected:
        raise RuntimeError(f"a generated clip of {expected} frames decoded to {frames}")
    return f"video decoding: a generated {expected}-frame clip encoded and decoded in {took:.0f} ms"


def check_state_folder(min_free_mb: int) -> str:
    """The state folder exists, takes a file, and has room for clips and results."""
    import shutil

    folder = state_dir()
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as exc:
        raise RuntimeError(f"the state folder {folder} is not writable ({exc.strerror or exc})") from None
    free_mb = shutil.disk_usage(folder).free / MB
    if free_mb < min_free_mb:
        raise RuntimeError(f"the state folder {folder} has {free_mb:.0f} MB free, under service.min_free_mb "
                           f"({min_free_mb} MB): clips would be refused; free some space")
    return f"state folder: {folder} writable, {free_mb / 1024:.1f} GB free"


class Warned(Exception):
    """A check that found something to fix that does not stop the appliance: printed as `warn`,
    not counted as a failure."""


def _room_verdict(fits: str, limit_mb: float, why: str, none: str, limited: str, advice: str) -> str:
    """The temporary folder's verdict on a form's limit: `fits` when the route's own bound
    stands (no `why`); else a failure `none` when nothing fits, a warning `limited` otherwise,
    each with the reason and what to do."""
    if not why:
        return fits
    if limit_mb <= 0:
        raise RuntimeError(f"{none}: {why}; {advice}")
    raise Warned(f"{limited}: {why}; {advice}")


def check_temporary_folder(max_upload_mb: int, min_free_mb: int) -> str:
    """The temporary folder ($TMPDIR; a RAM tmpfs on Debian trixie), where the service receives
    request bodies, can hold an upload of service.max_upload_mb. Where it cannot, the service
    takes only smaller ones (body_room.upload_limit, the same figure): a warning; none at all, a
    failure."""
    from appliance.service.body_room import form_room, upload_limit
    from appliance.service.gate import upload_file_mb

    folder = tempfile.gettempdir()
    body, why = upload_limit(max_upload_mb, form_room(min_free_mb))
    return _room_verdict(
        f"temporary folder: {folder} holds an upload of service.max_upload_mb ({max_upload_mb} MB)",
        upload_file_mb(body), why, f"temporary folder {folder}: the service can take no upload",
        f"temporary folder {folder}: the service takes uploads of at most {upload_file_mb(body):g} MB",
        "give $TMPDIR a larger disk or tmpfs, or lower service.max_upload_mb or service.min_free_mb")


def check_fleet_results(max_upload_mb: int, min_free_mb: int, max_seconds: float) -> str:
    """With a fleet (queue.backend redis), workers send each result to the service as a form in
    the temporary folder, held to what the folder can hold (gate.held_to): a warning when that is
    less than a job can return — a clip of service.max_upload_mb and engine.max_seconds."""
    from appliance.service.body_room import form_room
    from appliance.service.gate import held_to, megabytes, upload_body_limit
    from appliance.service.worker_api import most_result_bytes

    largest = most_result_bytes(upload_body_limit(max_upload_mb), max_seconds)
    limit, why = held_to(largest, form_room(min_free_mb))
    return _room_verdict(
        f"fleet results: the temporary folder holds the largest a job can return ({megabytes(largest):g} MB)",
        megabytes(limit), why, "fleet results: the service can take none from its workers",
        f"fleet results: workers' results over {megabytes(limit):g} MB are refused (a job of engine.max_seconds "
        f"({max_seconds:g} s) can return {megabytes(largest):g} MB)",
        "give $TMPDIR a larger disk or tmpfs, or lower engine.max_seconds or service.max_upload_mb")


def bind_problem(host: str, port: int) -> OSError | None:
    """Why a server cannot listen on `host` port `port` now, or None; found as waitress binds:
    the name resolved (an empty or unknown one fails), then each of its addresses bound with
    address reuse on."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return exc
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                return exc
    return None


def service_port(given: int | None, configured: int) -> int:
    """The port to listen on or to check: `--port` when given, refused (UsageError) outside
    service.port's range as the config's own value would be, else the config's. One check for
    `foley serve` and `foley doctor`: bind() takes 99999 as 34463 (modulo 65536), and 0 is not
    "not given"."""
    return configured if given is None else field_range(ServiceConfig, "port").check(given, "--port")


def check_port(host: str, port: int) -> str:
    """The service's port is free, or answered by a Foley service already (ours)."""
    problem = bind_problem(host, port)
    if problem is None:
        return f"service port {port}: free"
    if problem.errno != errno.EADDRINUSE:
        raise RuntimeError(f"service port {port} on {host!r}: cannot listen ({problem.strerror})")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
            if json.loads(response.read()) == {"status": "ok"}:
                return f"service port {port}: in use by a running Foley service"
    except (OSError, ValueError):
        pass
    raise RuntimeError(f"service port {port} is used by another program: stop it, or give the service "
                       f"another port (foley serve --port, service.port in the config)")


def run_checks(host: str = "0.0.0.0", port: int = 8080, min_free_mb: int = 200,
               max_upload_mb: int = 200, fleet_max_seconds: float | None = None) -> list[tuple[bool | None, str]]:
    """Every check as (passed, one-line message), passed None for a warning (`Warned`); a
    failing check never stops the others. `fleet_max_seconds`: engine.max_seconds when the
    service takes results from fleet workers."""
    results: list[tuple[bool | None, str]] = []
    checks: list[Callable[[], str]] = [
        check_video_decoding, lambda: check_state_folder(min_free_mb),
        lambda: check_temporary_folder(max_upload_mb, min_free_mb), lambda: check_port(host, port)]
    if fleet_max_seconds is not None:
        checks.append(lambda: check_fleet_results(max_upload_mb, min_free_mb, fleet_max_seconds))
    for check in checks:
        try:
            results.append((True, check()))
        except Warned as exc:
            results.append((None, str(exc)))
        except Exception as exc:  # doctor reports every failure instead of stopping at one
            plain = isinstance(exc, (RuntimeError, UsageError))  # they say what is wrong; others need their kind
            results.append((False, str(exc) if plain else f"{type(exc).__name__}: {exc}"))
    try:
        entries = load_manifest()
    except ModelFileError as exc:
        return results + [(False, str(exc))]
    results.append((True, f"manifest: {models_dir() / 'manifest.json'} ({len(entries)} models)"))
    for entry in entries.values():
        try:
            verify(entry)
            size_mb = entry.path.stat().st_size / 1e6
            results.append((True, f"{entry.name}: {entry.path.name} {size_mb:.1f} MB, sha256 ok"))
        except ModelFileError as exc:
            results.append((False, str(exc)))
    for check in (check_text_encoder, check_vision_encoder):
        try:
            results.append((True, check()))
        except Exception as exc:  # doctor reports every failure instead of stopping at one
            results.append((False, f"{check.__name__}: {type(exc).__name__}: {exc}"))
    return results


def handle(args) -> int:
    config = load_and_apply(args.config)
    port = service_port(args.port, config.service.port)
    for name, version in versions().items():
        print(f"{name:>24}: {version}")
    print(f"{'threads':>24}: {default_threads()}")
    failures = 0
    fleet = config.queue.backend == "redis"
    host = config.service.host if args.host is None else args.host  # as `foley serve` takes it
    for passed, message in run_checks(host, port, config.service.min_free_mb,
                                      config.service.max_upload_mb, config.engine.max_seconds if fleet else None):
        failures += passed is False
        print(f"{'warn' if passed is None else 'ok' if passed else 'FAIL':>4}  {message}")
    print("doctor: all checks passed" if not failures else f"doctor: {failures} check(s) failed")
    return 1 if failures else 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("doctor", help="check the installation: versions, video decoding, the state "
                                                  "folder, the service port, model files, and each model run once")
    parser.add_argument("--config", help="config file (default /etc/foley/config.yaml if present)")
    parser.add_argument("--host", help="address the service will listen on (config: service.host)")
    parser.add_argument("--port", type=int, help="port the service will listen on (config: service.port)")
    parser.set_defaults(handler=handle)
