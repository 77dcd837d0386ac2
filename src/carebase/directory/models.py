"""Directory: specialties (platform-wide), practitioner profiles, services, and the public listing."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from carebase.core.db import Base, IdMixin, TenantMixin, TimestampMixin


class Specialty(IdMixin, Base):
    """Platform-wide list (cardiology, dermatology, ...); not tenant-owned."""

    __tablename__ = "specialties"

    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # Conditions and words patients search with ("acne", "heart", "child fever").
    keywords: Mapped[str] = mapped_column(Text, server_default="")


class Practitioner(IdMixin, TenantMixin, TimestampMixin, Base):
    """A bookable clinician's profile in one tenant, tied to their staff membership."""

    __tablename__ = "practitioners"
    __table_args__ = (Index("uq_practitioners_membership", "tenant_id", "membership_id", unique=True),)

    membership_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("memberships.id"))
    display_name: Mapped[str] = mapped_column(String(200))
    qualifications: Mapped[str] = mapped_column(String(300), server_default="")
    bio: Mapped[str] = mapped_column(Text, server_default="")
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(8)), server_default=text("'{en}'"))
    photo_url: Mapped[str | None] = mapped_column(String(500))
    # When on, new bookings wait in "requested" until the practitioner approves them.
    approves_bookings: Mapped[bool] = mapped_column(server_default=text("false"))
    is_published: Mapped[bool] = mapped_column(server_default=text("true"))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    # The practitioner's private iCalendar feed; a random token, rotatable.
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True)


class PractitionerSpecialty(TenantMixin, Base):
    __tablename__ = "practitioner_specialties"

    practitioner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), primary_key=True
    )
    specialty_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("specialties.id"), primary_key=True)


class Service(IdMixin, TenantMixin, TimestampMixin, Base):
    """Something bookable: a consultation type with duration, price and mode."""

    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint("mode IN ('in_person', 'video')", name="mode"),
        CheckConstraint("payment IN ('at_desk', 'online')", name="payment"),
        CheckConstraint("duration_minutes BETWEEN 5 AND 480", name="duration"),
        CheckConstraint("price_minor >= 0", name="price"),
    )

    name: Mapped[str] = mapped_column(String(200))
    specialty_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("specialties.id"))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    price_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    mode: Mapped[str] = mapped_column(String(10))
    payment: Mapped[str] = mapped_column(String(10), server_default="at_desk")
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))


class PractitionerService(TenantMixin, Base):
    __tablename__ = "practitioner_services"

    practitioner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)


class Listing(Base):
    """The public face of a published practitioner at one location: what marketplace search reads.

    Public by design (tenants publish it), so not tenant-isolated; rebuilt by the directory
    service in the same transaction as any change to what it shows, and its next free slot is
    refreshed after bookings and schedule changes."""

    __tablename__ = "directory_listings"
    __table_args__ = (
        Index("ix_directory_listings_search", "search", postgresql_using="gin"),
        Index("ix_directory_listings_name_trgm", "practitioner_name", postgresql_using="gin",
              postgresql_ops={"practitioner_name": "gin_trgm_ops"}),
        Index("ix_directory_listings_specialties", "specialty_codes", postgresql_using="gin"),
        Index("ix_directory_listings_geo", "latitude", "longitude"),
        Index("ix_directory_listings_next_free", "next_free_at"),
        Index("ix_directory_listings_city", text("lower(city)")),
    )  # fmt: skip

    practitioner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    location_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    tenant_name: Mapped[str] = mapped_column(String(200))
    practitioner_name: Mapped[str] = mapped_column(String(200))
    qualifications: Mapped[str] = mapped_column(String(300), server_default="")
    photo_url: Mapped[str | None] = mapped_column(String(500))
    specialty_codes: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    specialty_names: Mapped[list[str]] = mapped_column(ARRAY(String(120)))
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(8)))
    modes: Mapped[list[str]] = mapped_column(ARRAY(String(10)))
    min_price_minor: Mapped[int | None] = mapped_column(Integer)
    max_price_minor: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    location_name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    next_free_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    search: Mapped[str] = mapped_column(TSVECTOR)
