"""Patients, registered per tenant and linked to a user for the portal."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import CheckConstraint, Computed, ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from carebase.core.db import Base, IdMixin, TenantMixin, TimestampMixin


class Patient(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "patients"
    __table_args__ = (
        CheckConstraint("sex IN ('female', 'male', 'other', 'unknown')", name="sex"),
        Index("uq_patients_tenant_mrn", "tenant_id", "mrn", unique=True),
        Index("ix_patients_search", "search", postgresql_using="gin"),
    )

    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    mrn: Mapped[str] = mapped_column(String(32))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date | None] = mapped_column()
    sex: Mapped[str] = mapped_column(String(8), server_default="unknown")
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    search: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed(
            "to_tsvector('simple', coalesce(given_name, '') || ' ' || coalesce(family_name, '') || ' ' || mrn)",
            persisted=True,
        ),
    )
