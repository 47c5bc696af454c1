"""Load harnesses for the service's reliability (docs/benchmarks.md, "Reliability"), used by
the tests with short settings and run by hand for the full figures:

    python -m tests.reliability slow-headers --connections 500 --hold 60 [--server plain|foley]
    python -m tests.reliability waiters --waiters 20

`slow-headers` opens N connections that send a request line and then one header line every
`--every` seconds without ever finishing, holds them `--hold` seconds, and meanwhile makes one
normal request a second on a new connection; it reports how many were answered and how fast.
Without --url it serves the app in this process: `foley` = appliance.service.server.make_server,
`plain` = waitress with its defaults (threads=4), as `foley serve` did before.
"""
from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from appliance.config import Config, ServiceConfig
from appliance.service.app import create_app


class HeldQueue:
    """A queue whose jobs never run (waiters wait until the end)."""

    def __init__(self):
        self.submitted = []

    def submit(self, job_id: str) -> None:
        self.submitted.append(job_id)


def start_app_server(kind: str, config: Config, folder: Path):
    """(base URL, server) with the app served in a thread of this process."""
    import waitress

    from appliance.service.server import make_server
    from tests.conftest import free_port

    port = free_port()
    app = create_app(config, HeldQueue(), folder, "token")
    if kind == "plain":
        server = waitress.create_server(app, host="127.0.0.1", port=port, threads=config.service.threads, ident="foley")
    else:
        server = make_server(app, config, "127.0.0.1", port)
    threading.Thread(target=server.run, name="server", daemon=True).start()
    return f"http://127.0.0.1:{port}", server


def timed_get(base: str, path: str = "/healthz", timeout: float = 5.0) -> float | None:
    """Seconds a GET took on a new connection, None when it failed or timed out."""
    parts = urlsplit(base)
    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        connection.close()
        return time.perf_counter() - started if response.status == 200 else None
    except OSError:
        return None


def slow_headers(base: str, connections: int, hold: float, every: float, probe_every: float = 1.0,
                 paths: tuple[str, ...] = ("/healthz",)) -> dict:
    """Hold `connections` slow-header clients while normal GETs (cycling through `paths`) are timed."""
    parts = urlsplit(base)
    sockets = []
    for i in range(connections):
        s = socket.create_connection((parts.hostname, parts.port), timeout=5)
        s.sendall(f"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow-{i}: 0\r\n".encode())
        sockets.append(s)
    latencies: list[float | None] = []
    stop = threading.Event()

    def probe():
        while not stop.wait(probe_every):
            latencies.append(timed_get(base, paths[len(latencies) % len(paths)]))

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    deadline = time.monotonic() + hold
    closed = set()
    line = 0
    while time.monotonic() < deadline:
        time.sleep(min(every, max(0.0, deadline - time.monotonic())))
        line += 1
        for i, s in enumerate(sockets):
            if i in closed:
                continue
            try:
                s.sendall(f"X-More-{line}: {line}\r\n".encode())
            except OSError:
                closed.add(i)
    stop.set()
    prober.join(10)
    for s in sockets:
        s.close()
    answered = [x for x in latencies if x is not None]
    return {"connections": connections, "hold_s": hold, "line_every_s": every, "probes": len(latencies),
            "answered": len(answered), "max_latency_s": round(max(answered), 4) if answered else None,
            "median_latency_s": round(statistics.median(answered), 4) if answered else None,
            "closed_by_server": len(closed)}


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data request."""
    boundary = f"faultboundary{time.monotonic_ns()}"
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
             for k, v in fields.items()]
    parts += [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{name}\"\r\n"
              "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
              for k, (name, data) in files.items()]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def waiters(base: str, count: int, clip: bytes) -> dict:
    """`count` uploads with ?wait=1 on jobs that never finish, then /healthz timed 20 times and
    one more waiter (which must get 503 at once)."""
    import urllib.request

    body, content_type = multipart({}, {"video": ("c.mp4", clip)})

    def post() -> tuple[int, dict]:
        request = urllib.request.Request(f"{base}/api/v1/score?wait=1", data=body, method="POST",
                                         headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers)
        except OSError:
            return 0, {}

    threads = [threading.Thread(target=post, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while len(json.loads(urllib.request.urlopen(f"{base}/api/v1/jobs", timeout=10).read())["jobs"]) < count:
        assert time.monotonic() < deadline, "the waiting uploads were not all queued"
        time.sleep(0.2)  # all probed and queued: from here on they only wait
    time.sleep(0.5)
    health = [timed_get(base) for _ in range(20)]
    started = time.perf_counter()
    extra_status, extra_headers = post()
    return {"waiters": count, "healthz_max_s": round(max(h or 99 for h in health), 4),
            "healthz_median_s": round(statistics.median(h or 99 for h in health), 4),
            "extra_waiter_status": extra_status, "extra_waiter_retry_after": extra_headers.get("Retry-After"),
            "extra_waiter_s": round(time.perf_counter() - started, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["slow-headers", "waiters"])
    parser.add_argument("--url", help="a running service (default: serve the app in this process)")
    parser.add_argument("--server", choices=["foley", "plain"], default="foley")
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--hold", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--header-timeout", type=float, default=ServiceConfig.header_timeout)
    parser.add_argument("--waiters", type=int, default=20)
    args = parser.parse_args()
    config = Config(service=ServiceConfig(header_timeout=args.header_timeout))
    base = args.url
    if base is None:
        base, _ = start_app_server(args.server, config, Path(tempfile.mkdtemp(prefix="foley-reliability-")))
    if args.what == "slow-headers":
        result = slow_headers(base, args.connections, args.hold, args.every)
    else:
        from appliance.video.synthetic import render_scene

        clip = render_scene("stick", Path(tempfile.mkdtemp()) / "c.mp4", width=160, height=120, seconds=1, seed=1)
        result = waiters(base, args.waiters, clip.path.read_bytes())
    print(json.dumps({"server": args.url or args.server, **result}))


if __name__ == "__main__":
    main()
