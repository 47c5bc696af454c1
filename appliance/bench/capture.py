"""`foley bench capture`: how soon a recording's result is ready after the recording stops.

Starts a real `foley serve` and a real `foley capture` (the file camera looping the generated
1280×720 30 fps benchmark clip, in real time) on loopback with a temporary state directory,
makes N recordings of --seconds each through the control socket, and for each reads from the
daemon when it stopped and from the job when it was created and finished. Also reports frames
dropped by the recording thread (it must keep up with the camera) and the daemon's CPU use.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import json
from pathlib import Path

from appliance.bench.engine import default_clip
from appliance.bench.serve import start_server
from appliance.waiting import poll

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def _started(reply: dict) -> dict:
    """The daemon's answer to a start, or a RuntimeError with its refusal: waiting for a
    recording it refused took the poll's whole timeout and then said only that."""
    if not reply.get("ok"):
        raise RuntimeError(f"the capture daemon refused to record: {reply.get('error')}")
    return reply


def bench_capture(recordings: int, seconds: float) -> dict:
    """`recordings` of `seconds` each (within capture.record_seconds' range: the config written
    for the daemon allows recordings that long)."""
    from appliance.capture.control import DaemonUnavailable, call

    with tempfile.TemporaryDirectory(prefix="foley-bench-") as scratch:
        scratch = Path(scratch)
        os.environ["FOLEY_RUNTIME_DIR"] = str(scratch / "run")
        (scratch / "state").mkdir()
        server, url = start_server(scratch / "state")
        clip = default_clip(10.0)
        config = scratch / "capture.yaml"
        config.write_text(f"service: {{port: {url.rsplit(':', 1)[1]}}}\n"
                          f"capture: {{camera: 'file:{clip}', record_seconds: {seconds}, "
                          f"max_record_seconds: {seconds}, min_free_mb: 1}}\n")
        env = {**os.environ, "FOLEY_STATE_DIR": str(scratch / "state")}
        with open(scratch / "capture.log", "w") as log:
            capture = subprocess.Popen([sys.executable, "-m", "appliance.cli", "capture", "--config", str(config)],
                                       env=env, stdout=log, stderr=log)
        rows = []
        try:
            def ready():
                try:
                    return call("status")[0]["camera"]["ok"]
                except DaemonUnavailable:
                    return False
            poll(ready, 60)
            poll(lambda: call("status")[0]["scoring_while_recording"] != "loading", 120)  # the daemon's engine
            time.sleep(3.0)  # a full pre-roll, and the worker has loaded its engine
            for _ in range(recordings):
                cpu_before, wall_before = _cpu_seconds(capture.pid), time.monotonic()
                started = _started(call("start", description="footsteps on a wooden floor")[0])
                entry = poll(lambda: next((e for e in call("status")[0]["recent"]
                                             if e["id"] == started["id"] and e.get("job_id")), None), seconds + 60)
                cpu = (_cpu_seconds(capture.pid) - cpu_before) / (time.monotonic() - wall_before)
                job = poll(lambda: (j := json.load(urllib.request.urlopen(f"{url}/api/v1/jobs/{entry['job_id']}")))
                             ["state"] in ("done", "failed") and j, 60)
                stats = json.load(urllib.request.urlopen(f"{url}/api/v1/jobs/{entry['job_id']}/timeline.json"))["stats"]
                rows.append({"stages": stats["stage_seconds"], "vision_run": stats["vision_inferences_run"],
                             "events": stats["events"], "clip_seconds": entry["duration"], "frames": entry["frames"], "dropped": entry["dropped"],
                             "stop_to_job_created": job["created"] - entry["stopped"], "job_run": job["seconds"],
                             "stop_to_result": job["finished"] - entry["stopped"], "state": job["state"],
                             "daemon_cpu_cores": cpu, "scored": entry.get("scored", "")})
                time.sleep(1.0)
            peak_rss_mb = _peak_rss_mb(capture.pid)
        finally:
            capture.terminate()
            capture.wait(30)
            server.terminate()
            server.wait(30)
    median = {key: statistics.median(r[key] for r in rows)
              for key in ("stop_to_job_created", "job_run", "stop_to_result", "daemon_cpu_cores")}
    return {"recordings": rows, "median": median, "camera": "file camera, 1280×720 30 fps", "seconds": seconds,
            "daemon_peak_rss_mb": peak_rss_mb}


def print_capture_report(report: dict) -> None:
    print(f"{len(report['recordings'])} recordings of {report['seconds']:g} s (+ pre-roll), {report['camera']}")
    print("  clip s  frames  dropped  stop→job  job run  stop→result  daemon CPU")
    for r in report["recordings"]:
        print(f"  {r['clip_seconds']:6.2f}  {r['frames']:6d}  {r['dropped']:7d}  {r['stop_to_job_created']:7.3f}s"
              f"  {r['job_run']:6.3f}s  {r['stop_to_result']:10.3f}s  {100 * r['daemon_cpu_cores']:7.0f} %  {r['state']}"
              f", scored {r['scored']}")
        stages = ", ".join(f"{k} {v:.3f}" for k, v in r["stages"].items())
        print(f"          job stages (s): {stages}; {r['events']} events, {r['vision_run']} vision inferences")
    m = report["median"]
    print(f"  median stop→result {m['stop_to_result']:.3f} s (stop→job {m['stop_to_job_created']:.3f} s, "
          f"job {m['job_run']:.3f} s); daemon {100 * m['daemon_cpu_cores']:.0f} % of a core while recording, "
          f"peak memory {report['daemon_peak_rss_mb']:.0f} MB")
