"""`foley bench serve`: N concurrent uploads (default 20) against a server on loopback.

The load comes from this process while the server runs in its own (started here on a free
loopback port with a temporary state directory, unless --url names one). Every request uses
`?wait=1`, so its latency is upload → finished WAV. Bounded in count and time: each request
has a timeout and the run stops after the last one. A request may get 503 (queue full) — that
is the designed answer — but must never hang or be dropped, and the server must stay up.
"""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from appliance.multipart import MultipartBody

REQUEST_TIMEOUT_S = 600


def _one_request(url: str, clip: Path, seed: int) -> dict:
    body = MultipartBody({"seed": str(seed), "description": "footsteps on a wooden floor"},
                         {"video": (clip.name, clip)})
    request = urllib.request.Request(f"{url}/api/v1/score?wait=1", data=body, headers=body.headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            status, size = response.status, len(response.read())
    except urllib.error.HTTPError as exc:
        status, size = exc.code, 0
    except OSError as exc:
        return {"status": f"error: {exc}", "seconds": time.perf_counter() - started}
    return {"status": status, "seconds": time.perf_counter() - started, "bytes": size}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(state: Path, args: tuple = (), env: dict | None = None,
                 port: int | None = None) -> tuple[subprocess.Popen, str]:
    """`foley serve` on loopback (`port`, default a free one) with the state folder `state` and
    extra `args`/`env`; its log in state/../server.log. Returns once /healthz answers."""
    port = port or free_port()
    env = {**os.environ, "FOLEY_STATE_DIR": str(state), **(env or {})}
    log = open(state.parent / "server.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "appliance.cli", "serve", "--host", "127.0.0.1",
                                "--port", str(port), *args], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2).read()
            return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start; see " + str(state.parent / "server.log"))


def bench_serve(requests: int, concurrency: int, url: str | None, seconds: float) -> dict:
    from appliance.video.synthetic import render_scene

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        clip = render_scene("steps", scratch / "clip.mp4", width=640, height=360, seconds=seconds, seed=5).path
        process = None
        if url is None:
            (scratch / "state").mkdir()
            process, url = start_server(scratch / "state")
        try:
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                results = list(pool.map(lambda seed: _one_request(url, clip, seed), range(requests)))
            wall = time.perf_counter() - started
            alive = urllib.request.urlopen(f"{url}/healthz", timeout=5).status == 200
        finally:
            if process is not None:
                process.terminate()
                process.wait(30)
    done = sorted(r["seconds"] for r in results if r["status"] == 200)
    statuses: dict[str, int] = {}
    for r in results:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    return {
        "requests": requests, "concurrency": concurrency, "clip_seconds": seconds, "statuses": statuses,
        "completed": len(done), "wall_seconds": wall, "throughput_per_minute": 60 * len(done) / wall,
        "p50_seconds": statistics.median(done) if done else None,
        "p99_seconds": done[min(len(done) - 1, int(round(0.99 * (len(done) - 1))))] if done else None,
        "server_alive_after": alive,
    }


def print_serve_report(report: dict) -> None:
    print(f"{report['requests']} uploads of a {report['clip_seconds']:g} s 640×360 clip, "
          f"{report['concurrency']} at once, each waiting for its WAV (?wait=1)")
    print(f"  answers            {report['statuses']}")
    print(f"  completed          {report['completed']} in {report['wall_seconds']:.1f} s "
          f"({report['throughput_per_minute']:.1f} clips/min)")
    if report["p50_seconds"] is not None:
        print(f"  latency p50 / p99  {report['p50_seconds']:.2f} s / {report['p99_seconds']:.2f} s")
    print(f"  server up after    {report['server_alive_after']}")
