"""The outbox: domain events written in the business transaction, consumed after commit.

``emit()`` adds a row in the caller's transaction, so nothing is published before commit and
nothing committed is lost. ``carebase.core.worker`` claims the rows (``FOR UPDATE SKIP LOCKED``) and
runs their handlers.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import orjson
from sqlalchemy import CheckConstraint, Index, SmallInteger, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from carebase.core.db import Base, IdMixin, TenantMixin
from carebase.core.ids import new_id


class OutboxEvent(IdMixin, TenantMixin, Base):
    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'running', 'done', 'dead', 'discarded')", name="status"),
        Index("ix_outbox_pending", "available_at", postgresql_where=text("status = 'pending'")),
        # The worker takes over claims whose lease ran out; the dead-letter screen lists dead events.
        Index("ix_outbox_running", "leased_until", postgresql_where=text("status = 'running'")),
        Index("ix_outbox_dead", "tenant_id", "created_at", postgresql_where=text("status = 'dead'")),
        Index(
            "uq_outbox_dedupe", "tenant_id", "dedupe_key", unique=True, postgresql_where=text("dedupe_key IS NOT NULL")
        ),
    )

    topic: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), server_default="pending")  # 'discarded': a dead letter dropped
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    available_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    leased_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(2000))


class Message(NamedTuple):
    topic: str
    payload: dict[str, Any]
    dedupe_key: str | None = None


_FROM_U = "u.topic, u.payload, u.key"
_NOTIFY = "SELECT count(pg_notify('carebase_outbox', e.topic)) FROM e"


def emit_sql(first: int = 1, *, also: str = "") -> str:
    """One statement for any number of events, its five parameters (``emit_args``) numbered from ``first``.
    ``also`` is another data-modifying CTE (``"name AS (...), "``) to run in the same round trip. The
    NOTIFY is delivered only when (and if) the transaction commits."""
    t, ids, topics, payloads, keys = (f"${first + i}" for i in range(5))
    rows = f"unnest({ids}::uuid[], {topics}::text[], {payloads}::jsonb[], {keys}::text[]) AS u(id, topic, payload, key)"
    insert = f"INSERT INTO outbox (id, tenant_id, topic, payload, dedupe_key) SELECT u.id, {t}::uuid, {_FROM_U}"
    return f"WITH {also}e AS ({insert} FROM {rows} RETURNING topic) {_NOTIFY}"  # noqa: S608 (placeholders only)


_EMIT_SQL = emit_sql()


def emit_args(
    tenant_id: uuid.UUID, *messages: Message
) -> tuple[uuid.UUID, list[uuid.UUID], list[str], list[str], list[str | None]]:
    """The parameters of ``emit_sql``; the events' ids are the second."""
    return (
        tenant_id, [new_id() for _ in messages], [m.topic for m in messages],
        [orjson.dumps(m.payload).decode() for m in messages], [m.dedupe_key for m in messages],
    )  # fmt: skip


async def emit_on(conn: asyncpg.Connection, tenant_id: uuid.UUID, *messages: Message) -> list[uuid.UUID]:
    """Record domain events in the connection's current transaction, in one round trip; returns their ids."""
    args = emit_args(tenant_id, *messages)
    await conn.fetchval(_EMIT_SQL, *args)
    return args[1]


async def emit(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    topic: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
) -> uuid.UUID:
    """Record a domain event in the current transaction (e.g. ``membership.invited``); returns its id."""
    args = emit_args(tenant_id, Message(topic, payload, dedupe_key))
    await (await session.connection()).exec_driver_sql(_EMIT_SQL, args)
    return args[1][0]
