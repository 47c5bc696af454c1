"""LAN security: an API token, required for every request that does not come from loopback.

The token is generated on first start (stored 0600 in the state directory, printed on the
console, shown on the page to a local user). Clients send it as `Authorization: Bearer T`; the
page, after asking for it once, keeps it in an HttpOnly SameSite=Strict cookie, so a form on
another site cannot act with it.
"""
from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from appliance.atomic import atomic_open

TOKEN_FILE = "api-token"
COOKIE = "foley_token"


def load_or_create_token(folder: Path) -> str:
    path = Path(folder) / TOKEN_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    with atomic_open(path, mode=0o600) as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address((address or "").split("%")[0]).is_loopback
    except ValueError:
        return False


def presented_token(headers, cookies) -> str | None:
    scheme, _, credentials = headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():  # auth schemes are case-insensitive (RFC 9110)
        return credentials.strip()
    return cookies.get(COOKIE)


def token_matches(presented: str | None, token: str) -> bool:
    """Compared in constant time. Text a client sent may hold lone surrogates (a JSON "\\ud800"),
    which UTF-8 cannot encode: such a token was a 500 on the open login; it is a wrong token."""
    return bool(presented) and hmac.compare_digest(presented.encode(errors="surrogatepass"), token.encode())
