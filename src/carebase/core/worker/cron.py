"""Cron schedules evaluated in each tenant's timezone, materialised as outbox rows.

``@cron("agenda", "0 8 * * *")`` registers a job. Every worker periodically computes, for each active
tenant (``scope="tenant"``, in the organisation's timezone) or once for the platform (``scope="platform"``,
in UTC), the due times since it last looked, and inserts one outbox row per (job, tenant, due time) with
the dedupe key ``cron:<job>:<due UTC>``. The unique index on ``(tenant_id, dedupe_key)`` makes that insert
idempotent across any number of workers, and the row is then delivered like any event (a session
handler with its delivery record): each due run happens once.

A worker that was down catches up on runs due in the last ``CATCH_UP`` (2 h); older ones are skipped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import asyncpg
import orjson
from croniter import croniter
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.ids import new_id
from carebase.core.worker.registry import handler

log = logging.getLogger("carebase.worker")

CATCH_UP = timedelta(hours=2)
PLATFORM_TENANT_ID = "00000000-0000-7000-8000-000000000000"  # carebase.tenancy.models.PLATFORM_TENANT_ID


@dataclass(frozen=True, slots=True)
class CronRun:
    job: str
    tenant_id: Any  # uuid.UUID
    due_at: datetime  # UTC
    timezone: str

    @property
    def local_due(self) -> datetime:
        return self.due_at.astimezone(ZoneInfo(self.timezone))


CronFn = Callable[[AsyncSession, CronRun], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class CronJob:
    name: str
    expr: str
    fn: CronFn
    scope: Literal["tenant", "platform"]

    @property
    def topic(self) -> str:
        return f"cron.{self.name}"


CRON: dict[str, CronJob] = {}


def cron(name: str, expr: str, *, scope: Literal["tenant", "platform"] = "tenant") -> Callable[[CronFn], CronFn]:
    if not croniter.is_valid(expr):
        raise ValueError(f"invalid cron expression for {name}: {expr!r}")

    def register(fn: CronFn) -> CronFn:
        job = CronJob(name, expr, fn, scope)
        CRON[name] = job

        async def run(session: AsyncSession, event: dict[str, Any]) -> None:
            payload = event["payload"]
            await job.fn(session, CronRun(name, event["tenant_id"], datetime.fromisoformat(payload["due_at"]),
                                          payload["timezone"]))  # fmt: skip

        handler(job.topic, session=True, name=job.topic)(run)
        return fn

    return register


def due_times(expr: str, tz: str, after: datetime, until: datetime) -> list[datetime]:
    """Due times of ``expr`` in zone ``tz`` within ``(after, until]``, as UTC datetimes."""
    zone = ZoneInfo(tz)
    it = croniter(expr, after.astimezone(zone))
    out = []
    while True:
        nxt: datetime = it.get_next(datetime)
        utc = nxt.astimezone(UTC)
        if utc > until:
            return out
        if utc > after:
            out.append(utc)


def dedupe_key(job: str, due_at: datetime) -> str:
    return f"cron:{job}:{due_at.astimezone(UTC):%Y-%m-%dT%H:%M}Z"


INSERT_SQL = """
INSERT INTO outbox (id, tenant_id, topic, payload, dedupe_key, available_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::text[], $6::timestamptz[])
ON CONFLICT (tenant_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
"""


async def materialise(
    conn: asyncpg.Connection, *, after: datetime, until: datetime, jobs: list[CronJob] | None = None,
    tenant_ids: list[uuid.UUID] | None = None,
) -> int:
    """Insert the outbox rows of every run due in ``(after, until]``; returns how many were new.
    ``tenant_ids`` limits tenant-scoped jobs to those tenants (tests and tools; the worker does all)."""
    jobs = list(CRON.values()) if jobs is None else jobs
    if not jobs:
        return 0
    after = max(after, until - CATCH_UP)
    tenants = await conn.fetch(
        "SELECT id, timezone FROM organizations WHERE status = 'active' AND id <> $1::uuid"
        " AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))",
        PLATFORM_TENANT_ID, tenant_ids,
    )
    cols: tuple[list[Any], ...] = ([], [], [], [], [], [])

    def add(job: CronJob, tenant_id: Any, tz: str) -> None:
        for due in due_times(job.expr, tz, after, until):
            for col, value in zip(cols, (
                new_id(), tenant_id, job.topic,
                orjson.dumps({"job": job.name, "due_at": due.isoformat(), "timezone": tz}).decode(),
                dedupe_key(job.name, due), due,
            ), strict=True):  # fmt: skip
                col.append(value)

    for job in jobs:
        if job.scope == "platform":
            add(job, PLATFORM_TENANT_ID, "UTC")
        else:
            for tenant in tenants:
                add(job, tenant["id"], tenant["timezone"] or "UTC")
    if not cols[0]:
        return 0
    status = await conn.execute(INSERT_SQL, *cols)
    inserted = int(status.rsplit(" ", 1)[-1])
    if inserted:
        await conn.execute("SELECT pg_notify('carebase_outbox', 'cron')")
        log.info("cron runs materialised", extra={"count": inserted})
    return inserted


async def emit_once(
    session: AsyncSession, tenant_id: Any, topic: str, payload: dict[str, Any], dedupe_key: str
) -> bool:
    """Emit an outbox event unless one with the same (tenant, dedupe key) exists; True when new."""
    from sqlalchemy import text

    result = await session.execute(
        text("INSERT INTO outbox (id, tenant_id, topic, payload, dedupe_key) VALUES (:i, :t, :topic,"
             " CAST(:p AS jsonb), :k) ON CONFLICT (tenant_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING"
             " RETURNING 1"),
        {"i": new_id(), "t": tenant_id, "topic": topic, "p": orjson.dumps(payload).decode(), "k": dedupe_key},
    )  # fmt: skip
    if result.first() is None:
        return False
    await session.execute(text("SELECT pg_notify('carebase_outbox', :topic)"), {"topic": topic})
    return True
