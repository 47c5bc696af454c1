"""The fault suite (issue 12, item 8): the service killed, its databases damaged, its disk
small, its clients slow or many at once, its inputs hostile, its requests racing — each case
against the real server or the real app, and each held to the same ledger (tests/faults/ledger.py):
jobs lost 0, 5xx 0 beyond the declared refusals (503 busy, 507 disk short), no traceback in any
response, and the recovery time where there is a recovery. The figures go to
test-artifacts/reliability.json; `python scripts/reliability_report.py` prints them for
docs/benchmarks.md ("Reliability").

Run alone: `pytest -q tests/faults` (part of `make test`).
"""
