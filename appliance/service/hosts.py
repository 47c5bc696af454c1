"""The Host names the appliance answers to (a DNS-rebinding guard).

A web page open in a browser on the appliance (the kiosk screen, a desktop session) can point
its own name at 127.0.0.1 and then talk to the service as loopback, which needs no token. The
browser still sends the page's name in `Host`, so requests are served only when `Host` is one of
this machine's names or addresses: localhost, 127.0.0.1, [::1], its hostname and
`hostname.local`, the addresses of its interfaces, and the names in `service.allowed_hosts`.
Not `hostname-N.local`, the name Avahi gives a second board of the same image: any machine on
the LAN can announce such a name, and one the board does not hold would let a page rebind onto
its loopback (docs/board.md: give each board its own hostname, or allow the name).
Anything else gets 421 JSON, whatever its source address.
"""
from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
import struct
import threading
import time

FIXED = ("localhost", "127.0.0.1", "::1", "localhost.localdomain", "ip6-localhost")
REFRESH_S = 5.0
_SIOCGIFADDR = 0x8915


def host_name(header: str) -> str:
    """The name or address of a Host header, without port, brackets or a trailing dot."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")


def interface_names() -> list[str]:
    """The network interfaces' names, from /sys/class/net: `socket.if_nameindex` asks over a
    netlink socket, which the web unit's RestrictAddressFamilies refuses (it found none, and the
    board's own IPv4 address got 421)."""
    try:
        return sorted(os.listdir("/sys/class/net"))
    except OSError:  # no sysfs (not Linux)
        try:
            return [name for _, name in socket.if_nameindex()]
        except OSError:
            return []


def interface_addresses() -> set[str]:
    """The addresses of this machine's network interfaces (IPv4 by ioctl, IPv6 from /proc)."""
    found: set[str] = set()
    names = interface_names()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for name in names:
            try:
                packed = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
                found.add(socket.inet_ntoa(packed[20:24]))
            except OSError:
                continue  # no IPv4 address on this interface
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as table:
            for line in table:
                hexed = line.split()[0]
                found.add(str(ipaddress.ip_address(bytes.fromhex(hexed))))
    except (OSError, ValueError):
        pass
    return found


class HostAllowList:
    """Whether a Host header names this appliance. Names are fixed at start; addresses (DHCP
    can change them) are read again when an unknown one is asked for, at most every 5 s."""

    def __init__(self, extra: tuple[str, ...] = ()):
        self.extra = {host_name(e) for e in extra}
        self.names = self._own_names()
        self._addresses: set[str] = set()
        self._read_at = -REFRESH_S
        self._lock = threading.Lock()

    def _own_names(self) -> set[str]:
        hostname = socket.gethostname().lower().rstrip(".")
        names = {*FIXED, hostname, f"{hostname}.local"}
        try:
            names.add(socket.getfqdn().lower().rstrip("."))
        except OSError:
            pass
        return names | self.extra

    def _addresses_now(self, force: bool) -> set[str]:
        """The interface addresses; with `force`, read again (and the host name, which first
        boot may change while the service runs) if the last read is over REFRESH_S old."""
        with self._lock:
            if force and time.monotonic() - self._read_at >= REFRESH_S:
                self._addresses = {str(ipaddress.ip_address(a)) for a in interface_addresses()}
                self.names = self._own_names()
                self._read_at = time.monotonic()
            return self._addresses

    def allows(self, header: str | None) -> bool:
        if header is None:  # HTTP/1.0 without Host: not a browser, so not a rebinding page
            return True
        name = host_name(header)
        if name in self.names:
            return True
        try:
            address = str(ipaddress.ip_address(name.split("%")[0]))
        except ValueError:
            self._addresses_now(True)  # the host may have been renamed since
            return name in self.names
        if ipaddress.ip_address(address).is_loopback:
            return True
        return address in self._addresses_now(False) or address in self._addresses_now(True)
