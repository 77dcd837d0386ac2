"""On-demand jobs (exports) with visible progress."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carebase.core.db import Base, IdMixin, TenantMixin

KINDS = ("my_appointments_export", "appointments_export")


class Job(IdMixin, TenantMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress"),
        CheckConstraint("kind IN ('my_appointments_export', 'appointments_export')", name="kind"),
        Index("ix_jobs_requester", "tenant_id", "requested_by_user_id", "created_at"),
    )

    kind: Mapped[str] = mapped_column(String(40))
    requested_by_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(10), server_default="queued")
    progress: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    result_path: Mapped[str | None] = mapped_column(String(300))
    rows: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    finished_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
