"""Waitlist: patients wait for a practitioner within a date range; when a slot frees up, the first
matching waiter gets a hold and an offer with a deadline; when the offer lapses, the next one does."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from carebase.core.outbox import emit
from carebase.identity.principal import Principal
from carebase.identity.roles import Role
from carebase.scheduling.dependents import can_book_for
from carebase.scheduling.holds import event_payload, insert_exclusive
from carebase.scheduling.models import Appointment, WaitlistEntry
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.tenancy.models import Location

OFFER_MINUTES = 30
MAX_RANGE_DAYS = 90


def _actor(principal: Principal | None) -> audit.Actor | None:
    return audit.Actor(principal.user_id, principal.role) if principal else None


async def join(
    session: AsyncSession,
    principal: Principal,
    *,
    patient_id: uuid.UUID,
    practitioner_id: uuid.UUID,
    service_id: uuid.UUID,
    earliest: date,
    latest: date,
) -> WaitlistEntry:
    if latest < earliest:
        raise ValidationFailed.field("latest_date", "The end of the range is before its start.")
    if earliest < utcnow().date() - timedelta(days=1):
        raise ValidationFailed.field("earliest_date", "The range is in the past.")
    if (latest - earliest).days > MAX_RANGE_DAYS:
        raise ValidationFailed.field("latest_date", f"Wait for at most {MAX_RANGE_DAYS} days at a time.")
    if principal.role is Role.PATIENT and not await can_book_for(session, principal, patient_id):
        raise PermissionDenied("You can wait only for yourself and the family members linked to your account.")
    duplicate = (
        await session.execute(
            select(WaitlistEntry.id).where(
                WaitlistEntry.patient_id == patient_id, WaitlistEntry.practitioner_id == practitioner_id,
                WaitlistEntry.status.in_(("waiting", "offered")),
            )
        )
    ).first()  # fmt: skip
    if duplicate:
        raise Conflict("This patient is already waiting for this practitioner.")
    entry = WaitlistEntry(
        tenant_id=principal.tenant_id, patient_id=patient_id, practitioner_id=practitioner_id,
        service_id=service_id, requested_by_user_id=principal.user_id, earliest_date=earliest, latest_date=latest,
    )  # fmt: skip
    session.add(entry)
    await session.flush()
    await audit.record(
        session, principal.tenant_id, "scheduling.waitlist.joined", actor=_actor(principal),
        target_type="waitlist_entry", target_id=entry.id, patient_id=patient_id,
    )  # fmt: skip
    return entry


async def leave(session: AsyncSession, principal: Principal, entry_id: uuid.UUID) -> WaitlistEntry:
    entry = await session.get(WaitlistEntry, entry_id)
    if (
        entry is None
        or (principal.role is Role.PATIENT and entry.requested_by_user_id != principal.user_id)
        or (principal.role is not Role.PATIENT and not principal.can(P.WAITLIST_MANAGE))
    ):
        raise NotFound("No such waitlist entry.")
    if entry.status not in ("waiting", "offered"):
        raise Conflict(f"This entry is already {entry.status}.")
    entry.status = "cancelled"
    await audit.record(
        session, principal.tenant_id, "scheduling.waitlist.left", actor=_actor(principal),
        target_type="waitlist_entry", target_id=entry.id, patient_id=entry.patient_id,
    )  # fmt: skip
    return entry


async def offer_freed_slot(
    session: AsyncSession, principal: Principal | None, freed: Appointment
) -> Appointment | None:
    """Offer the time ``freed`` gave back to the first matching waiter: a hold in their name that
    lasts ``OFFER_MINUTES``. Returns the hold, or None if nobody waits for it."""
    location = await session.get(Location, freed.location_id)
    local_day = freed.starts_at.astimezone(ZoneInfo(location.timezone if location else "UTC")).date()
    entry = (
        await session.execute(
            select(WaitlistEntry)
            .where(
                WaitlistEntry.practitioner_id == freed.practitioner_id, WaitlistEntry.status == "waiting",
                WaitlistEntry.earliest_date <= local_day, WaitlistEntry.latest_date >= local_day,
            )
            .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).scalar_one_or_none()  # fmt: skip
    if entry is None or freed.starts_at <= utcnow():
        return None
    expires = utcnow() + timedelta(minutes=OFFER_MINUTES)
    hold = Appointment(
        tenant_id=freed.tenant_id, practitioner_id=freed.practitioner_id, patient_id=entry.patient_id,
        service_id=freed.service_id, location_id=freed.location_id, starts_at=freed.starts_at,
        ends_at=freed.ends_at, status="held", hold_expires_at=expires, source="waitlist",
        booked_by_user_id=entry.requested_by_user_id, mode=freed.mode, price_minor=freed.price_minor,
        currency=freed.currency, payment_status=freed.payment_status,
    )  # fmt: skip
    try:
        await insert_exclusive(session, hold)
    except Conflict:
        return None  # someone took the time in the meantime
    entry.status = "offered"
    entry.offered_appointment_id = hold.id
    entry.offer_expires_at = expires
    await audit.record(
        session, freed.tenant_id, "scheduling.waitlist.offered", actor=_actor(principal),
        target_type="waitlist_entry", target_id=entry.id, patient_id=entry.patient_id,
    )  # fmt: skip
    await emit(
        session, freed.tenant_id, "waitlist.offered",
        event_payload(hold) | {"waitlist_entry_id": str(entry.id), "offer_expires_at": expires.isoformat(),
                               "user_id": str(entry.requested_by_user_id)},
    )  # fmt: skip
    return hold


async def settle_offers(session: AsyncSession) -> int:
    """Close offers: booked ones become ``booked``; lapsed ones expire and their slot goes to the
    next waiter. Run by the worker's cron schedule (``jobs.scheduled``) (and callable any time; it is idempotent)."""
    now = utcnow()
    rows = (
        await session.execute(
            select(WaitlistEntry, Appointment)
            .join(Appointment, Appointment.id == WaitlistEntry.offered_appointment_id)
            .where(WaitlistEntry.status == "offered")
            .with_for_update(of=WaitlistEntry, skip_locked=True)
        )
    ).all()
    handled = 0
    for entry, hold in rows:
        if hold.status in ("requested", "confirmed", "checked_in", "in_consultation", "completed"):
            entry.status = "booked"
        elif hold.status == "held" and entry.offer_expires_at and entry.offer_expires_at > now:
            continue
        else:
            entry.status = "expired"
            if hold.status == "held":
                hold.status = "expired"
            await session.flush()
            await offer_freed_slot(session, None, hold)
        handled += 1
    return handled
