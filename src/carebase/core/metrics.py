"""Prometheus metrics: request count and latency by route template, method and status."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "carebase_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "carebase_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)

CACHE = Counter(
    "carebase_cache_lookups_total", "In-process cache lookups", ["cache", "outcome"], registry=REGISTRY
)


# The labelled children per (method, route, status), kept: ``labels()`` takes a lock and builds a key
# on every call, and this runs on every request.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe(method: str, route: str, status: int, seconds: float) -> None:
    pair = _children.get((method, route, status))
    if pair is None:
        labels = (method, route, str(status))
        pair = _children[(method, route, status)] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
    pair[0].inc()
    pair[1].observe(seconds)


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
