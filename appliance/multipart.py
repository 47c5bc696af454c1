"""multipart/form-data request bodies, for the appliance's own HTTP clients (the capture daemon's
hand-over to the service, `foley bench serve`): the standard library has no encoder, and a
dependency for twenty lines is not worth it on a Pi."""
from __future__ import annotations

import secrets
from pathlib import Path


def multipart_body(fields: dict[str, str], files: dict[str, tuple[str, Path]]) -> tuple[bytes, str]:
    """(body, Content-Type header) for text `fields` and `files` {field: (file name, path)}."""
    boundary = "foley-" + secrets.token_hex(12)
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    for name, (filename, path) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + Path(path).read_bytes() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
