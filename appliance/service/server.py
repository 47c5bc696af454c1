"""Serving the app with waitress, set up to survive slow and numerous clients.

Measured (docs/benchmarks.md, "Reliability"): with waitress's defaults, 100 connections that
trickle one header line every 2 s fill its connection limit (100) and no other request is
accepted. Waitress parses headers in its event loop, not in the request threads, so an open
connection costs a socket and a small buffer; what runs out is the limit. Here:

- `connection_limit` is raised (service.connection_limit, default 2000) and the open-file
  limit lifted to match; the event loop uses poll() (select() stops at 1024 descriptors);
- a request whose headers are not complete `header_timeout` seconds after they started is
  closed (waitress itself only closes connections idle for `channel_timeout`, which a client
  sending a byte now and then never is);
- the request threads are the page's `service.threads` plus `service.max_waiters` for the
  `?wait=1` requests, which take a slot or get 503 (appliance.service.api), so waiting
  uploads never hold the threads that serve the page; and as many again as live mode's
  listening pages (appliance.service.live_control.MAX_LISTENERS, 503 past it) and camera
  previews (appliance.service.ops_api.MAX_PREVIEWS, 503 past it);
- a request with a body is judged on its headers before the body is read (`GuardedParser`):
  waitress would otherwise store the whole body in a temporary file first, whoever sent it;
  and a body it may store reserves its room in the temporary folder then (body_room.py), so
  bodies never fill that folder — on Debian trixie a tmpfs, the board's RAM; a body small
  enough to be kept in memory (`MEMORY_BODY`) counts against `MEMORY_BODIES` instead;
- an accepted body must have arrived within max(`idle_timeout`, its length at
  `service.min_body_rate_kb` KB/s) of its headers (`BodyPace`), or its connection is closed and
  its room given back: waitress's idle timeout is reset by every byte, so a client with the
  token trickling a byte a second held its reservation (up to twice the upload limit) for as
  long as it liked. 64 KB/s by default: a 200 MB upload has 53 minutes, a client sending at
  0.5 Mbit/s or more (a phone on a poor mobile link) is never cut off, and a body under 3.75 MB
  has the idle timeout's minute.
"""
from __future__ import annotations

import copy
import http
import json
import logging
import math
import resource
import time
from dataclasses import dataclass

import waitress
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer
from waitress.utilities import Error, RequestEntityTooLarge
from werkzeug.http import parse_cookie

from appliance.config import MB, Config, ServiceConfig
from appliance.service.body_room import BodyRoom, MemoryRoom, Reservation, stored_size
from appliance.service.gate import ANSWER_HEADERS, Refusal, RequestGate, RequestHead
from appliance.service.live_control import MAX_LISTENERS
from appliance.service.ops_api import MAX_PREVIEWS

log = logging.getLogger("foley.serve")
CLEANUP_INTERVAL_S = 1
MEMORY_BODY = 64 * 1024
"""Waitress's `inbuf_overflow`: a body announced larger goes to a temporary file (and reserves
its room there, body_room.BodyRoom); one this size or less is kept in memory (MemoryRoom).
Waitress's 512 KB let 2000 connections hold 1 GB of half-sent bodies in the service's memory.
The page's edits and logins are a few hundred bytes."""
MEMORY_BODIES = 16 * 1024 * 1024
"""The bytes of all the bodies kept in memory at once (MemoryRoom): 256 at MEMORY_BODY."""


def raise_open_file_limit(wanted: int) -> int:
    """Lift the soft RLIMIT_NOFILE towards `wanted` (never past the hard limit); the result."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


@dataclass(frozen=True)
class BodyPace:
    """How long an accepted body may take to arrive: `floor_s` (the idle timeout: no body is
    hurried more than a silent connection is), or longer for a long body at `bytes_per_s`."""

    floor_s: float
    bytes_per_s: float

    @classmethod
    def of(cls, service: ServiceConfig) -> "BodyPace":
        return cls(service.idle_timeout, service.min_body_rate_kb * 1024)

    def allowance(self, length: int) -> float:
        return max(self.floor_s, length / self.bytes_per_s)


def _with_deadlines(server: BaseWSGIServer, header_timeout: float) -> None:
    """Also close, at each maintenance pass, the connections whose request headers have been
    arriving for longer than `header_timeout` (a slow-header client), or whose body is still
    arriving past its deadline (`GuardedParser.body_due`, a slow-body client). Closed as
    waitress closes an idle one, by `will_close`: the loop closes it right after this pass,
    and GuardedChannel.handle_close drops its request and reservation under the requests' lock."""
    plain = server.maintenance

    def maintenance(now: float) -> None:
        plain(now)
        for channel in list(server.active_channels.values()):
            parser = channel.request
            if parser is None or channel.will_close:
                continue
            if parser.headers_finished:
                # as waitress's idle timeout, never while an earlier request of the connection is
                # served (its response would be cut): the deadline holds from when it ends
                due = getattr(parser, "body_due", None)
                if due is not None and not parser.completed and not channel.requests and time.monotonic() > due:
                    log.info("closed a request whose body was still arriving at its deadline (%s %s)",
                             parser.command, parser.path)
                    channel.will_close = True
                continue
            seen = getattr(parser, "_foley_first_seen", None)
            if seen is None:
                parser._foley_first_seen = now
            elif now - seen > header_timeout:
                channel.will_close = True

    server.maintenance = maintenance


class RefusedByGate(Error):
    """A gate's refusal as waitress's error response: JSON, like the application's own errors."""

    def __init__(self, refusal: Refusal):
        super().__init__(refusal.message)
        self.code, self.reason = refusal.status, http.HTTPStatus(refusal.status).phrase
        self.retry_after = refusal.retry_after

    def to_response(self, ident=None):
        headers = [("Content-Type", "application/json"), *ANSWER_HEADERS]  # as the application's answers
        if self.retry_after is not None:
            headers.append(("Retry-After", str(self.retry_after)))
        return f"{self.code} {self.reason}", headers, json.dumps({"error": self.body}).encode()


class GuardedParser(HTTPRequestParser):
    """Waitress's request parser that asks the service's RequestGate about a request with a body
    as soon as its headers are in (the body arrives in later calls): a refused one is answered
    (and its connection closed) without reading the body, an accepted one may bring at most the
    body its type allows. A chunked body states no length: waitress finds it too large only once
    it has read that much, and its plain-text 413 is then answered as the gate's JSON one.
    An accepted body that waitress may store in a file holds a reservation in `room` from then
    until the request is closed (its response sent, or its connection gone); every accepted body
    is due by `body_due` (monotonic time, from `pace`), past which its connection is closed."""

    def __init__(self, adj, gate: RequestGate, room: BodyRoom, memory: MemoryRoom, pace: BodyPace,
                 address: str | None):
        super().__init__(adj)
        self.gate, self.room, self.memory, self.pace, self.address = gate, room, memory, pace, address
        self.reservation: Reservation | None = None
        self.body_due: float | None = None

    def received(self, data: bytes) -> int:
        judged = self.headers_finished
        consumed = super().received(data)
        if not judged and self.headers_finished and not self.empty and (self.content_length or self.chunked) \
                and (self.error is None or self.error.code == 413):  # waitress's own 413: the gate words it
            self._judge()
        elif judged and isinstance(self.error, RequestEntityTooLarge):
            self.error = RefusedByGate(self.gate.too_large(self.headers.get("CONTENT_TYPE", ""), self.path))
        if self.error is not None and not isinstance(self.error, RefusedByGate):
            # Waitress's own refusals (a malformed Content-Length, headers too long, an unknown
            # transfer coding) were plain text without the answers' headers: JSON like the rest.
            self.error = RefusedByGate(Refusal(self.error.code, self.error.body))
        return consumed

    def _judge(self) -> None:
        headers, content_type = self.headers, self.headers.get("CONTENT_TYPE", "")
        refusal = self.gate.refusal(RequestHead(
            self.command, self.path, self.address, headers.get("HOST"), headers.get("ORIGIN"),
            headers.get("AUTHORIZATION", ""), parse_cookie(headers.get("COOKIE", "")), content_type,
            None if self.chunked else self.content_length))
        limit = self.gate.body_limit(content_type, self.path)
        if refusal is None:
            if self.chunked or self.content_length > self.adj.inbuf_overflow:
                refusal = self.room.reserve(stored_size(content_type, None if self.chunked else self.content_length,
                                                        limit), self._received_bytes, declared=not self.chunked)
            else:
                refusal = self.memory.reserve(self.content_length)
            if isinstance(refusal, Reservation):
                self.reservation, refusal = refusal, None
        if refusal is not None:
            self.error, self.completed = RefusedByGate(refusal), True
            return
        self.adj = copy.copy(self.adj)  # this request's own limit: waitress refuses a body >= it
        self.adj.max_request_body_size = limit + 1
        self.body_due = time.monotonic() + self.pace.allowance(limit if self.chunked else self.content_length)

    def _received_bytes(self) -> int:
        """Bytes of the body stored so far (a chunked body's are not counted: it has no length
        to count down from)."""
        receiver = self.body_rcv
        return 0 if self.chunked or receiver is None else self.content_length - receiver.remain

    def close(self) -> None:
        """Called by waitress once the request is served (and by GuardedChannel when its
        connection closes mid-body): the body's file and its reservation go."""
        super().close()
        if self.reservation is not None:
            self.reservation.release()


def guarded_channel(gate: RequestGate, room: BodyRoom, memory: MemoryRoom, pace: BodyPace) -> type[HTTPChannel]:
    """Waitress's connection class, its requests parsed by a GuardedParser that knows the peer."""

    class GuardedChannel(HTTPChannel):
        drop_pending = False

        def parser_class(self, adj):
            return GuardedParser(adj, gate, room, memory, pace, self.addr[0] if isinstance(self.addr, tuple) else None)

        def handle_close(self):
            """A request still arriving when its connection closes (the client gone, the idle
            or header deadline) is never served, so waitress never closes it: its body's file
            and reservation would wait for the garbage collector. It is closed here, under the
            requests' lock; when that lock is held, this runs inside `received` or `service`
            (a 100 Continue that could not be sent), which go on with the request, and it is
            closed when they are done."""
            if self.requests_lock.acquire(blocking=False):
                try:
                    self._drop_arriving()
                finally:
                    self.requests_lock.release()
            else:
                self.drop_pending = True
            super().handle_close()

        def received(self, data):
            try:
                return super().received(data)
            finally:
                self._drop_if_pending()

        def service(self):
            try:
                super().service()
            finally:
                self._drop_if_pending()

        def _drop_if_pending(self) -> None:
            if self.drop_pending:
                with self.requests_lock:
                    self.drop_pending = False
                    self._drop_arriving()

        def _drop_arriving(self) -> None:
            arriving, self.request = self.request, None
            if arriving is not None:
                arriving.close()

    return GuardedChannel


def body_size_cap(gate: RequestGate) -> int:
    """Waitress's own `max_request_body_size`: just above the largest body the gate can allow
    (`largest_body`, the result of a job of the longest clip at the upload limit). Waitress
    compares a Content-Length with it while parsing the headers, before the gate is asked, and
    its 413 stands whatever the gate says: at its default (1 GiB), with engine.max_seconds or
    service.max_upload_mb raised, the result of a long clip (two WAVs of an hour are 1.4 GB) was
    refused though its job's bound allows it. Not far above: the gate sets each judged
    request's own limit, and this cap is all that holds a body the gate did not judge.
    Waitress refuses a body of this size or more, hence the + 1."""
    return gate.largest_body() + 1


def make_server(app, config: Config, host: str, port: int, **overrides):
    """The waitress server for `app` (call `.run()`; `.close()` from another thread stops it)."""
    service = config.service
    gate = app.extensions.get("foley-gate")
    settings = dict(host=host, port=port, ident="foley", threads=service.threads + service.max_waiters + MAX_LISTENERS + MAX_PREVIEWS,
                    connection_limit=service.connection_limit, channel_timeout=math.ceil(service.idle_timeout),
                    cleanup_interval=CLEANUP_INTERVAL_S, asyncore_use_poll=True, backlog=1024,
                    inbuf_overflow=MEMORY_BODY)
    if gate is not None:
        settings["max_request_body_size"] = body_size_cap(gate)
    settings.update(overrides)
    raise_open_file_limit(settings["connection_limit"] + 256)
    server = waitress.create_server(app, **settings)
    servers = [server] if isinstance(server, BaseWSGIServer) else \
        [s for s in getattr(server, "map", {}).values() if isinstance(s, BaseWSGIServer)]
    room, memory = BodyRoom(service.min_free_mb * MB), MemoryRoom(MEMORY_BODIES)
    for each in servers:
        _with_deadlines(each, service.header_timeout)
        if gate is not None:
            each.channel_class = guarded_channel(gate, room, memory, BodyPace.of(service))
    return server


def serve(app, config: Config, host: str, port: int) -> None:
    server = make_server(app, config, host, port)
    started = time.monotonic()
    try:
        server.run()
    finally:
        app.extensions["foley"].player.close()  # a result playing on the board stops with the service
        log.info("server stopped after %.0f s", time.monotonic() - started)
