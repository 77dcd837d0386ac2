"""Worker figures (``python -m bench.run --only worker``): one ``carebase worker``-like process (the real
``run_worker`` loop) with a no-op handler.

- throughput: 20,000 events committed in one transaction while the worker idles; events/s from that commit
  until the last is ``done`` (each event: claim in batches, its delivery record + handler in a transaction,
  ``done`` per batch);
- latency: one event at a time on an idle worker, from the moment COMMIT returns in the emitter to the
  moment the handler starts (both on this machine's wall clock); p50/p95/p99 over ``--worker-latency-events``.

Targets (issue 4): >= 1,000 events/s; p95 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NOOP, LATENCY = "bench.noop", "bench.latency"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--worker-events", type=int, default=20_000, help="events for the worker throughput run")
    p.add_argument("--worker-latency-events", type=int, default=200, help="events for the latency run")


def serve(owner_url: str) -> None:
    """The worker process: the real loop, limited to the bench topics (no cron)."""
    import signal

    from carebase.core.worker import handler, run_worker

    @handler(NOOP, name="bench.noop")
    async def noop(conn: Any, event: dict[str, Any]) -> None:
        return None

    @handler(LATENCY, name="bench.latency")
    async def started(conn: Any, event: dict[str, Any]) -> None:
        await conn.execute("INSERT INTO bench_worker_latency (event_id, started) VALUES ($1, $2)", event["id"],
                           time.time())  # fmt: skip

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await run_worker(owner_url, stop, import_handlers=False, topics=[NOOP, LATENCY], cron_enabled=False)

    asyncio.run(run())


async def _measure(owner_url: str, proc: subprocess.Popen[bytes], events: int, latency_events: int) -> dict[str, Any]:
    import asyncpg

    from carebase.core.bootstrap import asyncpg_dsn
    from carebase.core.ids import new_id
    from carebase.tenancy.models import PLATFORM_TENANT_ID

    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    await conn.execute("CREATE TABLE IF NOT EXISTS bench_worker_latency (event_id uuid PRIMARY KEY, started float8)")
    try:
        await asyncio.sleep(2.0)  # the worker is up and idle
        ids = [new_id() for _ in range(events)]
        async with conn.transaction():
            await conn.copy_records_to_table(
                "outbox", columns=["id", "tenant_id", "topic", "payload"],
                records=[(i, PLATFORM_TENANT_ID, NOOP, "{}") for i in ids],
            )  # fmt: skip
            await conn.execute("SELECT pg_notify('carebase_outbox', $1)", NOOP)
        t0 = time.perf_counter()
        while await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = $1 AND status <> 'done'", NOOP):
            await asyncio.sleep(0.02)
            if time.perf_counter() - t0 > 300:
                raise TimeoutError("the worker did not finish in 5 minutes")
        elapsed = time.perf_counter() - t0
        await asyncio.sleep(1.0)  # idle again
        latencies = []
        for _ in range(latency_events):
            event_id = new_id()
            async with conn.transaction():
                await conn.execute("INSERT INTO outbox (id, tenant_id, topic, payload) VALUES ($1, $2, $3, '{}')",
                                   event_id, PLATFORM_TENANT_ID, LATENCY)  # fmt: skip
                await conn.execute("SELECT pg_notify('carebase_outbox', $1)", LATENCY)
            committed = time.time()
            started = None
            while started is None:  # polling another process's write
                started = await conn.fetchval("SELECT started FROM bench_worker_latency WHERE event_id = $1", event_id)
                if started is None:
                    await asyncio.sleep(0.001)
            latencies.append((started - committed) * 1000)
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
    q = statistics.quantiles(latencies, n=100)
    return {
        "events": events, "seconds": round(elapsed, 3), "events_per_s": round(events / elapsed, 1),
        "latency_ms": {"p50": round(q[49], 2), "p95": round(q[94], 2), "p99": round(q[98], 2),
                       "max": round(max(latencies), 2), "n": len(latencies)},
        "targets": {"events_per_s": 1000, "latency_p95_ms": 50},
    }  # fmt: skip


def bench_worker(args: argparse.Namespace, server: Any, db: Any) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    argv = [sys.executable, "-m", "bench.worker", "--serve", db.owner_url]
    proc = subprocess.Popen(argv, cwd=REPO, env=env)  # noqa: S603  (our own interpreter and module)
    try:
        result = asyncio.run(_measure(db.owner_url, proc, args.worker_events, args.worker_latency_events))
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"[bench] worker: {result['events_per_s']} events/s over {result['events']};"
          f" commit-to-handler p95 {result['latency_ms']['p95']} ms", file=sys.stderr)  # fmt: skip
    return result


def table_lines(report: dict[str, Any]) -> list[str]:
    w = report.get("worker")
    if not w:
        return []
    lat = w["latency_ms"]
    return [
        f"worker (no-op handler)   {w['events_per_s']:>10} events/s over {w['events']} (target >= 1000)",
        f"worker commit->handler   p50 {lat['p50']} ms  p95 {lat['p95']} ms  p99 {lat['p99']} ms (target p95 < 50)",
    ]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
