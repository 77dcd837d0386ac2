"""The outbox: domain events written in the business transaction, consumed after commit.

``emit()`` adds a row in the caller's transaction, so nothing is published before commit and
nothing committed is lost. ``carebase.core.worker`` claims the rows (``FOR UPDATE SKIP LOCKED``) and
runs their handlers.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, SmallInteger, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from carebase.core.db import Base, IdMixin, TenantMixin


class OutboxEvent(IdMixin, TenantMixin, Base):
    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'running', 'done', 'dead', 'discarded')", name="status"),
        Index("ix_outbox_pending", "available_at", postgresql_where=text("status = 'pending'")),
        # The worker takes over claims whose lease ran out; the dead-letter screen lists dead events.
        Index("ix_outbox_running", "leased_until", postgresql_where=text("status = 'running'")),
        Index("ix_outbox_dead", "tenant_id", "created_at", postgresql_where=text("status = 'dead'")),
        Index("uq_outbox_dedupe", "tenant_id", "dedupe_key", unique=True,
              postgresql_where=text("dedupe_key IS NOT NULL")),
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


async def emit(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    topic: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
) -> OutboxEvent:
    """Record a domain event in the current transaction (e.g. ``membership.invited``)."""
    event = OutboxEvent(tenant_id=tenant_id, topic=topic, payload=payload, dedupe_key=dedupe_key)
    session.add(event)
    await session.flush()
    # Delivered to listening workers only when (and if) the transaction commits.
    await session.execute(text("SELECT pg_notify('carebase_outbox', :topic)"), {"topic": topic})
    return event
