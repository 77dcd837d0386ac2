"""Tenants (organisations), their locations and departments."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carebase.core.db import Base, IdMixin, TenantMixin, TimestampMixin

# The platform itself is a tenant: platform admins hold memberships in it and platform-level
# audit events chain under it. Its id is fixed so that every install agrees on it.
PLATFORM_TENANT_ID = uuid.UUID("00000000-0000-7000-8000-000000000000")


class Organization(IdMixin, TimestampMixin, Base):
    """A tenant. Not tenant-owned itself; RLS lets a session see its own row (or all, as platform admin)."""

    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint("kind IN ('platform', 'hospital', 'clinic')", name="kind"),
        CheckConstraint("status IN ('active', 'suspended')", name="status"),
    )

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    country: Mapped[str] = mapped_column(String(2), server_default="IN")
    currency: Mapped[str] = mapped_column(String(3), server_default="INR")
    timezone: Mapped[str] = mapped_column(String(64), server_default="Asia/Kolkata")
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class Location(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "locations"
    __table_args__ = (
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude"),
        CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude"),
    )

    name: Mapped[str] = mapped_column(String(200))
    address_line: Mapped[str] = mapped_column(String(300), server_default="")
    city: Mapped[str] = mapped_column(String(120), server_default="")
    postal_code: Mapped[str] = mapped_column(String(20), server_default="")
    country: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    phone: Mapped[str | None] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))


class Department(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "departments"

    name: Mapped[str] = mapped_column(String(200))
    location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("locations.id"))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
