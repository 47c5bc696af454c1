"""Small timing helpers shared by the benchmarks."""
from __future__ import annotations

import statistics
import time
from typing import Callable


def time_calls(call: Callable[[], object], repeat: int, warmup: int = 3) -> dict[str, float]:
    """Run `call` warmup + repeat times; per-call milliseconds as median, p90, min."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "median_ms": statistics.median(samples),
        "p90_ms": samples[min(len(samples) - 1, int(0.9 * len(samples)))],
        "min_ms": samples[0],
    }
