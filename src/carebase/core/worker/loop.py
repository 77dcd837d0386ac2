"""The worker process loop: LISTEN wake-ups, batches, cron materialisation, periodic hooks, shutdown.

No busy polling: the loop sleeps until a ``NOTIFY carebase_outbox`` (sent by ``emit()`` at commit), the
next cron check, or the slow safety poll (``POLL_SECONDS``) for retries coming due and leases running out.
``stop`` ends it gracefully: the event in hand finishes, the rest of the batch goes back to ``pending``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.clock import utcnow
from carebase.core.db import async_url
from carebase.core.worker.cron import CATCH_UP, CRON, materialise
from carebase.core.worker.registry import PERIODIC, SPECS
from carebase.core.worker.runner import Runner

log = logging.getLogger("carebase.worker")

CHANNEL = "carebase_outbox"
POLL_SECONDS = float(os.environ.get("CAREBASE_WORKER_POLL_SECONDS", "5"))
CRON_SECONDS = float(os.environ.get("CAREBASE_WORKER_CRON_SECONDS", "15"))
BATCH = 200


async def run_worker(
    owner_url: str, stop: asyncio.Event | None = None, *, import_handlers: bool = True,
    topics: list[str] | None = None, cron_enabled: bool = True,
) -> None:
    """Run until ``stop`` is set. ``topics`` limits the events claimed (tests, bench); ``cron_enabled=False``
    skips schedules and periodic hooks."""
    if import_handlers:
        import carebase.handlers  # noqa: F401  (registers every context's handlers and schedules)

    stop = stop or asyncio.Event()
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    engine = create_async_engine(async_url(owner_url), pool_size=2, max_overflow=0)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    wake = asyncio.Event()
    await conn.add_listener(CHANNEL, lambda *_: wake.set())
    runner = Runner(conn, sessions, stop=stop, topics=topics)
    cron_after = utcnow() - CATCH_UP
    next_cron = 0.0
    log.info("worker started", extra={"topics": sorted(t for t, s in SPECS.items() if s), "cron": sorted(CRON)})
    try:
        while not stop.is_set():
            wake.clear()
            if cron_enabled and time.monotonic() >= next_cron:
                now = utcnow()
                try:
                    await materialise(conn, after=cron_after, until=now)
                    cron_after = now
                except Exception as exc:
                    log.error("cron materialisation failed", extra={"error": type(exc).__name__})
                await run_periodic(sessions)
                next_cron = time.monotonic() + CRON_SECONDS
            while not stop.is_set() and await runner.run_batch(BATCH):
                pass
            if stop.is_set():
                break
            timeout = POLL_SECONDS if not cron_enabled else max(0.0, min(POLL_SECONDS, next_cron - time.monotonic()))
            waiter = asyncio.ensure_future(wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
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
        except Exception as exc:
            log.error("periodic task failed", extra={"task": task.__name__, "error": type(exc).__name__})
