"""One unit of work per request or job: it opens the transaction, sets the tenant context,
and is the only place that commits (services only flush).

Work that must wait for the commit (sending a message, publishing) is registered with
``after_commit`` and runs only if the transaction commits."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.db import Database, begin_statement, rollback_quietly, set_context
from carebase.core.errors import CarebaseError

log = logging.getLogger("carebase.uow")


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    session.info.setdefault("after_commit", []).append(callback)


def run_callbacks(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("after-commit callback failed")


def _run_after_commit(session: AsyncSession) -> None:
    run_callbacks(session.info.pop("after_commit", []))


async def _commit(session: AsyncSession) -> None:
    await session.commit()
    _run_after_commit(session)


@asynccontextmanager
async def unit_of_work(
    db: Database,
    *,
    tenant_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    platform_admin: bool = False,
) -> AsyncIterator[AsyncSession]:
    session = db.sessionmaker()
    try:
        await session.begin()
        if tenant_id or user_id:
            await set_context(session, tenant_id=tenant_id, user_id=user_id, platform_admin=platform_admin)
        yield session
        await _commit(session)
    except CarebaseError as exc:
        if exc.keep_changes:
            await _commit(session)
        else:
            await session.rollback()
        raise
    except BaseException:
        await session.rollback()
        raise
    finally:
        session.info.pop("after_commit", None)
        await session.close()


@asynccontextmanager
async def raw_transaction_unless_open(
    conn: asyncpg.Connection, *, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> AsyncIterator[None]:
    """The block inside a transaction, for the rare steps of the one-statement hot paths (``hold_confirm``,
    ``idempotency``) that need several statements to hold together: the caller's transaction when one is
    open (its context is already set), else one of its own with the unit of work's rules, begun in the
    tenant's context (one round trip, ``begin_statement``), committed when the block ends, rolled back on
    an error unless it ``keep_changes``."""
    if conn.is_in_transaction():
        yield
        return
    await conn.execute(begin_statement(tenant_id=tenant_id, user_id=user_id))
    try:
        yield
    except CarebaseError as exc:
        if exc.keep_changes:
            await conn.execute("COMMIT")
        else:
            await rollback_quietly(conn)
        raise
    except BaseException:
        await rollback_quietly(conn)
        raise
    await conn.execute("COMMIT")
