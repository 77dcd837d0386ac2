"""The search section's paced latency curve (``--search-rates``): distinct queries at fixed offered rates.

The closed loop of bench.search keeps 32 requests in flight, so on a 2-core machine it measures saturation and
its p95 is mostly queueing (Little's law: 32 / throughput). Here the load is an open loop: at each offered
rate, requests start on an evenly spaced schedule (one every 1 / rate seconds) over a fixed pool of
connections (``--concurrency``, 32), any idle connection taking the next due request (one shared queue,
bench.paced.Pacer.shared); each request is timed from its intended start (coordinated-omission correction),
so a connection pool that falls behind shows its backlog in the latency. Every request is a search path never
sent before in the section (bench.search ``fresh``), so each misses the cache and runs its SQL. Requests due
in the warm-up are sent but not measured.

The clients run in their own process, ``python -m bench.search_paced paced < spec.json`` (one JSON line
out), on ``bench.httpclient.LeanClient`` (HTTP/1.1 keep-alive, one connection each).
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import paced

TIMEOUT_S = 30.0  # one request; a timed-out request counts as an error and its connection is reopened


def log(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------------------------------
# The client process


async def _paced(spec: dict[str, Any]) -> dict[str, Any]:
    from bench.httpclient import LeanClient

    n, rate = int(spec["connections"]), float(spec["rate"])
    warm, dur = float(spec["warmup"]), float(spec["duration"])
    headers = {"User-Agent": "carebase-bench", "Accept": "application/json"}
    clients = [LeanClient(spec["host"], int(spec["port"]), headers) for _ in range(n)]
    paths = collections.deque(spec["paths"])
    try:
        t0 = time.perf_counter()
        start_at, end_at = t0 + warm, t0 + warm + dur
        drain_until = end_at + float(spec["drain"])
        times = [t for t in (t0 + k / rate for k in range(int((warm + dur) * rate) + 1)) if t < end_at]
        pacer = paced.Pacer.shared(times, n, start_at, drain_until)
        window = paced.Window(int(spec["server_pid"]))
        ms: list[float] = []
        errors: collections.Counter[str] = collections.Counter()
        counts = collections.Counter({"answered": 0, "ok_in_window": 0})

        async def run(i: int) -> None:
            cl = clients[i]

            async def get(intended: float) -> None:
                try:
                    r = await asyncio.wait_for(cl.get(paths.popleft()), TIMEOUT_S)
                except Exception as exc:  # noqa: BLE001 (counted; the connection is reopened)
                    await cl.aclose()
                    if intended >= start_at:
                        errors[exc.__class__.__name__] += 1
                    return
                done = time.perf_counter()
                counts["ok_in_window"] += r.status_code == 200 and start_at <= done <= end_at
                if intended < start_at:
                    return
                counts["answered"] += 1
                ms.append((done - intended) * 1000)
                if r.status_code != 200:
                    errors[str(r.status_code)] += 1

            await pacer.follow(i, get, more=lambda: bool(paths))

        stalls: dict[str, float] = {}
        await asyncio.gather(window.track(warm, dur), paced.loop_stalls(start_at, end_at, stalls),
                             *(run(i) for i in range(n)))  # fmt: skip
        window.close()
        drained_s = max(0.0, time.perf_counter() - end_at)
    finally:
        await asyncio.gather(*(cl.aclose() for cl in clients))
    if pacer.unsent:
        errors["not sent (drain limit or out of paths)"] += pacer.unsent
    return {"connections": n, "dispatch": "shared queue: any idle connection takes the next due request",
            "seconds": dur, "warmup_s": warm, "offered_per_s": rate, "scheduled": pacer.scheduled,
            "answered": counts["answered"], "unsent": pacer.unsent,
            "achieved_per_s": round(counts["ok_in_window"] / dur, 1), "latency": paced.pcts(ms),
            "started_late": pacer.late, "late_threshold_ms": paced.LATE_S * 1000,
            "start_lag": paced.pcts(pacer.lag_ms), "client_loop_stall": stalls, "errors": dict(errors),
            "drained_after_window_s": round(drained_s, 2), **window.stats}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The bench process


def curve(args: Any, server: Any, rates: list[float], fresh: Callable[[int, int], list[str]]) -> list[dict[str, Any]]:
    """One paced run per offered rate, each on its own never-sent search paths (``fresh(n, seed)``)."""
    from bench.servers import HOST

    out = []
    drain = max(10.0, float(args.duration))
    for k, rate in enumerate(rates):
        need = int((args.warmup + args.duration) * rate) + 1
        paths: list[str] = []
        seed = 50_000 + 100 * k  # the section's other sets use seeds below 50,000; fresh() drops any repeat anyway
        while len(paths) < need:
            paths += fresh(need - len(paths) + 50, seed)
            seed += 1
        log(f"  distinct paced: {rate:g} req/s offered over {args.concurrency} connections (any idle one takes"
            f" the next due request), {args.warmup:g} s warm-up + {args.duration:g} s; latency from the intended"
            " start")  # fmt: skip
        spec = {"host": HOST, "port": server.port, "server_pid": server.pid, "connections": args.concurrency,
                "rate": rate, "warmup": args.warmup, "duration": args.duration, "drain": drain,
                "paths": paths}  # fmt: skip
        p = _client_process(spec, timeout=args.warmup + args.duration + drain + TIMEOUT_S + 120)
        p["distinct_paths"] = len(paths)
        q = p["latency"]
        log(f"  paced {rate:6g} req/s: achieved {p['achieved_per_s']:.1f} req/s; p50/p95/p99/max {q['p50_ms']}/"
            f"{q['p95_ms']}/{q['p99_ms']}/{q['max_ms']} ms; started > {p['late_threshold_ms']:g} ms late"
            f" {p['started_late']} of {p['scheduled']} (max lag {p['start_lag']['max_ms']} ms; the client's own"
            f" longest stall {p['client_loop_stall']['max_ms']} ms); errors"
            f" {p['errors'] or 0}; server CPU {p['server_cpu_pct']}%  client CPU {p['client_cpu_pct']}%  postgres"
            f" CPU {p['postgres_cpu_pct']}%  machine busy {p['machine_busy_pct']}%  ({pace(p)})")  # fmt: skip
        out.append(p)
    return out


def _client_process(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(  # noqa: S603 (our own module, our own interpreter)
        [sys.executable, "-m", "bench.search_paced", "paced"], input=json.dumps(spec), capture_output=True,
        text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"search paced client failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def pace(p: dict[str, Any]) -> str:
    """Whether the schedule held: "FELL BEHIND" when the latency includes a backlog."""
    late = p["started_late"] / p["scheduled"] if p["scheduled"] else 0.0
    if p["achieved_per_s"] < 0.95 * p["offered_per_s"] or p["unsent"] or late > 0.5:
        return "FELL BEHIND: the latency includes the backlog"
    if late > 0.01:
        return f"at its limit: {100 * late:.0f}% started late, the wait is in the latency"
    return "kept up"


def table_lines(s: dict[str, Any]) -> list[str]:
    """The curve's rows under the search section's table (``s``: the section's report)."""
    curve_ = s.get("paced") or []
    if not curve_:
        return []
    first = curve_[0]
    lines = [
        f"  distinct queries paced (open loop, latency from each request's intended start): {first['connections']}"
        f" connections, any idle one takes the next due request, {first['seconds']:g} s after {first['warmup_s']:g} s"
        " warm-up, every path new (cache misses)",
        f"  late: started > {first['late_threshold_ms']:g} ms after its intended time; stall ms: the client's own"
        " longest event-loop stall (when it is small, late starts mean every connection was busy: the server's wait)",
        f"  {'':38s} {'achieved':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} {'late':>6s}"
        f" {'stall ms':>8s} {'srv CPU':>8s} {'cli CPU':>7s} {'pg CPU':>7s} {'machine':>8s}  errors",
    ]
    target = s["target_p95_ms"]
    for p in curve_:
        q, label = p["latency"], f"search, distinct, paced at {p['offered_per_s']:g} req/s"
        verdict = "ok" if q["p95_ms"] < target else "ABOVE TARGET"
        lines.append(
            f"  {label:38s} {p['achieved_per_s']:8.1f} {q['p50_ms']:8.2f} {q['p95_ms']:8.2f} {q['p99_ms']:8.2f}"
            f" {q['max_ms']:8.2f} {p['started_late']:6d} {p['client_loop_stall'].get('max_ms', 0):8.1f}"
            f" {p['server_cpu_pct'] or 0:7.0f}%"
            f" {p['client_cpu_pct'] or 0:6.0f}% {p['postgres_cpu_pct'] or 0:6.0f}% {p['machine_busy_pct'] or 0:7.0f}%"
            f"  {p['errors'] or 0}  p95 < {target:g} ms: {verdict}; {pace(p)}"
            + (f" ({p['unsent']} never sent: the percentiles are a lower bound)" if p["unsent"] else "")
        )
    return lines


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    paced.client_main({"paced": _paced})
