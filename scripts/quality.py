#!/usr/bin/env python3
"""The quality ratchet: the cross-validated figures of this run against the recorded ones.

Usage: .venv/bin/python scripts/quality.py RUN.json [--record]
RUN.json is `foley eval DIR... --folds 5 --json`. Fails (exit 1) when pooled onset F1 (with and
without descriptions) or category fit (with and without) falls more than TOLERANCE below the
figures in docs/quality-figures.json. --record writes this run's figures there instead: do that
only in a commit that says why the figures moved.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from appliance.atomic import write_json_atomic
from appliance.evaluation.crossval import quality_figures

TOLERANCE = 0.02
RECORDED = Path(__file__).resolve().parent.parent / "docs" / "quality-figures.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the JSON of `foley eval DIR... --folds 5 --json`")
    parser.add_argument("--record", action="store_true", help="write this run's figures as the new floor")
    args = parser.parse_args()
    figures = quality_figures(json.loads(args.run.read_text(encoding="utf-8"))["summary"])
    if args.record:
        write_json_atomic(RECORDED, figures)
        print(f"recorded {figures} in {RECORDED}")
        return 0
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    failed = False
    for name, floor in recorded.items():
        now = figures.get(name)
        ok = now is not None and now >= floor - TOLERANCE
        failed |= not ok
        shown = "no clips to measure it on" if now is None else f"{now:.3f}"
        print(f"{'ok  ' if ok else 'FELL'} {name}: {shown} (recorded {floor:.3f}, tolerance {TOLERANCE})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
