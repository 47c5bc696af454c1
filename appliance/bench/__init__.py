"""Benchmarks: measured figures printed on demand (never asserted in timed tests)."""
