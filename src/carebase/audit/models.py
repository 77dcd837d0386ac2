"""Append-only audit log, hash-chained per tenant."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carebase.core.db import Base, IdMixin, TenantLedMixin, TenantMixin


class AuditEvent(IdMixin, TenantLedMixin, Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint("outcome IN ('success', 'failure', 'denied')", name="outcome"),
        Index("uq_audit_events_tenant_seq", "tenant_id", "seq", unique=True),
        Index("ix_audit_events_tenant_time", "tenant_id", "occurred_at"),
        Index(
            "ix_audit_events_tenant_patient", "tenant_id", "patient_id", postgresql_where=text("patient_id IS NOT NULL")
        ),
    )

    seq: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column()
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_role: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(10))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64))
    patient_id: Mapped[uuid.UUID | None] = mapped_column()
    ip: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(TenantMixin, Base):
    """The last link of each tenant's chain: serialises appends and reveals a truncated tail."""

    __tablename__ = "audit_heads"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditPending(Base):
    """Audit events waiting for their link into the tenant's chain. An ``INSERT`` here is all a command
    does. By default a deferred trigger (migration 0010) links the row while the transaction commits and
    deletes it. The one-statement hot paths (booking) set ``link_at_commit`` false: their rows are linked
    just after the commit, many under one lock (``app_audit_link_pending``, ``audit.linker``), so a
    tenant's commits do not queue for the chain's head. Logged (such a row outlives its transaction), no
    foreign keys (nothing to check or lock)."""

    __tablename__ = "audit_pending"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column()
    event: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The event's canonical JSON around its seq (``audit.service.pending_args``).
    prefix: Mapped[bytes] = mapped_column(LargeBinary)
    suffix: Mapped[bytes] = mapped_column(LargeBinary)
    link_at_commit: Mapped[bool] = mapped_column(server_default=text("true"))
