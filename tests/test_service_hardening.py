"""Hostile pages and clients through the test client: DNS rebinding (Host allow-list), wrong
statuses, hostile names and bodies, races. The real server's share is in test_service_server.py."""
from __future__ import annotations

import io
import socket

import pytest

from appliance.config import ServiceConfig
from appliance.service.hosts import HostAllowList, host_name
from tests.test_service_api import LAN, TOKEN, make_client


def test_rebinding_host_is_refused_even_from_loopback(tmp_path):
    client, _, _ = make_client(tmp_path)
    refused = client.get("/api/v1/token", headers={"Host": "rebind.example:8080"})
    assert refused.status_code == 421 and refused.is_json and "host name" in refused.get_json()["error"]
    assert "token" not in refused.get_json()
    for path in ("/api/v1/jobs", "/healthz", "/"):
        assert client.get(path, headers={"Host": "rebind.example"}).status_code == 421
    with_token = client.get("/api/v1/jobs", environ_base=LAN,
                            headers={"Host": "evil.example", "Authorization": f"Bearer {TOKEN}"})
    assert with_token.status_code == 421


@pytest.mark.parametrize("host", ["localhost:8080", "127.0.0.1:8080", "[::1]:8080", "localhost.", "LOCALHOST",
                                  f"{socket.gethostname()}:80", f"{socket.gethostname()}.local", "127.0.0.2"])
def test_own_names_are_served(tmp_path, host):
    client, _, _ = make_client(tmp_path)
    response = client.get("/api/v1/token", headers={"Host": host})
    assert response.status_code == 200 and response.get_json()["token"] == TOKEN


def test_configured_names_and_own_addresses(tmp_path):
    client, _, _ = make_client(tmp_path, service=ServiceConfig(allowed_hosts=("foley.home.arpa",)))
    assert client.get("/healthz", headers={"Host": "foley.home.arpa:8080"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "other.home.arpa"}).status_code == 421
    allow = HostAllowList()
    own = allow._addresses_now(True)
    assert own and all(allow.allows(a if ":" not in a else f"[{a}]:80") for a in own)
    assert not allow.allows("203.0.113.7") and not allow.allows("127.0.0.1.nip.io")
    assert host_name("[fe80::1%eth0]:80") == "fe80::1%eth0" and host_name("a.b:1") == "a.b"


def test_bearer_scheme_is_case_insensitive(tmp_path):
    client, _, _ = make_client(tmp_path)
    for scheme in ("bearer", "BEARER", "Bearer"):
        assert client.get("/api/v1/jobs", environ_base=LAN,
                          headers={"Authorization": f"{scheme} {TOKEN}"}).status_code == 200
    assert client.get("/api/v1/jobs", environ_base=LAN, headers={"Authorization": "Basic " + TOKEN}).status_code == 401
