"""The fault suite's ledger: every response a fault test gets, every job it had accepted, and the
recovery times it measured — and the three things every fault test asserts at its end:

- jobs lost 0: each job the service accepted (202) is found afterwards in a final state the test
  expects (done, or failed with a sentence), or was deleted by the test itself;
- 5xx 0, beyond the service's declared refusals (503 busy with Retry-After, 507 disk short);
- no traceback in any response body.

The figures (answers by status, jobs accepted and lost, recovery seconds, the test's own load
figures) are merged into test-artifacts/reliability.json under the test's name, with the
machine and the date; scripts/reliability_report.py turns that file into docs/benchmarks.md's
"Reliability" tables.
"""
from __future__ import annotations

import json
import os
import platform
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

from appliance.atomic import write_json_atomic
from tests.conftest import REPO
from tests.reliability import multipart

ARTIFACT = REPO / "test-artifacts" / "reliability.json"
REFUSALS = {503, 507}
FINAL = {"done", "failed"}


def machine() -> str:
    """"2-core x86_64 AMD EPYC" — what the figures were measured on."""
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor() or "unknown CPU")
    return f"{os.cpu_count()}-core {platform.machine()} {model}"


@dataclass
class Ledger:
    case: str
    answers: Counter = field(default_factory=Counter)
    server_errors: list = field(default_factory=list)
    tracebacks: list = field(default_factory=list)
    accepted: dict = field(default_factory=dict)  # job id -> base URL
    deleted: set = field(default_factory=set)
    lost: list = field(default_factory=list)
    recovery_s: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)

    def answer(self, status: int, body: bytes | str, what: str = "") -> None:
        """Count one response (from the real server or the Flask test client)."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        self.answers[status] += 1
        if status >= 500 and status not in REFUSALS:
            self.server_errors.append((what, status, text[:300]))
        if "Traceback (most recent call last)" in text or 'File "/' in text:
            self.tracebacks.append((what, status, text[:300]))

    def counted(self, response):
        """A Flask test-client response, counted; returned as it is."""
        self.answer(response.status_code, response.get_data(), response.request.path)
        return response

    def request(self, method: str, url: str, data: bytes | None = None, headers: dict | None = None,
                timeout: float = 60) -> tuple[int, dict, bytes]:
        """One HTTP request, counted; (status, headers, body). Connection failures raise."""
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, head, body = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            status, head, body = exc.code, dict(exc.headers), exc.read()
        self.answer(status, body, f"{method} {url}")
        return status, head, body

    def get_json(self, url: str) -> dict:
        status, _, body = self.request("GET", url, timeout=30)
        assert status == 200, (url, status, body[:300])
        return json.loads(body)

    def upload(self, base: str, clip: bytes, wait: bool = False, **fields: str) -> tuple[int, dict, dict]:
        """POST a clip to /api/v1/score; an accepted job is remembered. (status, headers, JSON body)."""
        body, content_type = multipart(fields, {"video": ("clip.mp4", clip)})
        status, head, answer = self.request("POST", f"{base}/api/v1/score" + ("?wait=1" if wait else ""), body,
                                            {"Content-Type": content_type}, timeout=600)
        parsed = json.loads(answer) if head.get("Content-Type", "").startswith("application/json") else {}
        if status == 202:
            self.accepted[parsed["id"]] = base
        return status, head, parsed

    def delete_job(self, base: str, job_id: str) -> int:
        status, _, _ = self.request("DELETE", f"{base}/api/v1/jobs/{job_id}")
        if status == 204:
            self.deleted.add(job_id)
        return status

    def settle(self, expect: set[str] = FINAL, wait: float = 240) -> dict[str, dict]:
        """Each accepted job, once it has left queued/running (within `wait` s): those missing
        (not deleted by the test) or in a state outside `expect` are lost. Returns the jobs."""
        jobs = {}
        deadline = time.monotonic() + wait
        for job_id, base in self.accepted.items():
            if job_id in self.deleted:
                continue
            while True:
                status, _, body = self.request("GET", f"{base}/api/v1/jobs/{job_id}", timeout=30)
                job = json.loads(body) if status == 200 else None
                if job is None or job["state"] in FINAL or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            if job is None or job["state"] not in expect:
                self.lost.append((job_id, status, job))
            jobs[job_id] = job
        return jobs

    def recovered(self, what: str, since: float) -> float:
        seconds = round(time.monotonic() - since, 2)
        self.recovery_s[what] = seconds
        return seconds

    def check(self) -> None:
        """The three assertions every fault test ends with."""
        assert not self.lost, f"jobs lost: {self.lost}"
        assert not self.server_errors, f"5xx answers: {self.server_errors}"
        assert not self.tracebacks, f"tracebacks in responses: {self.tracebacks}"

    def record(self) -> None:
        """Merge this case's figures into test-artifacts/reliability.json."""
        ARTIFACT.parent.mkdir(exist_ok=True)
        try:
            data = json.loads(ARTIFACT.read_text())
        except (OSError, ValueError):
            data = {}
        data.setdefault("cases", {})[self.case] = {
            "answers": {str(k): v for k, v in sorted(self.answers.items())},
            "jobs_accepted": len(self.accepted), "jobs_lost": len(self.lost),
            "server_errors": len(self.server_errors), "tracebacks": len(self.tracebacks),
            "recovery_s": self.recovery_s, **self.figures}
        data["machine"] = machine()
        data["date"] = time.strftime("%Y-%m-%d", time.gmtime())
        write_json_atomic(ARTIFACT, data)
