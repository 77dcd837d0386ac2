"""The worker: claims outbox events with FOR UPDATE SKIP LOCKED and runs their handlers.

Handlers register per topic with ``handler("topic")``. Events whose topic has no handler stay
pending (no consumer exists yet). Woken by LISTEN/NOTIFY on ``carebase_outbox``, with a slow poll
as a safety net. Retries, dead letters and schedules are completed in the jobs issue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.db import async_url

log = logging.getLogger("carebase.worker")

Handler = Callable[[asyncpg.Connection, dict[str, Any]], Awaitable[None]]
HANDLERS: dict[str, list[Handler]] = {}
CHANNEL = "carebase_outbox"
POLL_SECONDS = 5.0
MAX_ATTEMPTS = 8


Periodic = Callable[[AsyncSession], Awaitable[int]]
# Housekeeping run on every worker cycle (at most every POLL_SECONDS). Each must be idempotent and
# safe with several workers (SKIP LOCKED); cron-style schedules arrive with the jobs issue.
PERIODIC: list[Periodic] = []


def periodic(fn: Periodic) -> Periodic:
    PERIODIC.append(fn)
    return fn


def handler(topic: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS.setdefault(topic, []).append(fn)
        return fn

    return register


CLAIM_SQL = """
UPDATE outbox SET status = 'running', attempts = attempts + 1, leased_until = now() + interval '60 seconds'
WHERE id IN (
  SELECT id FROM outbox
  WHERE status = 'pending' AND available_at <= now() AND topic = ANY($1::text[])
  ORDER BY available_at LIMIT $2 FOR UPDATE SKIP LOCKED)
RETURNING id, tenant_id, topic, payload::text AS payload, attempts
"""


async def run_batch(conn: asyncpg.Connection, limit: int = 100) -> int:
    if not HANDLERS:
        return 0
    rows = await conn.fetch(CLAIM_SQL, list(HANDLERS), limit)
    for row in rows:
        event = dict(row, payload=orjson.loads(row["payload"]))
        try:
            for fn in HANDLERS[row["topic"]]:
                await fn(conn, event)
        except Exception as exc:
            dead = row["attempts"] >= MAX_ATTEMPTS
            delay = min(2 ** row["attempts"], 3600)
            await conn.execute(
                "UPDATE outbox SET status = $2, last_error = $3, available_at = now() + make_interval(secs => $4),"
                " leased_until = NULL WHERE id = $1",
                row["id"], "dead" if dead else "pending", type(exc).__name__[:2000], float(delay),
            )  # fmt: skip
            log.warning("event handler failed", extra={"topic": row["topic"], "event_id": str(row["id"]), "dead": dead})
        else:
            await conn.execute("UPDATE outbox SET status = 'done', leased_until = NULL WHERE id = $1", row["id"])
    return len(rows)


async def run_worker(owner_url: str, stop: asyncio.Event | None = None) -> None:
    import carebase.handlers  # noqa: F401  (registers every context's handlers)

    stop = stop or asyncio.Event()
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    engine = create_async_engine(async_url(owner_url), pool_size=1, max_overflow=0)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    wake = asyncio.Event()
    await conn.add_listener(CHANNEL, lambda *_: wake.set())
    log.info("worker started", extra={"handlers": sorted(HANDLERS)})
    try:
        while not stop.is_set():
            while await run_batch(conn):
                pass
            await run_periodic(sessions)
            wake.clear()
            waiter = asyncio.ensure_future(wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
    finally:
        await conn.close()
        await engine.dispose()
        log.info("worker stopped")


async def run_periodic(sessions: async_sessionmaker[AsyncSession]) -> None:
    for task in PERIODIC:
        try:
            async with sessions() as session, session.begin():
                await task(session)
        except Exception:
            log.exception("periodic task failed", extra={"task": task.__name__})
