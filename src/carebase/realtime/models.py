"""The catch-up log: every event published to a live topic, kept for a retention window so that a
client that reconnects with its last event id receives what it missed, in order."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carebase.core.db import Base, IdMixin


class RealtimeEvent(IdMixin, Base):
    __tablename__ = "realtime_events"
    __table_args__ = (
        # A retried outbox event publishes the same rows again instead of new ones.
        Index("uq_realtime_events_source_topic", "source_event_id", "topic", unique=True),
        Index("ix_realtime_events_topic_seq", "tenant_id", "topic", "seq"),
        Index("ix_realtime_events_created_at", "created_at"),
    )

    # Delivery order (internal; clients see the UUID ``id``).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(80))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    source_event_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
