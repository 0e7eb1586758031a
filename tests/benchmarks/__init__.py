"""Benchmark scripts (run as modules, not collected by pytest)."""
