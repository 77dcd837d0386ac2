"""Live-update figures (``python -m bench.run --only ws``): ``--ws-clients`` WebSocket clients (default
1,000) connected to one ``carebase serve`` (its in-process worker, PostgreSQL LISTEN/NOTIFY bus), all
subscribed to one front-desk board; ``--ws-events`` times (default 50), an ``appointment.checked_in``
event for that board is committed to the outbox, and we measure from the moment COMMIT returns to the
moment each client has the frame (outbox NOTIFY -> worker claim -> realtime handler: catch-up row +
NOTIFY in its transaction -> the server's listener -> the hub -> 1,000 sockets -> the clients).

Clients and emitter share this process and its clock (``time.perf_counter``); the clients run on uvloop
and only look for the event's marker in the text (no JSON parsing), but they still share the machine's
CPUs with the server and PostgreSQL, so figures are an upper bound. Targets (issue 4): p99 < 100 ms;
the seed asks < 20 ms."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import statistics
import time
import uuid
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ws-clients", type=int, default=1000, help="WebSocket clients for --only ws (default 1000)")
    p.add_argument("--ws-events", type=int, default=50, help="events committed for --only ws (default 50)")


def raise_nofile(wanted: int) -> int:
    """Lift the soft open-files limit (inherited by the server we start afterwards) towards ``wanted``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _quantiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100)
    return {"p50": round(q[49], 2), "p95": round(q[94], 2), "p99": round(q[98], 2), "max": round(max(values), 2)}


async def _run(port: int, owner_dsn: str, token: str, tenant_id: uuid.UUID, location_id: uuid.UUID,
               clients: int, events: int) -> dict[str, Any]:  # fmt: skip
    import asyncpg
    import websockets

    url = f"ws://127.0.0.1:{port}/ws"
    topic = f"board:{location_id}"
    # marker -> per-client receive times
    arrivals: dict[str, list[float]] = {}
    expected: dict[str, asyncio.Event] = {}
    sockets: list[Any] = []

    async def client() -> None:
        ws = await websockets.connect(url, subprotocols=["carebase.v1", f"bearer.{token}"],  # type: ignore[list-item]
                                      open_timeout=60, max_queue=None, compression=None)  # fmt: skip
        sockets.append(ws)
        await ws.recv()  # ready
        await ws.send(json.dumps({"type": "subscribe", "topics": [topic]}))
        reply = await ws.recv()
        if "subscribed" not in str(reply):
            raise RuntimeError(f"subscribe failed: {reply!r}")

    async def listen(ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                now = time.perf_counter()
                for marker, times in arrivals.items():
                    if marker in raw:
                        times.append(now)
                        if len(times) == clients:
                            expected[marker].set()
                        break

    t_connect = time.perf_counter()
    gate = asyncio.Semaphore(100)

    async def gated() -> None:
        async with gate:
            await client()

    await asyncio.gather(*(gated() for _ in range(clients)))
    connect_seconds = time.perf_counter() - t_connect
    listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
    conn = await asyncpg.connect(owner_dsn)
    latencies: list[float] = []
    last_client: list[float] = []
    lost = 0
    try:
        await asyncio.sleep(1.0)
        for _ in range(events):
            marker = str(uuid.uuid4())
            arrivals[marker], expected[marker] = [], asyncio.Event()
            payload = json.dumps({"appointment_id": marker, "location_id": str(location_id), "status": "checked_in"})
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO outbox (id, tenant_id, topic, payload) VALUES ($1, $2, 'appointment.checked_in', $3)",
                    uuid.uuid4(), tenant_id, payload,
                )  # fmt: skip
                await conn.execute("SELECT pg_notify('carebase_outbox', 'appointment.checked_in')")
            committed = time.perf_counter()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(expected[marker].wait(), timeout=10)
            times = arrivals.pop(marker)
            lost += clients - len(times)
            latencies += [(t - committed) * 1000 for t in times]
            if times:
                last_client.append((max(times) - committed) * 1000)
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
        for task in listeners:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        "clients": clients, "events": events, "frames_received": len(latencies), "frames_lost": lost,
        "connect_seconds": round(connect_seconds, 2),
        "latency_ms": _quantiles(latencies) if len(latencies) > 1 else None,
        "last_client_ms": _quantiles(last_client) if len(last_client) > 1 else None,
        "targets": {"p99_ms": 100, "seed_ms": 20},
    }  # fmt: skip


def bench_ws(args: argparse.Namespace, server: Any, db: Any) -> dict[str, Any]:
    import asyncpg

    from bench.run import login_token
    from carebase.core.bootstrap import asyncpg_dsn
    from carebase.demo import DEMO_PASSWORD

    async def demo_board() -> tuple[uuid.UUID, uuid.UUID]:
        conn = await asyncpg.connect(asyncpg_dsn(db.owner_url))
        try:
            row = await conn.fetchrow(
                "SELECT l.tenant_id, l.id FROM locations l JOIN memberships m ON m.tenant_id = l.tenant_id"
                " JOIN users u ON u.id = m.user_id WHERE u.email = 'reception@riverside.example'"
                " ORDER BY l.name LIMIT 1"
            )
        finally:
            await conn.close()
        assert row is not None, "the demo clinic has no location"
        return row[0], row[1]

    tenant_id, location_id = asyncio.run(demo_board())
    token = login_token(server.port, "reception@riverside.example", DEMO_PASSWORD)["access_token"]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    result = runner(_run(server.port, asyncpg_dsn(db.owner_url), token, tenant_id, location_id,
                         args.ws_clients, args.ws_events))  # fmt: skip
    result["open_files_limit"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return result


def table_lines(report: dict[str, Any]) -> list[str]:
    w = report.get("ws")
    if not w:
        return []
    lat, last = w["latency_ms"] or {}, w["last_client_ms"] or {}
    return [
        f"ws: {w['clients']} clients on one board, {w['events']} events committed; {w['frames_received']} frames,"
        f" {w['frames_lost']} lost; connected in {w['connect_seconds']} s",
        f"ws commit->client        p50 {lat.get('p50')} ms  p95 {lat.get('p95')} ms  p99 {lat.get('p99')} ms"
        f"  max {lat.get('max')} ms (target p99 < 100; seed < 20)",
        f"ws commit->last client   p50 {last.get('p50')} ms  p95 {last.get('p95')} ms  p99 {last.get('p99')} ms",
    ]
