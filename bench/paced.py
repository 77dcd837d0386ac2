"""Open-loop (paced) load, shared by the client processes of the booking and search sections.

A paced run offers a fixed rate: every request has an *intended* start time on an evenly spaced schedule,
and its latency is measured from that intended start, not from when a connection got round to sending it
(coordinated-omission correction, as wrk2 does): a connection that fell behind sends at once and the lag
counts in the latency, so a server that stalls for a second shows a second, not one slow request.

- :class:`Pacer`: the schedule and its bookkeeping (start lag, late starts, requests owed to the measured
  window but never sent). Its intended start times are either one queue per connection (each connection
  follows its own schedule: bench.booking_clients) or one queue shared by all connections (any idle
  connection takes the next due request: bench.search_paced).
- :class:`Window`: CPU figures (server, this process, PostgreSQL, whole machine) over the measured window.
- :func:`pcts`: n, p50/p95/p99/max of a list of milliseconds.
- :func:`loop_stalls`: how long this process's event loop was held up over the window (client-side lag).
- :func:`client_main`: the ``python -m ... MODE < spec.json`` entry point of a client process.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench import loadgen

LATE_S = 0.010  # a paced request sent more than this after its intended start: the schedule fell behind


def pcts(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "n": len(ms),
        "p50_ms": round(loadgen.percentile(ms, 50), 2),
        "p95_ms": round(loadgen.percentile(ms, 95), 2),
        "p99_ms": round(loadgen.percentile(ms, 99), 2),
        "max_ms": round(ms[-1], 2) if ms else float("nan"),
    }


@dataclass
class Window:
    """CPU figures (server, this process, PostgreSQL, whole machine) over the measured window."""

    server_pid: int
    srv0: float | None = None
    cpu: loadgen.CpuWindow | None = None
    me0: float = 0.0
    t0: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)

    def open(self) -> None:
        self.srv0, self.cpu = loadgen.proc_cpu_seconds([self.server_pid]), loadgen.CpuWindow()
        self.me0, self.t0 = time.process_time(), time.perf_counter()

    def close(self) -> None:
        if self.cpu is None:
            return
        secs = time.perf_counter() - self.t0
        srv1 = loadgen.proc_cpu_seconds([self.server_pid])
        busy, pg = self.cpu.close()
        self.stats = {
            "server_cpu_pct": round(100 * (srv1 - self.srv0) / secs, 1) if srv1 is not None and self.srv0 is not None
            else None,
            "client_cpu_pct": round(100 * (time.process_time() - self.me0) / secs, 1),
            "postgres_cpu_pct": pg, "machine_busy_pct": busy,
        }  # fmt: skip
        self.cpu = None

    async def track(self, warm: float, dur: float) -> None:
        """Open after the warm-up, close ``dur`` seconds later (run next to the clients)."""
        await asyncio.sleep(warm)
        self.open()
        await asyncio.sleep(dur)
        self.close()


class Pacer:
    """Intended start times of an open-loop run and what became of them.

    ``start_at``: intended starts from then on are measured (earlier ones are the warm-up). ``drain_until``:
    a connection sends no request after it; the measured requests still owed then are counted in ``unsent``,
    so a stall cannot hide. ``lag_ms``: send time minus intended start of each measured request; ``late``:
    how many of them were sent more than ``LATE_S`` after their intended start."""

    def __init__(self, queues: list[collections.deque[float]], start_at: float, drain_until: float) -> None:
        self.queues, self.start_at, self.drain_until = queues, start_at, drain_until
        distinct = {id(q): q for q in queues}.values()
        self.scheduled = sum(start_at <= t for q in distinct for t in q)
        self.lag_ms: list[float] = []
        self.late = 0
        self.unsent = 0

    @classmethod
    def per_connection(cls, times: list[list[float]], start_at: float, drain_until: float) -> Pacer:
        """Connection i follows its own schedule ``times[i]``."""
        return cls([collections.deque(t) for t in times], start_at, drain_until)

    @classmethod
    def shared(cls, times: list[float], connections: int, start_at: float, drain_until: float) -> Pacer:
        """One schedule (ascending) for all: any idle connection takes the next due request."""
        queue = collections.deque(times)
        return cls([queue] * connections, start_at, drain_until)

    async def follow(self, i: int, send: Callable[[float], Awaitable[None]],
                     more: Callable[[], bool] = lambda: True) -> bool:  # fmt: skip
        """Connection i sends its requests (``await send(intended)``), each at its intended start, or at once
        when it is behind. Returns False when it stopped early (past ``drain_until``, or ``more()`` said no):
        the measured requests left in its queue are then counted in ``unsent``."""
        queue = self.queues[i]
        while queue:
            now = time.perf_counter()
            if now > self.drain_until or not more():
                self.unsent += sum(self.start_at <= t for t in queue)
                queue.clear()
                return False
            intended = queue.popleft()
            if now < intended:
                await asyncio.sleep(intended - now)
            sent = time.perf_counter()
            await send(intended)
            if intended >= self.start_at:
                self.lag_ms.append((sent - intended) * 1000)
                self.late += sent - intended > LATE_S
        return True


async def loop_stalls(start_at: float, end_at: float, out: dict[str, float], tick: float = 0.005) -> None:
    """This process's own stalls between ``start_at`` and ``end_at``: a timer of ``tick`` seconds, and how much
    later than asked it woke (a blocked event loop, GC, the process descheduled). Late starts with a small stall
    here come from the server (every connection busy), not from the client. Fills ``out``: max_ms, over_10ms."""
    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    worst, over = 0.0, 0
    while (before := time.perf_counter()) < end_at:
        await asyncio.sleep(tick)
        stall = time.perf_counter() - before - tick
        worst, over = max(worst, stall), over + (stall > LATE_S)
    out.update({"max_ms": round(worst * 1000, 2), "over_10ms": over})


def client_main(modes: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]]) -> None:
    """``python -m MODULE MODE < spec.json``: run ``modes[MODE](spec)`` on uvloop, print its JSON on one line."""
    mode = sys.argv[1]
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop

        runner: Callable[..., Any] = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    print(json.dumps(runner(modes[mode](spec))))
