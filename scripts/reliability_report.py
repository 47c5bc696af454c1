"""Print the fault suite's figures (test-artifacts/reliability.json, written by tests/faults) as
the Markdown table of docs/benchmarks.md, "Reliability":

    pytest -q tests/faults && python scripts/reliability_report.py

One row per fault case: the answers it got by status, the jobs accepted and lost, 5xx beyond the
declared refusals (503, 507), tracebacks in responses, its recovery times and its own figures.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ARTIFACT = Path(__file__).resolve().parent.parent / "test-artifacts" / "reliability.json"
FIGURES = {"connections": "slow connections", "max_latency_s": "normal requests' max s",
           "closed_by_server": "slow ones closed", "healthz_max_s": "/healthz max s",
           "extra_waiter_status": "one more waiter", "accepted": "accepted", "refused_503": "503",
           "burst_s": "burst s", "peak_rss_growth_mb": "peak RSS growth MB", "small_disk_statuses": "statuses"}


def row(name: str, case: dict) -> str:
    answers = ", ".join(f"{n}×{status}" for status, n in case["answers"].items()) or "–"
    recovery = "; ".join(f"{what} {s:.1f} s" for what, s in case["recovery_s"].items()) or "–"
    figures = [f"{case['answered']}/{case['probes']} normal requests answered"] if "probes" in case else []
    figures += [f"{label} {case[key]}" for key, label in FIGURES.items() if key in case]
    return (f"| {name.removeprefix('test_').replace('_', ' ')} | {answers} | {case['jobs_accepted']} | "
            f"{case['jobs_lost']} | {case['server_errors']} | {case['tracebacks']} | {recovery} | "
            f"{'; '.join(figures) or '–'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", nargs="?", type=Path, default=ARTIFACT)
    data = json.loads(parser.parse_args().artifact.read_text())
    cases = data["cases"]
    print(f"{len(cases)} cases on a {data['machine']}, {data['date']}; totals: jobs lost "
          f"{sum(c['jobs_lost'] for c in cases.values())}, 5xx {sum(c['server_errors'] for c in cases.values())}, "
          f"tracebacks in responses {sum(c['tracebacks'] for c in cases.values())}.\n")
    print("| case | answers | jobs accepted | jobs lost | 5xx | tracebacks | recovery | figures |")
    print("|---|---|---|---|---|---|---|---|")
    for name, case in sorted(cases.items()):
        print(row(name, case))


if __name__ == "__main__":
    main()
