"""Benchmark scripts (run with ``python -m tests.bench.<name>``; not collected by pytest)."""
