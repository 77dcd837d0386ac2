"""Group linking: the hot paths' audit events join their chain just after the commit, many at a time.

The booking statements (migration 0015) leave their audit event in ``audit_pending`` with
``link_at_commit`` false. Before its response, such a request waits in ``linked`` until a call of
``app_audit_link_pending`` for its tenant that began after its commit has returned. One call links every
event of the tenant committed by then, so under load one lock of the chain's head and one commit serve
many requests, the way PostgreSQL's group commit serves many transactions with one flush; the requests
of one tenant no longer queue for the head one commit at a time. A response still means "in the chain".

The same call sends the NOTIFYs those statements left to it (``app.notify_later``, migration 0015): cache
invalidations and the worker's wake-up, once per batch, after the bookings have committed. A NOTIFY holds
PostgreSQL's one notification-queue lock through its transaction's commit, so sending them from every
booking made every tenant's booking commits queue behind each other.

A failed call fails no request (its booking is committed): the events wait in ``audit_pending`` for the
next call or the worker's sweep (``link_stale``), and the error is logged. Its notices are lost: other
processes' availability caches may show the practitioner's old free time until their entries expire (a
hold on it is refused by the database), and the worker finds the events on its next poll.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.worker import periodic

log = logging.getLogger("carebase.audit.linker")

# The tenant's waiting events linked, and the batch's notices (channel, payload) sent at its commit.
LINK_SQL = (
    "SELECT app_audit_link_pending($1),"
    " (SELECT count(pg_notify(n.channel, n.payload)) FROM unnest($2::text[], $3::text[]) AS n(channel, payload))"
)
Notice = tuple[str, str]
# A database that stops answering must not hold every booking's response: after this long the waiters are
# answered (their bookings are committed) and their events left to the sweep.
TIMEOUT = 5.0


def _args(tenant_id: uuid.UUID, notices: Iterable[Notice]) -> tuple[uuid.UUID, list[str], list[str]]:
    pairs = sorted(set(notices))
    return tenant_id, [c for c, _ in pairs], [p for _, p in pairs]


class GroupLinker:
    """One per web process, on a connection of its own (the request pool's queue would delay every waiter)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._waiting: dict[uuid.UUID, list[asyncio.Future[None]]] = {}
        self._notices: dict[uuid.UUID, set[Notice]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None

    async def linked(self, tenant_id: uuid.UUID, notices: Iterable[Notice] = ()) -> None:
        """Return once the tenant's events committed before this call are in its chain and ``notices`` are
        sent (or the attempt failed)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tenant_id, []).append(future)
        self._notices.setdefault(tenant_id, set()).update(notices)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="audit-linker")
        await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                tenant_id = next(iter(self._waiting))  # tenants in the order they first asked
                futures = self._waiting.pop(tenant_id)
                await self._link(tenant_id, self._notices.pop(tenant_id, set()))
                for future in futures:
                    if not future.done():
                        future.set_result(None)

    async def _link(self, tenant_id: uuid.UUID, notices: set[Notice]) -> None:
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self._dsn, timeout=TIMEOUT)
            await self._conn.fetchval(LINK_SQL, *_args(tenant_id, notices), timeout=TIMEOUT)
        except Exception as exc:
            log.error("audit linking failed; the sweep will retry", extra={"error": type(exc).__name__})
            await self._drop_connection()

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for futures in self._waiting.values():
            for future in futures:
                if not future.done():
                    future.set_result(None)
        self._waiting.clear()
        self._notices.clear()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


_current: GroupLinker | None = None


def install(linker: GroupLinker | None) -> None:
    global _current
    _current = linker


async def link_after_commit(conn: asyncpg.Connection, tenant_id: uuid.UUID, notices: Iterable[Notice] = ()) -> None:
    """After a statement that left events for linking (and ``notices`` to send) has committed: through the
    process's group linker, or, where none is installed (commands, scripts), on ``conn`` at once."""
    if _current is not None:
        await _current.linked(tenant_id, notices)
    else:
        await conn.fetchval(LINK_SQL, *_args(tenant_id, notices))


_STALE_TENANTS = text(
    "SELECT DISTINCT tenant_id FROM audit_pending WHERE NOT link_at_commit"
    " AND (event->>'occurred_at')::timestamptz < now() - interval '10 seconds'"
)


@periodic
async def link_stale(session: AsyncSession) -> int:
    """Link what a web process committed but did not link (it crashed, or its call failed): tenants whose
    oldest waiting event is over 10 seconds old. Runs in the worker, as the owner."""
    tenants = (await session.execute(_STALE_TENANTS)).scalars().all()
    for tenant_id in tenants:
        await session.execute(text("SELECT app_audit_link_pending(:t)"), {"t": tenant_id})
    return len(tenants)
