"""Stored responses for ``Idempotency-Key`` requests, per tenant and key, kept 24 hours."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, LargeBinary, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from carebase.core.db import Base, IdMixin, TenantMixin


class IdempotencyRecord(IdMixin, TenantMixin, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("uq_idempotency_keys_tenant_key", "tenant_id", "user_id", "key", unique=True),)

    user_id: Mapped[uuid.UUID] = mapped_column()
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(SmallInteger)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    expires_at: Mapped[datetime] = mapped_column()
