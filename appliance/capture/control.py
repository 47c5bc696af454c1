"""The control protocol between the web service (or `foley record`) and the capture daemon.

A Unix stream socket, `capture.sock` in the runtime directory (/run/foley on the board), mode
0600 in a 0700 folder: only the service user (and root) can reach it, and the daemon also
checks the peer's uid (SO_PEERCRED) so a loosened mode does not open it to others.

One request per connection, one JSON object per line, UTF-8:
    → {"command": "status"}
    ← {"ok": true, ...the status...}
    → {"command": "start", "description": "door slam", "seconds": 10}
    ← {"ok": true, "state": "recording", "id": "20261122-101500-a1b2c3", ...}
    → {"command": "stop"} | {"command": "cancel"} | {"command": "toggle"}
    ← {"ok": false, "error": "not recording", "status": 409}
    → {"command": "preview"}
    ← {"ok": true, "time": 1234.5, "bytes": N} followed by N bytes of JPEG
"""
from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import struct
import threading
from pathlib import Path

from appliance.capture.daemon import CaptureDaemon, CommandRefused
from appliance.errors import is_text
from appliance.os_text import one_line
from appliance.paths import runtime_dir

log = logging.getLogger("foley.capture")
SOCKET_NAME = "capture.sock"
MAX_REQUEST = 64 * 1024
TIMEOUT_S = 10.0
MAX_CONNECTIONS = 32
"""Connections served at once, each by a thread that a silent client holds for TIMEOUT_S; one
more is answered 503 at once, without a thread (a request takes milliseconds: the service's
previews and a live session's frames need a few)."""
BUSY = json.dumps({"ok": False, "error": f"busy: {MAX_CONNECTIONS} connections are open", "status": 503}).encode()


def socket_path() -> Path:
    return runtime_dir() / SOCKET_NAME


class DaemonUnavailable(Exception):
    """No capture daemon answers on the socket."""


class ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = MAX_CONNECTIONS
    """Connections waiting to be accepted: beyond them a client's connect fails at once (EAGAIN)."""

    def __init__(self, path: Path, daemon: CaptureDaemon):
        self.capture = daemon
        path.unlink(missing_ok=True)  # a socket left by a daemon that died
        previous = os.umask(0o177)  # created 0600: no window in which others could connect
        try:
            super().__init__(str(path), _Handler)
        finally:
            os.umask(previous)
        os.chmod(path, 0o600)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.send(BUSY + b"\n", socket.MSG_DONTWAIT)  # never blocks the accepting thread
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(TIMEOUT_S)
        if not _peer_allowed(self.request):
            self._reply({"ok": False, "error": "not allowed", "status": 403})
            return
        try:
            line = self.rfile.readline(MAX_REQUEST)
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
        except RecursionError:  # arrays or objects nested thousands deep
            self._reply({"ok": False, "error": "bad request: nested too deeply", "status": 400})
            return
        except (ValueError, OSError) as exc:
            self._reply({"ok": False, "error": f"bad request: {exc}", "status": 400})
            return
        self._dispatch(request)

    def _dispatch(self, request: dict) -> None:
        daemon: CaptureDaemon = self.server.capture
        command = request.get("command")
        description = request.get("description") or None
        if description is not None and not is_text(description):
            self._reply({"ok": False, "error": "description must be text (UTF-8)", "status": 400})
            return
        if description is not None:
            description = one_line(description) or None  # one line of plain text, as the service keeps it
        try:
            if command == "status":
                result = daemon.status()
            elif command == "start":
                result = daemon.start(description, request.get("seconds"))
            elif command == "toggle":
                result = daemon.toggle(description)
            elif command in ("stop", "cancel"):
                result = getattr(daemon, command)()
            elif command == "preview":
                frame = daemon.preview()
                if frame is None:
                    raise CommandRefused("no frame yet", 503)
                self._reply({"ok": True, "time": frame.time, "bytes": len(frame.jpeg)}, frame.jpeg)
                return
            else:
                raise CommandRefused(f"unknown command {str(command)[:40]!r}", 400)
        except CommandRefused as exc:
            self._reply({"ok": False, "error": str(exc), "status": exc.status})
            return
        except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: float() of a 400-digit int
            self._reply({"ok": False, "error": f"bad request: {exc}", "status": 400})
            return
        self._reply({"ok": True, **result})

    def _reply(self, message: dict, payload: bytes = b"") -> None:
        self.wfile.write(json.dumps(message).encode() + b"\n" + payload)



def _peer_allowed(connection: socket.socket) -> bool:
    """The daemon's own user or root."""
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return uid in (0, os.getuid())


def call(command: str, path: Path | None = None, **arguments) -> tuple[dict, bytes]:
    """Send one command; returns (reply, payload). Raises DaemonUnavailable when nobody answers."""
    path = path or socket_path()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(TIMEOUT_S)
        try:
            connection.connect(str(path))
            try:
                connection.sendall(json.dumps({"command": command, **arguments}).encode() + b"\n")
            except BrokenPipeError:  # answered and closed without reading it (busy): the answer waits
                pass
            stream = connection.makefile("rb")
            reply = json.loads(stream.readline(MAX_REQUEST) or b"null")
            payload = stream.read(int(reply.get("bytes", 0))) if isinstance(reply, dict) and reply.get("ok") else b""
        except (FileNotFoundError, ConnectionRefusedError):
            raise DaemonUnavailable("the capture daemon is not running (start `foley capture`)") from None
        except (OSError, ValueError) as exc:
            raise DaemonUnavailable(f"the capture daemon did not answer: {exc}") from None
    if not isinstance(reply, dict):
        raise DaemonUnavailable("the capture daemon closed the connection without answering")
    return reply, payload
