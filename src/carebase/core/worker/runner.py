"""Claiming and running outbox events: leases, per-handler delivery records, retries, dead letters.

Claim: one statement moves up to ``limit`` rows to ``running`` with a lease (``leased_until``), taking
``pending`` rows that are due and ``running`` rows whose lease ran out (their worker died), with
``FOR UPDATE SKIP LOCKED`` so concurrent workers never claim the same row. Each claim counts as an
attempt, so an event that keeps killing its worker still ends up dead.

Run: batch handlers first, each once with all its events of the batch, then each event's other handlers; a
handler runs in its own transaction together with its ``outbox_deliveries`` rows; a handler whose row exists
already is skipped (a retry, or a second worker after a lease takeover, which blocks
on the unique key until the first commits). Events whose handlers all succeeded are marked ``done`` in
one statement per batch; a crash before that only costs a skipped re-run after the lease.

Failure: full-jitter exponential backoff (``uniform(0, min(cap, base * 2**attempts))``), ``dead`` after
``MAX_ATTEMPTS``. Logs carry ids, topics and exception class names, never payloads (they may hold PHI).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from carebase.core.worker.registry import SPECS, HandlerSpec

log = logging.getLogger("carebase.worker")

MAX_ATTEMPTS = int(os.environ.get("CAREBASE_WORKER_MAX_ATTEMPTS", "8"))
LEASE_SECONDS = float(os.environ.get("CAREBASE_WORKER_LEASE_SECONDS", "60"))
BACKOFF_BASE = float(os.environ.get("CAREBASE_WORKER_BACKOFF_BASE", "2"))
BACKOFF_CAP = 3600.0

CLAIM_SQL = """
UPDATE outbox SET status = 'running', attempts = attempts + 1, leased_until = now() + make_interval(secs => $3)
WHERE id IN (
  SELECT id FROM outbox
  WHERE topic = ANY($1::text[]) AND (
    (status = 'pending' AND available_at <= now()) OR (status = 'running' AND leased_until < now()))
  ORDER BY available_at LIMIT $2 FOR UPDATE SKIP LOCKED)
RETURNING id, tenant_id, topic, payload::text AS payload, attempts, dedupe_key, created_at
"""
RECORD_SQL = "INSERT INTO outbox_deliveries (event_id, handler_name) VALUES ($1, $2) ON CONFLICT DO NOTHING"
RECORD_MANY_SQL = (
    "INSERT INTO outbox_deliveries (event_id, handler_name) SELECT unnest($1::uuid[]), $2"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)
DONE_SQL = "UPDATE outbox SET status = 'done', leased_until = NULL, last_error = NULL WHERE id = ANY($1::uuid[])"
RENEW_SQL = "UPDATE outbox SET leased_until = now() + make_interval(secs => $2) WHERE id = ANY($1::uuid[])"
RELEASE_SQL = (
    "UPDATE outbox SET status = 'pending', attempts = greatest(attempts - 1, 0), leased_until = NULL"
    " WHERE id = ANY($1::uuid[]) AND status = 'running'"
)
FAIL_SQL = (
    "UPDATE outbox SET status = $2, last_error = $3, available_at = now() + make_interval(secs => $4),"
    " leased_until = NULL WHERE id = $1"
)


def _event(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"], "tenant_id": row["tenant_id"], "topic": row["topic"], "payload": orjson.loads(row["payload"]),
        "attempts": row["attempts"], "dedupe_key": row["dedupe_key"], "created_at": row["created_at"],
    }  # fmt: skip


def backoff(attempts: int, *, base: float | None = None, cap: float = BACKOFF_CAP) -> float:
    """Full jitter: a uniform delay up to the exponential bound, so retries of many events spread out."""
    bound = min(cap, (BACKOFF_BASE if base is None else base) * 2 ** max(attempts - 1, 0))
    return random.uniform(0, bound)  # noqa: S311  (jitter, not a secret)


class Runner:
    """Runs claimed events on one owner connection (and, for session handlers, an owner sessionmaker)."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        *,
        lease_seconds: float | None = None,
        stop: asyncio.Event | None = None,
        topics: list[str] | None = None,
    ) -> None:
        self.conn = conn
        self.topics = topics  # None: every topic with a handler
        self.sessions = sessions
        self.lease = LEASE_SECONDS if lease_seconds is None else lease_seconds
        self.stop = stop

    async def claim(self, limit: int) -> list[asyncpg.Record]:
        topics = [t for t, specs in SPECS.items() if specs and (self.topics is None or t in self.topics)]
        if not topics:
            return []
        return await self.conn.fetch(CLAIM_SQL, topics, limit, self.lease)

    async def run_batch(self, limit: int = 100) -> int:
        rows = await self.claim(limit)
        if not rows:
            return 0
        events = [_event(row) for row in rows]
        failed = await self.run_batch_handlers(events)
        done: list[Any] = []
        renew_at = time.monotonic() + self.lease / 3
        for index, event in enumerate(events):
            if self.stop is not None and self.stop.is_set():
                # Graceful shutdown: hand the rest back at once rather than after the lease.
                await self.conn.execute(RELEASE_SQL, [e["id"] for e in events[index:]])
                break
            if time.monotonic() > renew_at:
                await self.conn.execute(RENEW_SQL, [e["id"] for e in events[index:]], self.lease)
                renew_at = time.monotonic() + self.lease / 3
            if event["id"] in failed:
                await self.failed(event, *failed[event["id"]])
            elif await self.run_event(event):
                done.append(event["id"])
        if done:
            await self.conn.execute(DONE_SQL, done)
        return len(rows)

    async def run_batch_handlers(self, events: list[dict[str, Any]]) -> dict[Any, tuple[str, Exception]]:
        """Each batch handler once with its events of the batch; returns the events that failed and why."""
        groups: dict[tuple[str, Any], tuple[HandlerSpec, list[dict[str, Any]]]] = {}
        for event in events:
            for spec in SPECS.get(event["topic"], ()):
                if spec.batch:
                    groups.setdefault((spec.name, spec.fn), (spec, []))[1].append(event)
        failed: dict[Any, tuple[str, Exception]] = {}
        for spec, group in groups.values():
            try:
                await self.deliver_batch(spec, group)
                continue
            except Exception as exc:
                if len(group) == 1:
                    failed[group[0]["id"]] = (spec.name, exc)
                    continue
            for event in group:  # one at a time: the bad one fails alone
                try:
                    await self.deliver_batch(spec, [event])
                except Exception as exc:
                    failed[event["id"]] = (spec.name, exc)
        return failed

    async def run_event(self, event: dict[str, Any]) -> bool:
        spec: HandlerSpec | None = None
        try:
            for spec in list(SPECS.get(event["topic"], ())):
                if not spec.batch:
                    await self.deliver(spec, event)
        except Exception as exc:
            await self.failed(event, spec.name if spec else "?", exc)
            return False
        return True

    async def failed(self, event: dict[str, Any], handler: str, exc: Exception) -> None:
        dead = event["attempts"] >= MAX_ATTEMPTS
        delay = 0.0 if dead else backoff(event["attempts"])
        await self.conn.execute(
            FAIL_SQL, event["id"], "dead" if dead else "pending", f"{handler}: {type(exc).__name__}"[:2000], delay
        )
        log.warning(
            "event handler failed",
            extra={"topic": event["topic"], "event_id": str(event["id"]), "handler": handler,
                   "attempts": event["attempts"], "dead": dead, "error": type(exc).__name__},
        )  # fmt: skip

    async def deliver_batch(self, spec: HandlerSpec, events: list[dict[str, Any]]) -> None:
        async with self.conn.transaction():
            fresh = {r[0] for r in await self.conn.fetch(RECORD_MANY_SQL, [e["id"] for e in events], spec.name)}
            todo = [e for e in events if e["id"] in fresh]
            if todo:
                await spec.fn(self.conn, todo)

    async def deliver(self, spec: HandlerSpec, event: dict[str, Any]) -> None:
        if spec.session:
            if self.sessions is None:
                self.sessions = default_sessions()
            async with self.sessions() as session, session.begin():
                result = await session.execute(
                    text("INSERT INTO outbox_deliveries (event_id, handler_name) VALUES (:e, :h)"
                         " ON CONFLICT DO NOTHING RETURNING 1"),
                    {"e": event["id"], "h": spec.name},
                )  # fmt: skip
                if result.first() is None:
                    return
                await spec.fn(session, event)
            return
        async with self.conn.transaction():
            status = await self.conn.execute(RECORD_SQL, event["id"], spec.name)
            if status.endswith(" 0"):
                return
            await spec.fn(self.conn, event)


async def run_batch(
    conn: asyncpg.Connection, limit: int = 100, *, sessions: async_sessionmaker[AsyncSession] | None = None,
    topics: list[str] | None = None,
) -> int:
    """Claim and run one batch on ``conn`` (tests and tools; the worker loop uses a long-lived Runner)."""
    return await Runner(conn, sessions, topics=topics).run_batch(limit)


async def drain(
    conn: asyncpg.Connection, sessions: async_sessionmaker[AsyncSession] | None = None,
    *, topics: list[str] | None = None,
) -> int:
    """Run batches until nothing is due (tests)."""
    total = 0
    runner = Runner(conn, sessions, topics=topics)
    while n := await runner.run_batch():
        total += n
    return total


_DEFAULT_SESSIONS: async_sessionmaker[AsyncSession] | None = None


def default_sessions() -> async_sessionmaker[AsyncSession]:
    """Owner sessions from the settings, for ``run_batch(conn)`` callers that pass none (tests, tools)."""
    global _DEFAULT_SESSIONS
    if _DEFAULT_SESSIONS is None:
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        from carebase.core.bootstrap import resolve_owner_url
        from carebase.core.db import async_url
        from carebase.settings import get_settings

        engine = create_async_engine(async_url(resolve_owner_url(get_settings())), poolclass=NullPool)
        _DEFAULT_SESSIONS = async_sessionmaker(engine, expire_on_commit=False)
    return _DEFAULT_SESSIONS
