"""Carebase benchmarks: startup, GET /api/v1/me against baselines, login. See bench/README.md."""
