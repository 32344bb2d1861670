"""Latency and accuracy (TAP-Vid) benchmarks: `python -m benchmarks ...`."""
