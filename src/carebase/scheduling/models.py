"""Scheduling: weekly templates, exceptions, holidays, appointments (and holds), waitlist, dependents.

Free slots are not stored: they are computed from templates minus exceptions, holidays,
appointments and holds (see ``scheduling.availability``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, SmallInteger, String, Text, Time, text
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carebase.core.db import Base, IdMixin, TenantLedMixin, TenantMixin, TimestampMixin

ACTIVE_STATUSES = ("held", "requested", "confirmed", "checked_in", "in_consultation")
FINAL_STATUSES = ("completed", "cancelled", "no_show", "expired", "rescheduled")
_MINUTES_RANGE = "int4range((extract(epoch FROM start_time) / 60)::int, (extract(epoch FROM end_time) / 60)::int)"
_ACTIVE_SQL = "status IN ('held', 'requested', 'confirmed', 'checked_in', 'in_consultation')"


class ScheduleTemplate(IdMixin, TenantMixin, TimestampMixin, Base):
    """One weekly working session (e.g. Mondays 09:00-13:00 at a location), in the location's
    local time, valid over a date range. Several per day make breaks."""

    __tablename__ = "schedule_templates"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("end_time > start_time", name="times"),
        CheckConstraint("valid_until IS NULL OR valid_until >= valid_from", name="dates"),
        CheckConstraint("slot_minutes BETWEEN 5 AND 240", name="slot"),
        # Two sessions of one practitioner never overlap on the same weekday and dates.
        ExcludeConstraint(
            ("practitioner_id", "="),
            ("weekday", "="),
            (text(_MINUTES_RANGE), "&&"),
            (text("daterange(valid_from, valid_until, '[]')"), "&&"),
            name="no_overlap",
            using="gist",
            where=text("is_active"),
        ),
    )  # fmt: skip

    practitioner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practitioners.id"), index=True)
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    weekday: Mapped[int] = mapped_column(SmallInteger)  # 0 = Monday
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    slot_minutes: Mapped[int] = mapped_column(SmallInteger, server_default="15")
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))


class ScheduleException(IdMixin, TenantMixin, TimestampMixin, Base):
    """Time off (removes time) or an extra session (adds time), as an absolute interval."""

    __tablename__ = "schedule_exceptions"
    __table_args__ = (
        CheckConstraint("kind IN ('time_off', 'extra')", name="kind"),
        CheckConstraint("ends_at > starts_at", name="times"),
        Index("ix_schedule_exceptions_lookup", "practitioner_id", "starts_at"),
    )

    practitioner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practitioners.id"))
    location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("locations.id"))
    kind: Mapped[str] = mapped_column(String(10))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    slot_minutes: Mapped[int] = mapped_column(SmallInteger, server_default="15")
    reason: Mapped[str] = mapped_column(String(200), server_default="")


class Holiday(IdMixin, TenantMixin, Base):
    """A day the tenant (or one location) is closed."""

    __tablename__ = "holidays"
    __table_args__ = (Index("uq_holidays_day", "tenant_id", "day", "location_id", unique=True),)

    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200))
    location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("locations.id"))


class Appointment(IdMixin, TenantLedMixin, TimestampMixin, Base):
    """A booked visit, or a hold on its slot while the patient confirms."""

    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint(
            "status IN ('held', 'requested', 'confirmed', 'checked_in', 'in_consultation', 'completed',"
            " 'cancelled', 'no_show', 'expired', 'rescheduled')",
            name="status",
        ),
        CheckConstraint("ends_at > starts_at", name="times"),
        CheckConstraint("source IN ('patient', 'front_desk', 'phone', 'walk_in', 'waitlist')", name="source"),
        CheckConstraint("payment_status IN ('at_desk', 'pending', 'paid', 'not_required')", name="payment"),
        # The database guarantees no double booking: active appointments and holds of one
        # practitioner never overlap.
        ExcludeConstraint(
            ("practitioner_id", "="),
            (text("tstzrange(starts_at, ends_at)"), "&&"),
            name="no_double_booking",
            using="gist",
            where=text(_ACTIVE_SQL),
        ),
        Index("ix_appointments_practitioner_time", "practitioner_id", "starts_at"),
        Index("ix_appointments_patient", "tenant_id", "patient_id", "starts_at"),
        Index("ix_appointments_location_day", "tenant_id", "location_id", "starts_at"),
        Index("ix_appointments_holds", "booked_by_user_id", postgresql_where=text("status = 'held'")),
    )

    practitioner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practitioners.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    hold_expires_at: Mapped[datetime | None] = mapped_column()
    source: Mapped[str] = mapped_column(String(12))
    booked_by_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    mode: Mapped[str] = mapped_column(String(10))
    price_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    payment_status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(String(500), server_default="")
    cancelled_by_user_id: Mapped[uuid.UUID | None] = mapped_column()
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    rescheduled_to_id: Mapped[uuid.UUID | None] = mapped_column()
    rescheduled_from_id: Mapped[uuid.UUID | None] = mapped_column()
    checked_in_at: Mapped[datetime | None] = mapped_column()
    # Optimistic concurrency for status changes.
    version: Mapped[int] = mapped_column(Integer, server_default="1")


class WaitlistEntry(IdMixin, TenantMixin, TimestampMixin, Base):
    """A patient waiting for a freed slot with a practitioner within a date range."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint("status IN ('waiting', 'offered', 'booked', 'expired', 'cancelled')", name="status"),
        CheckConstraint("latest_date >= earliest_date", name="dates"),
        Index("ix_waitlist_queue", "practitioner_id", "status", "created_at"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    practitioner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practitioners.id"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    requested_by_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    earliest_date: Mapped[date] = mapped_column(Date)
    latest_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), server_default="waiting")
    offered_appointment_id: Mapped[uuid.UUID | None] = mapped_column()
    offer_expires_at: Mapped[datetime | None] = mapped_column()


class Dependent(IdMixin, TenantMixin, TimestampMixin, Base):
    """A patient whose care a user manages (child, parent), with the consent recorded."""

    __tablename__ = "dependents"
    __table_args__ = (
        Index("uq_dependents_pair", "tenant_id", "guardian_user_id", "patient_id", unique=True),
        CheckConstraint("relationship IN ('child', 'parent', 'spouse', 'other')", name="relationship"),
    )

    guardian_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    relationship: Mapped[str] = mapped_column(String(10))
    consent_note: Mapped[str] = mapped_column(Text, server_default="")
