"""multipart/form-data request bodies, for the appliance's own HTTP clients (the capture daemon's
hand-over to the service, a fleet worker's result, `foley bench serve`), and sending one: the
standard library has no encoder, and a dependency for a few lines is not worth it on a Pi."""
from __future__ import annotations

import http.client
import secrets
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

CHUNK_BYTES = 1024 * 1024
"""Bytes of a file read at a time while its body is sent."""


class MultipartBody:
    """The body for text `fields` and `files` {field: (file name, path)}, streamed: iterating it
    yields the boundaries and part headers, and each file read in CHUNK_BYTES pieces as it is
    sent. A worker's result of 300 MB (or a clip of 200 MB) read whole would cost a Pi of 1-2 GB
    that much memory again, and once more for the joined body. Its `length` is known before a
    byte is read, from the files' sizes: urllib sends an iterable body of unstated length
    chunked, and the service's gate judges a body's size from its Content-Length (`headers`)."""

    def __init__(self, fields: dict[str, str], files: dict[str, tuple[str, Path]]):
        boundary = "foley-" + secrets.token_hex(12)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._pieces: list[bytes | tuple[Path, int]] = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items()]
        for name, (filename, path) in files.items():
            self._pieces += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                             f"Content-Type: application/octet-stream\r\n\r\n".encode(),
                             (Path(path), Path(path).stat().st_size), b"\r\n"]
        self._pieces.append(f"--{boundary}--\r\n".encode())
        self.length = sum(len(piece) if isinstance(piece, bytes) else piece[1] for piece in self._pieces)

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "Content-Length": str(self.length)}

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._pieces:
            if isinstance(piece, bytes):
                yield piece
            else:
                yield from _chunks(*piece)


def _chunks(path: Path, size: int) -> Iterator[bytes]:
    """The first `size` bytes of `path` (its size when the body was made) in CHUNK_BYTES pieces;
    OSError when it has shrunk since (the server would wait for the missing bytes forever)."""
    with open(path, "rb") as handle:
        while size > 0:
            chunk = handle.read(min(CHUNK_BYTES, size))
            if not chunk:
                raise OSError(f"{path.name} shrank while it was being sent")
            size -= len(chunk)
            yield chunk


@dataclass(frozen=True)
class Answer:
    """A server's answer to a form: its status, its body, and its Retry-After in seconds (None
    when it gave none, or a date)."""

    status: int
    body: bytes
    retry_after: float | None = None


def post_form(url: str, form: MultipartBody, headers: dict[str, str], timeout: float) -> Answer:
    """POST `form` to `url` (http or https, through the proxy the environment names as urllib
    would): the answer, whatever its status.

    The service judges an upload from its headers (its gate: 401, 413, 507) and answers and
    closes the connection while the body is still being sent. The send then fails (reset, or a
    broken pipe) though the answer has arrived; urllib raised the send's error and lost it, so
    the capture outbox took a clip over the upload limit for a service that was down and sent it
    again every 30 s, forever. Here the answer is read after a failed send too.
    ConnectionError when there is none."""
    parts = urllib.parse.urlsplit(url)
    connection, target = _connection(parts, timeout)
    try:
        try:
            connection.request("POST", target, body=form, headers={**headers, **form.headers})
        except (BrokenPipeError, ConnectionResetError) as send_error:
            try:
                response = connection.getresponse()
            except (OSError, http.client.HTTPException):
                raise send_error from None
        else:
            response = connection.getresponse()
        retry_after = response.getheader("Retry-After", "")
        return Answer(response.status, response.read(), float(retry_after) if retry_after.isdigit() else None)
    except http.client.HTTPException as exc:  # a malformed or missing answer
        raise ConnectionError(f"no valid answer from {parts.netloc}: {exc!r}") from None
    finally:
        connection.close()


def _connection(parts: urllib.parse.SplitResult, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    """The connection for a request to `parts` and the target to send it: direct, or through
    the environment's proxy (HTTP_PROXY / HTTPS_PROXY unless NO_PROXY names the host)."""
    https = parts.scheme == "https"
    kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return kind(parts.hostname, parts.port, timeout=timeout), target
    via = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if https:  # a tunnel through the proxy (CONNECT)
        connection = kind(via.hostname, via.port, timeout=timeout)
        connection.set_tunnel(parts.hostname, parts.port)
        return connection, target
    return http.client.HTTPConnection(via.hostname, via.port, timeout=timeout), parts.geturl()
