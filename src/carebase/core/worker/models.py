"""Delivery records: one row per (event, handler) that has run, written in the handler's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, text
from sqlalchemy.orm import Mapped, mapped_column

from carebase.core.db import Base


class OutboxDelivery(Base):
    __tablename__ = "outbox_deliveries"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    handler_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    delivered_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
